"""Consent through the event API: identify traits, and the one-click unsubscribe link.

The link comes from a real message: the welcome journey runs on the Temporal
test server, the console connector writes the email, and the test follows the
link it carries, as a customer (GET, then the button) or a mailbox provider
(RFC 8058 one-click POST) would.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from engine.privacy.consent import unsubscribe_url
from engine.settings import Settings
from tests.api.conftest import ApiServer
from tests.runtime.conftest import compiled
from workflows.journey import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


def link_on(api: ApiServer, link: str) -> str:
    """The message's link, pointed at the test server instead of CXFLOW_PUBLIC_URL."""
    parts = urlsplit(link)
    return f"{api.url}{parts.path}?{parts.query}"


async def test_identify_sets_consent_and_keeps_it_out_of_the_traits(api: ApiServer) -> None:
    async with httpx.AsyncClient(headers=api.headers) as client:
        answer = await client.post(
            f"{api.url}/v1/identify",
            json={
                "userId": "ada",
                "traits": {"email": "ada@example.com", "subscriptions": {"email": False}},
            },
        )
    assert answer.status_code == 200, answer.text
    store = api.engine.store
    assert [(c.channel, c.subscribed, c.source) for c in store.consents("ada")] == [
        ("email", False, "identify")
    ]
    customer = store.get_customer("ada")
    assert customer is not None and customer.traits == {"email": "ada@example.com"}


async def test_unreadable_consent_traits_are_a_400_that_says_what_to_send(
    api: ApiServer,
) -> None:
    async with httpx.AsyncClient(headers=api.headers) as client:
        answer = await client.post(
            f"{api.url}/v1/identify",
            json={"userId": "ada", "traits": {"subscriptions": {"email": "no"}}},
        )
    assert answer.status_code == 400
    [problem] = answer.json()["fields"]
    assert problem["path"] == "traits"
    assert "`subscriptions` must be an object of channel: true|false" in problem["message"]
    assert api.engine.store.get_customer("ada") is None


async def test_the_link_in_a_message_unsubscribes_and_ends_the_journey(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test worker signs links with the default secret key; the API must check them
    # with the same one (in production both read CXFLOW_SECRET_KEY).
    monkeypatch.delenv("CXFLOW_SECRET_KEY", raising=False)
    engine = api.engine
    engine.deploy(compiled("welcome-series"))
    engine.store.upsert_customer("bea", {"email": "bea@example.com", "first_name": "Bea"})
    await engine.send("bea", "user.signed_up")
    workflow_id = workflow_id_for("welcome-series", "bea")
    for _ in range(30):  # the welcome email goes out once quiet hours allow; then a day's wait
        if engine.outbox_messages():
            break
        await engine.env.sleep(timedelta(hours=1))
    [welcome] = engine.outbox_messages()
    link = welcome["unsubscribe_url"]
    assert f"Unsubscribe: {link}" in welcome["body"]

    async with httpx.AsyncClient() as client:
        page = await client.get(link_on(api, link))
        assert page.status_code == 200
        assert '<form method="post" action="unsubscribe?token=' in page.text
        assert '<button type="submit" class="primary">Unsubscribe</button>' in page.text
        assert "emails" in page.text
        assert engine.store.consents("bea") == []  # opening the link changes nothing

        done = await client.post(
            link_on(api, link),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200
        assert "You are unsubscribed" in done.text
        again = await client.post(link_on(api, link))
        assert again.status_code == 200

    [consent] = engine.store.consents("bea")
    assert (consent.channel, consent.subscribed, consent.source) == (
        "email",
        False,
        "unsubscribe_link",
    )
    events = engine.store.events_for("bea", "customer.unsubscribed")
    assert [e.properties for e in events] == [{"channel": "email", "source": "unsubscribe_link"}]
    outcome = await engine.outcome(workflow_id)
    assert (outcome.status, outcome.reason) == ("exited", "exit event customer.unsubscribed")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        "é.ö",  # non-ASCII: was an internal error (found by schemathesis)
        unsubscribe_url("http://x", "another secret", "ada", "email").split("token=")[1],
    ],
)
async def test_a_bad_link_is_a_404_page(api: ApiServer, token: str) -> None:
    async with httpx.AsyncClient() as client:
        for method in ("GET", "POST"):
            answer = await client.request(
                method, f"{api.url}/v1/unsubscribe", params={"token": token}
            )
            assert answer.status_code == 404
            assert answer.headers["content-type"].startswith("text/html")
            assert "this unsubscribe link is not valid" in answer.text
    assert api.engine.store.consents("ada") == []


async def test_a_link_made_with_the_servers_secret_works(api: ApiServer) -> None:
    url = unsubscribe_url(api.url, Settings.from_env().secret_key, "cy", "sms")
    async with httpx.AsyncClient() as client:
        answer = await client.post(url)
    assert answer.status_code == 200
    assert "text messages" in answer.text
    assert [(c.channel, c.subscribed) for c in api.engine.store.consents("cy")] == [("sms", False)]


async def test_an_erased_customers_old_link_is_no_longer_valid_and_recreates_nothing(
    api: ApiServer,
) -> None:
    store = api.engine.store
    url = unsubscribe_url(api.url, Settings.from_env().secret_key, "dora", "email")
    store.upsert_customer("dora", {"email": "dora@example.com"})
    store.erase_customer("dora")
    async with httpx.AsyncClient() as client:
        page = await client.get(url)
        clicked = await client.post(url)
    for answer in (page, clicked):
        assert answer.status_code == 410
        assert "This link is no longer valid" in answer.text
    assert store.get_customer("dora") is None
    assert store.consents("dora") == []
    assert store.events_for("dora") == []


@pytest.fixture
def brand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXFLOW_BRAND_NAME", "Shop & Co")
    monkeypatch.setenv("CXFLOW_BRAND_ADDRESS", "1 Main St, Springfield")
    monkeypatch.setenv("CXFLOW_BRAND_URL", "https://shop.example.com")


def form_action(page: str, label: str) -> str:
    """The URL the form with this button posts to, resolved as a browser would."""
    found = re.search(r'<form method="post" action="([^"]+)"><button[^>]*>' + label, page)
    assert found is not None, page
    return html.unescape(found[1])


async def test_the_page_shows_brand_address_and_whom_the_link_is_for(
    api: ApiServer, brand: None
) -> None:
    api.engine.store.upsert_customer("dee", {"email": "dee@example.com"})
    url = unsubscribe_url(api.url, Settings.from_env().secret_key, "dee", "email")
    async with httpx.AsyncClient() as client:
        page = await client.get(url)
        bad = await client.get(f"{api.url}/v1/unsubscribe", params={"token": "nope"})
    assert page.status_code == 200
    assert '<a class="brand" href="https://shop.example.com">Shop &amp; Co</a>' in page.text
    assert "<footer>Shop &amp; Co · 1 Main St, Springfield</footer>" in page.text
    assert "For <strong>dee@example.com</strong>" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert not re.search(r'(src|href)="(https?:)?//(?!shop\.example\.com)', page.text)
    assert bad.status_code == 404 and "Shop &amp; Co" in bad.text
    assert "dee@example.com" not in bad.text  # only the token's holder sees the address


async def test_resubscribe_turns_consent_back_on_and_tells_the_journeys_once(
    api: ApiServer, brand: None
) -> None:
    store = api.engine.store
    store.upsert_customer("eve", {"email": "eve@example.com"})
    url = unsubscribe_url(api.url, Settings.from_env().secret_key, "eve", "email")
    async with httpx.AsyncClient() as client:
        gone = await client.post(url)
        resubscribe = httpx.URL(url).join(form_action(gone.text, "Resubscribe"))
        assert resubscribe.path == "/v1/resubscribe"
        reopened = await client.get(url)  # the link again, while unsubscribed
        assert "You are unsubscribed" in reopened.text
        assert form_action(reopened.text, "Resubscribe") == form_action(gone.text, "Resubscribe")
        back = await client.post(str(resubscribe))
        twice = await client.post(str(resubscribe))
    assert back.status_code == twice.status_code == 200
    assert "You are subscribed again" in back.text and "eve@example.com" in back.text
    assert httpx.URL(url).join(form_action(back.text, "Unsubscribe")).path == "/v1/unsubscribe"
    [consent] = store.consents("eve")
    assert (consent.channel, consent.subscribed, consent.source) == (
        "email",
        True,
        "resubscribe_link",
    )
    events = store.events_for("eve", "customer.resubscribed")
    assert [e.properties for e in events] == [{"channel": "email", "source": "resubscribe_link"}]
    assert len(store.events_for("eve", "customer.unsubscribed")) == 1


async def test_resubscribe_with_a_bad_token_is_a_404_page(api: ApiServer) -> None:
    other = unsubscribe_url("http://x", "another secret", "ada", "email").split("token=")[1]
    async with httpx.AsyncClient() as client:
        for token in ("", "nope", other):
            answer = await client.post(f"{api.url}/v1/resubscribe", params={"token": token})
            assert answer.status_code == 404
            assert "this unsubscribe link is not valid" in answer.text
    assert api.engine.store.consents("ada") == []
    assert api.engine.store.events_for("ada", "customer.resubscribed") == []
