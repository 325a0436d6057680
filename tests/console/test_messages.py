"""The messages pages over real runs: the log with status and engagement, the preview of a
shipped template for a stored or sample customer, and test sends that land at a real SMTP
peer (aiosmtpd), refused outside the allow-list or below the operator role, and audited."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from connectors.inbound import EngagementSignal
from engine.console.security import reset_login_limits
from engine.runtime.assignment import assign_variant
from tests.api.conftest import serve
from tests.console.conftest import ACCOUNTS, PASSWORD, Console, csrf_of
from tests.messaging.conftest import Peers, peers, tls_ca
from tests.runtime.conftest import Engine, compiled
from workflows.ids import workflow_id_for

__all__ = ["peers", "tls_ca"]

pytestmark = pytest.mark.asyncio(loop_scope="session")

VARIANTS = [("reminder", 45.0), ("discount", 45.0), ("holdout", 10.0)]
ALLOWED = "qa@shop.example, *@team.shop.example"
ROW = re.compile(r"<tr>\s*<td><time.*?</tr>", re.DOTALL)


def in_reminder(prefix: str) -> str:
    """A customer whose cart-offer variant is `reminder`: they get the plain email."""
    return next(
        f"{prefix}-{n}"
        for n in range(10_000)
        if assign_variant("cart-offer-2026", f"{prefix}-{n}", VARIANTS) == "reminder"
    )


async def abandon_cart(engine: Engine, customer: str, traits: dict[str, str]) -> None:
    engine.store.upsert_customer(customer, traits)
    await engine.send(customer, "cart.updated", item_count=2)
    outcome = await engine.outcome(workflow_id_for("abandoned-cart", customer))
    assert outcome.status == "completed"


@pytest_asyncio.fixture(loop_scope="session")
async def testers(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Console]:
    """The console with an allow-list of test recipients (the `console` fixture has none)."""
    settings = engine.runtime.settings.model_copy(update={"test_recipients": ALLOWED})
    monkeypatch.setattr(engine.runtime, "settings", settings)
    for role, email in ACCOUNTS.items():
        engine.store.users.create(email, PASSWORD, role, name=role.capitalize())
    reset_login_limits()
    async with serve(engine.runtime.api(reroute_interval=0.2)) as url:
        yield Console(url=url, engine=engine)
    reset_login_limits()


def rows(page: str) -> list[str]:
    return ROW.findall(page)


async def test_the_log_lists_real_sends_with_status_engagement_and_filters(
    console: Console,
) -> None:
    engine = console.engine
    engine.deploy(compiled("abandoned-cart"))
    ada, bob = in_reminder("ada"), in_reminder("bob")
    await abandon_cart(engine, ada, {"first_name": "Ada", "email": "ada@example.com"})
    await abandon_cart(engine, bob, {"first_name": "Bob"})  # no address: skipped
    [sent] = [m for m in engine.store.messages_for(ada) if m.step_id == "plain-reminder"]
    assert sent.ref is not None
    await engine.intake.engagement(
        EngagementSignal(message_ref=sent.ref, kind="opened", dedupe_key=f"open-{uuid.uuid4()}",
                         at=datetime.now(UTC), source="test")
    )  # fmt: skip

    async with console.logged_in("viewer") as client:
        page = await client.get("/console/messages")
        assert page.status_code == 200, page.text
        listed = rows(page.text)
        assert len(listed) == 2
        [mine] = [r for r in listed if f"/console/customers/{ada}" in r]
        assert ">email<" in mine and ">plain-reminder<" in mine and "cart-reminder" in mine
        assert 'status-sent">sent<' in mine and 'status-opened">opened<' in mine
        assert "/console/journeys/abandoned-cart" in mine
        [skipped] = [r for r in listed if f"/console/customers/{bob}" in r]
        assert 'status-skipped">skipped<' in skipped and "no email address" in skipped
        assert "ada@example.com" not in page.text  # addresses and bodies are not listed
        assert "Back to your cart" not in page.text

        by_status = await client.get("/console/messages", params={"status": "skipped"})
        assert [bob in r for r in rows(by_status.text)] == [True]
        social = await client.get("/console/messages", params={"channel": "social"})
        assert rows(social.text) == [] and "No messages here" in social.text
        email = await client.get("/console/messages", params={"channel": "email"})
        assert len(rows(email.text)) == 2
        other = await client.get("/console/messages", params={"journey": "welcome-series"})
        assert rows(other.text) == []
        later = await client.get("/console/messages", params={"since": "2999-01-01"})
        assert rows(later.text) == []
        wrong = await client.get("/console/messages", params={"status": "lost"})
        assert wrong.status_code == 400 and "choose one of sent" in wrong.text


async def test_the_preview_renders_the_shipped_template_as_the_send_did(
    console: Console,
) -> None:
    engine = console.engine
    engine.deploy(compiled("abandoned-cart"))
    ada = in_reminder("grace")
    await abandon_cart(engine, ada, {"first_name": "Grace", "email": "grace@example.com"})
    [email] = [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == ada]
    before = len(engine.store.messages_for(ada))

    query = {"journey": "abandoned-cart", "step": "plain-reminder", "customer": ada}
    async with console.logged_in("viewer") as client:
        page = await client.get("/console/messages/preview", params=query)
        assert page.status_code == 200, page.text
        assert f'<dd class="subject">{email["subject"]}</dd>' in page.text
        assert "Grace" in email["subject"]
        assert re.search(r'<iframe class="preview" sandbox title="[^"]+" src="/console/'
                         r'messages/preview/html\?journey=abandoned-cart&amp;step=plain-'
                         r"reminder&amp;customer=", page.text)  # fmt: skip
        text = re.search(r'<pre class="message-text">(.*?)</pre>', page.text, re.DOTALL)
        assert text is not None
        unsubscribe = re.compile(r"https?://\S+/v1/unsubscribe\?token=\S+")
        shown = unsubscribe.sub("UNSUBSCRIBE", text[1].replace("&amp;", "&"))
        assert shown == unsubscribe.sub("UNSUBSCRIBE", email["body"])  # the send's text
        assert "token=preview" in text[1]  # a link that unsubscribes no one

        html = await client.get("/console/messages/preview/html", params=query)
        assert html.status_code == 200
        policy = html.headers["content-security-policy"]
        assert "sandbox" in policy and "script-src" not in policy
        assert "default-src 'none'" in policy
        assert "Grace" in html.text and "/v1/l/" not in html.text  # no tracking links

        sample = await client.get(
            "/console/messages/preview",
            params={"journey": "abandoned-cart", "step": "plain-reminder"},
        )
        assert "Alex, you left something in your cart" in sample.text
        assert "[item_count]" in sample.text and "a sample customer" in sample.text

        missing = await client.get(
            "/console/messages/preview", params={**query, "customer": "nobody-at-all"}
        )
        assert missing.status_code == 404 and "there is no customer" in missing.text
        no_step = await client.get("/console/messages/preview", params={**query, "step": "pause"})
        assert no_step.status_code == 404 and "plain-reminder" in no_step.text
    assert len(engine.store.messages_for(ada)) == before  # a preview logs nothing


async def test_a_test_send_lands_at_the_smtp_peer_and_is_audited(
    testers: Console, peers: Peers
) -> None:
    engine = testers.engine
    engine.deploy(compiled("abandoned-cart"))
    customer = f"ida-{uuid.uuid4().hex[:8]}"
    engine.store.upsert_customer(customer, {"first_name": "Ida", "email": "ida@example.com"})
    await engine.send(customer, "cart.updated", item_count=3)
    logged = len(engine.store.messages.page()[0])
    form = {"journey": "abandoned-cart", "step": "plain-reminder", "customer": customer}

    async with testers.logged_in("operator") as client:
        page = await client.get("/console/messages/preview", params=form)
        assert "qa@shop.example" in page.text
        csrf = csrf_of(page.text.split('action="/console/messages/test"')[1])
        sent = await client.post(
            "/console/messages/test",
            data={**form, "address": "Lee@Team.Shop.Example", "csrf": csrf},
        )
        assert sent.status_code == 200, sent.text
        assert "Lee@Team.Shop.Example" in sent.text and "smtp connector" in sent.text

        outside = await client.post(
            "/console/messages/test", data={**form, "address": "ida@example.com", "csrf": csrf}
        )
        assert outside.status_code == 400
        assert "CXFLOW_TEST_RECIPIENTS" in outside.text and "allow-list" in outside.text

    [mail] = peers.smtp.messages
    assert mail.rcpt_tos == ("Lee@Team.Shop.Example",)
    message = mail.message()
    assert message["Subject"] == "[TEST] Ida, you left something in your cart"
    assert "3 item(s)" in mail.text() and "Ida" in mail.html()
    assert "token=preview" in message["List-Unsubscribe"]  # unsubscribes no one
    assert len(engine.store.messages.page()[0]) == logged  # not a journey send
    [entry] = [a for a in engine.store.users.audit_log() if a.action == "message.test_send"]
    assert (entry.actor, entry.target) == (ACCOUNTS["operator"], "abandoned-cart/plain-reminder")
    assert entry.detail["to"] == "Lee@Team.Shop.Example"


async def test_a_viewer_may_not_test_send(testers: Console, peers: Peers) -> None:
    testers.engine.deploy(compiled("abandoned-cart"))
    form = {"journey": "abandoned-cart", "step": "plain-reminder", "address": "qa@shop.example"}
    async with testers.logged_in("viewer") as client:
        page = await client.get("/console/messages/preview", params=form)
        assert "Test sends need the operator role" in page.text
        answer = await client.post(
            "/console/messages/test", data={**form, "csrf": csrf_of(page.text)}
        )
        assert answer.status_code == 403 and "operator role" in answer.text
    assert peers.smtp.messages == []
    assert not [
        a for a in testers.engine.store.users.audit_log() if a.action == "message.test_send"
    ]


async def test_without_an_allow_list_test_sends_are_refused(console: Console, peers: Peers) -> None:
    console.engine.deploy(compiled("abandoned-cart"))
    form = {"journey": "abandoned-cart", "step": "plain-reminder", "address": "qa@shop.example"}
    async with console.logged_in("operator") as client:
        page = await client.get("/console/messages/preview", params=form)
        assert "Test sends are off" in page.text
        answer = await client.post(
            "/console/messages/test", data={**form, "csrf": csrf_of(page.text)}
        )
        assert answer.status_code == 400 and "CXFLOW_TEST_RECIPIENTS" in answer.text
    assert peers.smtp.messages == []


async def test_the_pages_need_a_login(console: Console) -> None:
    async with httpx.AsyncClient(base_url=console.url) as client:
        for path in ("/console/messages", "/console/messages/preview", "/console/surveys"):
            answer = await client.get(path)
            assert answer.status_code == 303 and "/console/login" in answer.headers["location"]
