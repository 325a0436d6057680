"""``on_error`` at run time: a send or call that fails for good goes to its on_error step,
which reads the failure as ``error`` ({step, code, message}); without on_error nothing
changes (a failed call fails the run, a failed send goes on).

The failures are real: a helpdesk on loopback answering 400, a port nobody listens on,
a template whose link would run script.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from dsl.compiled import CompiledJourney
from dsl.loader import load_file
from tests.conftest import JOURNEYS
from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import JourneyWorkflow, workflow_id_for
from workflows.models import CustomerEvent, JourneyRunInput, RunStatus

pytestmark = pytest.mark.asyncio(loop_scope="session")

# A call whose branch reads `error`: null after a call that worked, the failure after one
# that failed (the branch is on both paths, so `error` and `ticket` are only sometimes
# set there: warnings, not errors).
FALLBACK = """\
journey: call-fallback
name: Call fallback
trigger: { event: help.requested }
steps:
  - id: open
    call: webhook.post
    with:
      url: "{{ event.properties.url }}"
      body: { subject: "help for {{ customer.id }}" }
    save_as: ticket
    on_error: check
  - id: check
    branch:
      - when: error == null
        next: thanks
      - else: note
  - id: thanks
    update_profile: { set: { ticket_id: "{{ ticket.id }}" } }
    next: done
  - id: note
    update_profile:
      set:
        failed_step: "{{ error.step }}"
        failed_code: "{{ error.code }}"
        failed_message: "{{ error.message }}"
  - id: done
    exit: {}
"""

LINK_MAIL = """\
journey: link-fallback
name: Link fallback
trigger: { event: link.requested }
steps:
  - id: mail
    send: { channel: email, template: link }
    next: done
    on_error: note
  - id: note
    update_profile:
      set: { mail_error: "{{ error.step }}/{{ error.code }}", mail_reason: "{{ error.message }}" }
  - id: plain
    send: { channel: email, body: "Your link could not be sent as HTML; ask us for it." }
  - id: done
    exit: {}
"""

LINK_TEMPLATE = """\
subject: Your link
body: "Open {{ event.properties.url }}"
html: '<p><a href="{{ event.properties.url }}">Open</a></p>'
"""

HELPDESK = "https://helpdesk.example.com/api/tickets"
NPS = "post-purchase-nps"


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/tickets"


async def help_requested(engine: Engine, customer: str, url: str) -> str:
    engine.deploy(compiled_text(FALLBACK))
    engine.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
    await engine.send(customer, "help.requested", url=url)
    return workflow_id_for("call-fallback", customer)


async def test_a_call_that_works_leaves_error_null(engine: Engine) -> None:
    customer = f"fine-{uuid.uuid4()}"
    workflow_id = await help_requested(engine, customer, engine.receiver.url("/api/tickets"))
    outcome = await engine.outcome(workflow_id)
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None
    assert profile.traits["ticket_id"].startswith("msg-")
    assert "failed_code" not in profile.traits
    status = await engine.client.get_workflow_handle(workflow_id).query(
        "status", result_type=RunStatus
    )
    assert status.error is None


async def test_a_refused_call_goes_to_on_error_with_the_error(engine: Engine) -> None:
    customer = f"refused-{uuid.uuid4()}"
    engine.receiver.fail_next(400, body='{"error": "unknown queue"}')
    workflow_id = await help_requested(engine, customer, engine.receiver.url("/api/tickets"))
    outcome = await engine.outcome(workflow_id)
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None
    assert (profile.traits["failed_step"], profile.traits["failed_code"]) == (
        "open",
        "connector_permanent",
    )
    message = profile.traits["failed_message"]
    assert message.startswith("webhook.post: webhook: HTTP 400, the provider rejected")
    assert "unknown queue" in message  # the operator's explanation is kept
    assert "ticket_id" not in profile.traits
    [attempt] = [r for r in engine.receiver.requests if r.path == "/api/tickets"]
    assert attempt.json() == {"subject": f"help for {customer}"}
    [logged] = engine.store.messages_for(customer_id=customer)
    assert logged.status == "failed"


async def test_a_call_that_stays_unreachable_goes_to_on_error_when_the_retries_run_out(
    engine: Engine,
) -> None:
    customer = f"unreachable-{uuid.uuid4()}"
    started = time.monotonic()
    workflow_id = await help_requested(engine, customer, closed_port_url())
    outcome = await engine.outcome(workflow_id)
    assert time.monotonic() - started < 60  # the server skips the ~15 minutes of backoff
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None
    assert profile.traits["failed_code"] == "connector_unavailable"
    assert profile.traits["failed_message"].startswith(
        "still failing when the retries ran out: webhook: could not reach 127.0.0.1"
    )


async def test_without_on_error_a_failed_call_still_fails_the_run(engine: Engine) -> None:
    text = FALLBACK.replace("    on_error: check\n", "").replace(
        "journey: call-fallback", "journey: call-no-fallback"
    )
    text = text.replace("      - when: error == null\n", "      - when: ticket.id != ''\n")
    text = text.replace(
        '        failed_step: "{{ error.step }}"\n        failed_code: "{{ error.code }}"\n'
        '        failed_message: "{{ error.message }}"\n',
        "        failed: true\n",
    )
    engine.deploy(compiled_text(text))
    customer = f"no-fallback-{uuid.uuid4()}"
    engine.receiver.fail_next(400)
    await engine.send(customer, "help.requested", url=engine.receiver.url("/api/tickets"))
    outcome = await engine.outcome(workflow_id_for("call-no-fallback", customer))
    assert (outcome.status, outcome.last_step) == ("failed", "open")
    assert outcome.reason == "step open: webhook.post failed"


def link_mail(tmp_path: Path) -> CompiledJourney:
    """LINK_MAIL with its template (HTML is written in templates only)."""
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "link.yaml").write_text(LINK_TEMPLATE, encoding="utf-8")
    (tmp_path / "link-fallback.yaml").write_text(LINK_MAIL, encoding="utf-8")
    loaded = load_file(tmp_path / "link-fallback.yaml")
    assert loaded.compiled is not None, [d.render() for d in loaded.diagnostics]
    return loaded.compiled


async def test_a_send_refused_for_an_unsafe_link_goes_to_on_error(
    engine: Engine, tmp_path: Path
) -> None:
    engine.deploy(link_mail(tmp_path))
    customer = f"mallory-{uuid.uuid4()}"
    engine.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
    await engine.send(customer, "link.requested", url="javascript:fetch('//evil')")
    outcome = await engine.outcome(workflow_id_for("link-fallback", customer))
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None
    assert profile.traits["mail_error"] == "mail/template_failed"
    assert "javascript: URL in <a href>" in profile.traits["mail_reason"]
    sent = [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == customer]
    assert [m["step_id"] for m in sent] == ["plain"]
    statuses = {m.step_id: m.status for m in engine.store.messages_for(customer_id=customer)}
    assert statuses == {"mail": "failed", "plain": "sent"}


async def test_a_send_that_works_goes_to_next(engine: Engine, tmp_path: Path) -> None:
    engine.deploy(link_mail(tmp_path))
    customer = f"ok-link-{uuid.uuid4()}"
    engine.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
    await engine.send(customer, "link.requested", url="https://shop.example.com/x")
    outcome = await engine.outcome(workflow_id_for("link-fallback", customer))
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None and "mail_error" not in profile.traits
    sent = [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == customer]
    assert [m["step_id"] for m in sent] == ["mail"]


# -- continue-as-new ---------------------------------------------------------------------

PAUSES = """\
journey: error-survives
name: Error survives continue-as-new
trigger: { event: help.requested }
steps:
  - id: open
    call: webhook.post
    with: { url: "{{ event.properties.url }}" }
    next: done
    on_error: pause-1
  - id: pause-1
    wait: 1d
  - id: pause-2
    wait: 1d
  - id: pause-3
    wait: 1d
  - id: pause-4
    wait: 1d
  - id: report
    update_profile: { set: { reported: "{{ error.step }}: {{ error.code }}" } }
  - id: done
    exit: {}
"""


async def test_error_is_carried_across_continue_as_new(engine: Engine) -> None:
    journey = engine.deploy(compiled_text(PAUSES))
    customer = f"carried-{uuid.uuid4()}"
    workflow_id = workflow_id_for("error-survives", customer)
    engine.receiver.fail_next(422)
    trigger = CustomerEvent(
        message_id=str(uuid.uuid4()),
        customer_id=customer,
        name="help.requested",
        properties={"url": engine.receiver.url("/api/tickets")},
        timestamp=engine.now(),
    )
    await engine.client.start_workflow(
        JourneyWorkflow.run,
        JourneyRunInput(journey=journey, customer_id=customer, trigger=trigger, history_limit=25),
        id=workflow_id,
        task_queue=engine.task_queue,
    )
    outcome = await engine.outcome(workflow_id)
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None and profile.traits["reported"] == "open: connector_permanent"
    [run] = engine.store.get_runs(customer_id=customer)
    first = await engine.client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
    assert first.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


# -- the shipped NPS journey ----------------------------------------------------------------


def nps_with_helpdesk(tmp_path: Path, helpdesk: str) -> CompiledJourney:
    """The shipped journey, its ticket endpoint pointed at ``helpdesk``."""
    folder = tmp_path / "journeys"
    shutil.copytree(JOURNEYS / "templates", folder / "templates")
    text = (JOURNEYS / f"{NPS}.yaml").read_text()
    assert HELPDESK in text
    (folder / f"{NPS}.yaml").write_text(text.replace(HELPDESK, helpdesk))
    result = load_file(folder / f"{NPS}.yaml")
    assert result.compiled is not None, [d.render() for d in result.diagnostics]
    return result.compiled


async def answered(engine: Engine, customer: str, score: int) -> None:
    """Skip the days until the run waits for the answer, then answer."""
    handle = engine.client.get_workflow_handle(workflow_id_for(NPS, customer))
    for _ in range(60):
        status = await handle.query("status", result_type=RunStatus)
        if status.waiting_for == "survey.responded":
            break
        await engine.env.sleep(timedelta(hours=4))
    else:
        raise AssertionError("the run never waited for survey.responded")
    await engine.send(customer, "survey.responded", survey="nps", kind="nps", score=score)


async def test_nps_detractor_whose_ticket_is_refused_gets_the_apology_without_a_ticket(
    engine: Engine, tmp_path: Path
) -> None:
    engine.deploy(nps_with_helpdesk(tmp_path, engine.receiver.url("/api/tickets")))
    customer = f"detractor-{uuid.uuid4()}"
    engine.store.upsert_customer(
        customer, {"email": f"{customer}@example.com", "first_name": "Ada"}
    )
    engine.receiver.fail_next(400, body="requester_email is not a customer of ours")
    await engine.send(customer, "order.completed", order_id="3003", total=120.0)
    await answered(engine, customer, 2)
    outcome = await asyncio.wait_for(engine.outcome(workflow_id_for(NPS, customer)), 60)
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None
    assert profile.traits["nps_follow_up_owed"] is True
    assert profile.traits["nps_ticket_error"].startswith(
        "connector_permanent: webhook.post: webhook: HTTP 400"
    )
    sent = [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == customer]
    assert [m["step_id"] for m in sent] == ["nps-survey", "apology-no-ticket"]
    [apology] = [m for m in sent if m["step_id"] == "apology-no-ticket"]
    assert "we're sorry" in str(apology["subject"])
    assert "order 3003" in str(apology["body"])
    assert len([r for r in engine.receiver.requests if r.path == "/api/tickets"]) == 1


async def test_a_call_the_outbound_guard_refuses_goes_to_on_error(engine: Engine) -> None:
    """The cloud's metadata address is never called from a journey: a permanent refusal."""
    customer = f"metadata-{uuid.uuid4()}"
    url = "http://169.254.169.254/latest/meta-data/"
    workflow_id = await help_requested(engine, customer, url)
    outcome = await asyncio.wait_for(engine.outcome(workflow_id), 60)
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None
    assert (profile.traits["failed_step"], profile.traits["failed_code"]) == (
        "open",
        "connector_permanent",
    )


async def test_error_message_never_holds_a_secret_setting(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider that echoes a credential back: the message keeps the rest of it."""
    secret = f"whsec-{uuid.uuid4().hex}"
    monkeypatch.setenv("CXFLOW_WEBHOOK_SECRET", secret)
    customer = f"echo-{uuid.uuid4()}"
    engine.receiver.fail_next(401, body=f"signature made with {secret} does not match")
    workflow_id = await help_requested(engine, customer, engine.receiver.url("/api/tickets"))
    outcome = await engine.outcome(workflow_id)
    assert outcome.status == "completed"
    profile = engine.store.get_customer(customer)
    assert profile is not None
    message = profile.traits["failed_message"]
    assert secret not in message
    assert "signature made with <secret> does not match" in message
    [logged] = engine.store.messages_for(customer_id=customer)
    assert secret not in str(logged.detail)
    history = await engine.client.get_workflow_handle(workflow_id).fetch_history()
    assert secret not in history.to_json()
