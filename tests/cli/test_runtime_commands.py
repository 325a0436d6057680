"""`cxflow deploy / journeys / runs / send-event / start / connectors` against a real engine.

The engine is the Temporal dev server and a worker in the test process; the
commands run as a user runs them, in a subprocess, configured by CXFLOW_*.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from connectors.registry import ConnectorRegistry
from engine.composition import Runtime
from engine.settings import Settings
from engine.store import Store
from tests.cli.conftest import CXFLOW

ASYNC = pytest.mark.asyncio(loop_scope="session")
pytestmark = pytest.mark.slow

HELLO = """\
journey: hello
name: Hello
trigger: { event: hello.requested }
exit_when:
  - event: goodbye
steps:
  - id: greet
    send: { channel: email, subject: Hi, body: "Hi {{ customer.id }}" }
  - id: linger
    wait: 1d
"""

ALERT = """\
journey: alert
name: Alert
trigger: { api: {} }
steps:
  - id: ping
    send: { channel: sms, body: "{{ event.properties.text }}" }
"""


@pytest_asyncio.fixture(loop_scope="session")
async def engine_env(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[dict[str, str]]:
    """CXFLOW_* variables of an engine whose worker runs in this process."""
    outbox = tmp_path / "outbox.jsonl"
    env = {
        **os.environ,
        "CXFLOW_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "CXFLOW_TASK_QUEUE": f"cli-{uuid.uuid4()}",
        "CXFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'cxflow.db'}",
        "CXFLOW_CONSOLE_OUTBOX": str(outbox),
    }
    os.environ["CXFLOW_CONSOLE_OUTBOX"] = str(outbox)
    settings = Settings.from_env(env)
    store = Store.open(settings.database_url)
    registry = ConnectorRegistry(entry_points=False)
    worker = Runtime(settings, store, dev_server.client, registry).worker()
    async with worker:
        yield env
    store.dispose()


async def cxflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [str(CXFLOW), *args], capture_output=True, text=True, env=env, timeout=60
    )


def identify(env: dict[str, str], customer: str, traits: dict[str, str]) -> None:
    """Give the customer traits in the engine's store (the CLI has no identify command)."""
    store = Store(env["CXFLOW_DATABASE_URL"])
    try:
        store.upsert_customer(customer, traits)
    finally:
        store.dispose()


async def eventually(condition: object, what: str) -> None:
    for _ in range(100):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(what)


@ASYNC
async def test_deploy_send_event_and_inspect_runs(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    journey = tmp_path / "hello.yaml"
    journey.write_text(HELLO)
    deployed = await cxflow(engine_env, "deploy", str(journey))
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout.startswith("deployed hello v")
    again = await cxflow(engine_env, "deploy", str(journey))
    assert again.stdout.startswith("unchanged hello v")
    listed = await cxflow(engine_env, "journeys", "list")
    assert "hello" in listed.stdout and "event" in listed.stdout

    identify(engine_env, "zoe", {"email": "zoe@example.com"})
    sent = await cxflow(engine_env, "send-event", "--customer", "zoe", "--event", "hello.requested",
                        "--message-id", "m-1")  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert "started journey:hello:zoe" in sent.stdout
    duplicate = await cxflow(engine_env, "send-event", "--customer", "zoe", "--event",
                             "hello.requested", "--message-id", "m-1")  # fmt: skip
    assert "duplicate message id m-1" in duplicate.stdout

    outbox = Path(engine_env["CXFLOW_CONSOLE_OUTBOX"])
    await eventually(lambda: outbox.exists(), "the greeting never reached the outbox")
    shown = await cxflow(engine_env, "runs", "show", "journey:hello:zoe")
    assert shown.returncode == 0, shown.stderr
    assert '"status": "running"' in shown.stdout and "greet: email sent" in shown.stdout
    assert '"step": "linger"' in shown.stdout  # live state from the workflow query

    bye = await cxflow(engine_env, "send-event", "--customer", "zoe", "--event", "goodbye")
    assert "delivered to journey:hello:zoe" in bye.stdout
    store = Store(engine_env["CXFLOW_DATABASE_URL"])
    await eventually(
        lambda: store.get_runs(customer_id="zoe")[0].status == "exited", "the run did not exit"
    )
    runs = await cxflow(engine_env, "runs", "list", "--journey", "hello")
    assert "exited" in runs.stdout
    store.dispose()


@ASYNC
async def test_start_runs_an_api_journey(engine_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "alert.yaml").write_text(ALERT)
    assert (await cxflow(engine_env, "deploy", str(tmp_path / "alert.yaml"))).returncode == 0
    identify(engine_env, "kim", {"phone": "+15550102"})
    started = await cxflow(engine_env, "start", "alert", "--customer", "kim", "--properties",
                           '{"text": "Your order shipped"}')  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert "started journey:alert:kim" in started.stdout
    outbox = Path(engine_env["CXFLOW_CONSOLE_OUTBOX"])
    await eventually(lambda: outbox.exists(), "the alert never reached the outbox")
    assert json.loads(outbox.read_text().splitlines()[-1])["body"] == "Your order shipped"


@ASYNC
async def test_bad_input_and_unreachable_engine_get_messages(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    bad_json = await cxflow(engine_env, "send-event", "--customer", "a", "--event", "e",
                            "--properties", "{oops")  # fmt: skip
    assert bad_json.returncode == 2 and "--properties is not JSON" in bad_json.stderr
    not_api = await cxflow(engine_env, "start", "missing-journey", "--customer", "a")
    assert not_api.returncode == 2 and "is not deployed with an `api: {}` trigger" in not_api.stderr
    offline = {**engine_env, "CXFLOW_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    unreachable = await cxflow(offline, "send-event", "--customer", "a", "--event", "e")
    assert (
        unreachable.returncode == 2 and "cannot reach Temporal at 127.0.0.1:1" in unreachable.stderr
    )
    invalid = tmp_path / "broken.yaml"
    invalid.write_text("journey: b\nname: B\ntrigger: {event: e}\nsteps:\n  - id: a\n    wait: x\n")
    refused = await cxflow(engine_env, "deploy", str(invalid))
    assert refused.returncode == 1 and "nothing was deployed" in refused.stderr
    for result in (bad_json, not_api, unreachable, refused):
        assert "Traceback" not in result.stderr


@ASYNC
async def test_connectors_list_shows_the_builtins(engine_env: dict[str, str]) -> None:
    listed = await cxflow(engine_env, "connectors", "list")
    assert listed.returncode == 0
    assert "console" in listed.stdout and "webhook.post" in listed.stdout


async def gone(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        return error.status == RPCStatusCode.NOT_FOUND
    return False


@ASYNC
async def test_customers_erase_ends_runs_deletes_histories_and_keeps_figures(
    engine_env: dict[str, str], dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    for name, text in (("hello", HELLO), ("alert", ALERT)):
        (tmp_path / f"{name}.yaml").write_text(text)
        assert (await cxflow(engine_env, "deploy", str(tmp_path / f"{name}.yaml"))).returncode == 0
    for customer in ("ada", "bob"):
        sent = await cxflow(engine_env, "send-event", "--customer", customer,
                            "--event", "hello.requested")  # fmt: skip
        assert sent.returncode == 0, sent.stderr
    await cxflow(engine_env, "start", "alert", "--customer", "ada", "--properties", '{"text": "x"}')
    store = Store(engine_env["CXFLOW_DATABASE_URL"])
    try:
        await eventually(
            lambda: [r.status for r in store.get_runs(journey_id="alert")] == ["completed"],
            "the alert run did not complete",
        )
        await eventually(
            lambda: len(store.messages_for(customer_id="ada")) == 2, "ada's messages missing"
        )

        refused = await asyncio.to_thread(
            subprocess.run, [str(CXFLOW), "customers", "erase", "ada"], input="n\n",
            capture_output=True, text=True, env=engine_env, timeout=60,
        )  # fmt: skip
        assert refused.returncode == 1
        assert store.events_for("ada") != []

        erased = await cxflow(engine_env, "customers", "erase", "ada", "--yes")
        assert erased.returncode == 0, erased.stderr
        assert "terminated journey:hello:ada" in erased.stdout
        assert "terminated journey:alert:ada" not in erased.stdout  # it had completed
        assert "deleting 2 workflow histories" in erased.stdout
        assert "erased ada" in erased.stdout

        client = dev_server.client
        for workflow_id in ("journey:hello:ada", "journey:alert:ada"):
            for _ in range(600):  # the server deletes them in the background (~20 s here)
                if await gone(client, workflow_id):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the history of {workflow_id} was not deleted")
        bob = await client.get_workflow_handle("journey:hello:bob").describe()
        assert bob.status == WorkflowExecutionStatus.RUNNING

        assert store.get_customer("ada") is None
        assert store.events_for("ada") == [] and store.get_runs(customer_id="ada") == []
        pseudonyms = {r.customer_id for r in store.get_runs()} - {"bob"}
        assert len(pseudonyms) == 1 and pseudonyms.pop().startswith("erased-")
        assert len(store.get_runs(journey_id="hello")) == 2  # the figures keep ada's run

        again = await cxflow(engine_env, "customers", "erase", "ada", "--yes")
        assert again.returncode == 0, again.stderr
        assert "deleting 0 workflow histories" in again.stdout
    finally:
        store.dispose()


def test_customers_erase_says_when_temporal_is_unreachable(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CXFLOW), "customers", "erase", "ada", "--yes"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "CXFLOW_TEMPORAL_ADDRESS": "127.0.0.1:1",
             "CXFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'cxflow.db'}"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot reach Temporal at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


@ASYNC
async def test_journeys_pause_stop_and_resume(engine_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    assert (await cxflow(engine_env, "deploy", str(tmp_path / "hello.yaml"))).returncode == 0
    identify(engine_env, "una", {"email": "una@example.com"})
    await cxflow(engine_env, "send-event", "--customer", "una", "--event", "hello.requested")
    store = Store(engine_env["CXFLOW_DATABASE_URL"])
    try:
        await eventually(lambda: store.get_runs(customer_id="una"), "the run never started")

        paused = await cxflow(engine_env, "journeys", "pause", "hello")
        assert paused.returncode == 0, paused.stderr
        assert "hello paused: new entries are refused" in paused.stdout
        assert "1 runs in flight" in paused.stdout
        wide = {**engine_env, "COLUMNS": "200"}
        assert "paused by cli at" in (await cxflow(wide, "journeys", "list")).stdout
        refused = await cxflow(engine_env, "send-event", "--customer", "vic", "--event",
                               "hello.requested")  # fmt: skip
        assert "hello: not entered (journey paused by cli" in refused.stdout

        stopped = await cxflow(engine_env, "journeys", "stop", "hello")
        assert stopped.returncode == 0, stopped.stderr
        assert "1 runs in flight, 1 signalled" in stopped.stdout
        await eventually(
            lambda: store.get_runs(customer_id="una")[0].exit_reason == "stopped",
            "the run was not stopped",
        )
        assert store.get_runs(customer_id="una")[0].status == "exited"

        resumed = await cxflow(engine_env, "journeys", "resume", "hello")
        assert resumed.returncode == 0 and "hello active" in resumed.stdout
        assert "active" in (await cxflow(wide, "journeys", "list")).stdout
        actions = [(a.actor, a.action) for a in store.users.audit_log()]
        assert actions == [
            ("cli", "journey.resume"),
            ("cli", "journey.stop"),
            ("cli", "journey.pause"),
        ]
    finally:
        store.dispose()
    unknown = await cxflow(engine_env, "journeys", "pause", "nope")
    assert unknown.returncode == 2 and "no journey 'nope' was ever deployed" in unknown.stderr
    assert "Traceback" not in unknown.stderr
