"""Click tracking: links rewritten at send time, and the signed redirect that records a click.

The rewriting is checked on HTML text (every byte but the hrefs kept); the redirect on
the real app over the runtime's intake (a real store and Temporal test server); and the
whole path with the real SMTP connector delivering to an SMTP server on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from connectors.models import message_ref
from connectors.signing import LinkSigner
from dsl.loader import load_file
from engine.privacy.consent import unsubscribe_url
from engine.runtime.tracking import (
    Tracking,
    click_token,
    is_web_url,
    open_token,
    read_click,
    redirect_hosts,
    track_html,
)
from engine.store import MessageRecord
from tests.engagement.conftest import sent_message
from tests.engagement.tracking_support import (
    PUBLIC_URL,
    SECRET,
    SHOP_TARGET,
    TRACKED,
    outbox_html,
    run_tracked,
    tracked_journey,
)
from tests.messaging.conftest import Peers
from tests.runtime.conftest import Engine
from workflows.ids import workflow_id_for

REF = hashlib.sha256(b"journey:news:ada/run-1/news/1").hexdigest()
BASE = "https://cx.example"
CLICKS = Tracking(clicks=True, opens=False)
on_the_loop = pytest.mark.asyncio(loop_scope="session")
TOKEN_URL = re.compile(r"https://cx\.example/v1/l/([A-Za-z0-9_.\-]+)")


def track(html: str, **options: object) -> str:
    arguments: dict[str, object] = {
        "tracking": CLICKS,
        "public_url": BASE,
        "secret": SECRET,
        "message_ref": REF,
    }
    arguments.update(options)
    return track_html(html, **arguments)  # type: ignore[arg-type]


def tokens_out(html: str) -> tuple[str, list[str]]:
    """The HTML with each tracked link's token as TOKEN, and the targets they hold."""
    targets = [read_click(SECRET, token).u for token in TOKEN_URL.findall(html)]
    return TOKEN_URL.sub("https://cx.example/v1/l/TOKEN", html), targets


# --- rewriting --------------------------------------------------------------------------


def test_only_the_hrefs_change_byte_for_byte() -> None:
    html = (
        "<!doctype html>\r\n<html><head><style>a { color: red }</style></head>\r\n"
        "<body>\n  <p>Grüße, Ada 🎉</p>\n"
        "<p>See <a class=btn HREF='https://shop.example/a?x=1&amp;y=2' target=_blank >A</a>"
        " and <a\n   href=https://shop.example/b/>B</a>,\n"
        '<A title="x > y" href="https://shop.example/c#top" data-x>C</A></p>\n'
        "</body></html>\n"
    )
    tracked, targets = tokens_out(track(html))
    assert tracked == (
        "<!doctype html>\r\n<html><head><style>a { color: red }</style></head>\r\n"
        "<body>\n  <p>Grüße, Ada 🎉</p>\n"
        '<p>See <a class=btn HREF="https://cx.example/v1/l/TOKEN" target=_blank >A</a>'
        ' and <a\n   href="https://cx.example/v1/l/TOKEN">B</a>,\n'
        '<A title="x > y" href="https://cx.example/v1/l/TOKEN" data-x>C</A></p>\n'
        "</body></html>\n"
    )
    assert targets == [
        "https://shop.example/a?x=1&y=2",  # entities decoded: the URL the browser follows
        "https://shop.example/b/",
        "https://shop.example/c#top",
    ]


def test_the_token_holds_the_message_ref_and_the_target_only() -> None:
    [token] = TOKEN_URL.findall(track('<a href="https://shop.example/x">x</a>'))
    payload = LinkSigner(SECRET, purpose="click").verify(token)
    assert payload == {"m": REF, "u": "https://shop.example/x"}


def test_links_that_are_not_web_links_and_hidden_markup_are_left_alone() -> None:
    html = (
        '<a href="mailto:help@shop.example">mail</a> <a href="tel:+331234">call</a> '
        '<a href="#top">top</a> <a href="/relative">rel</a> <a href="">empty</a> <a name=x>'
        '<a href="ftp://files.example/x">ftp</a> <a href="data:text/plain,hi">data</a>'
        '<!-- <a href="https://shop.example/in-a-comment"> -->'
        "<script>document.write('<a href=\"https://shop.example/in-a-script\">')</script>"
        '<style>/* <a href="https://shop.example/in-a-style"> */</style>'
        '<link href="https://shop.example/style.css" rel="stylesheet">'
        '<img src="https://shop.example/logo.png">'
    )
    assert track(html) == html


def test_the_unsubscribe_link_and_cxflows_own_links_are_left_alone() -> None:
    unsubscribe = unsubscribe_url(BASE, SECRET, "ada", "email")
    html = (
        f'<a href="{unsubscribe}">Unsubscribe</a>'
        '<a href="https://cx.example/v1/surveys/abc?score=9">9</a>'
        '<a href="HTTPS://CX.EXAMPLE/v1/l/already">tracked already</a>'
        '<a href="http://127.0.0.1:9000/v1/surveys/x">survey on its own URL</a>'
    )
    assert track(html, skip=[unsubscribe], own=["http://127.0.0.1:9000/"]) == html
    # the same host on another port or scheme is someone else's
    other = '<a href="http://cx.example/x">x</a><a href="https://cx.example:8443/x">y</a>'
    assert tokens_out(track(other))[1] == ["http://cx.example/x", "https://cx.example:8443/x"]


def test_a_public_url_with_a_path_owns_only_what_is_under_it() -> None:
    html = '<a href="https://cx.example/cxflow/v1/x">own</a><a href="https://cx.example/shop">x</a>'
    tracked = track(html, public_url="https://cx.example/cxflow/")
    assert '<a href="https://cx.example/cxflow/v1/x">own</a>' in tracked
    assert '<a href="https://cx.example/cxflow/v1/l/' in tracked


def test_the_new_href_is_quoted_and_escaped() -> None:
    tracked = track("<a href=https://shop.example/x>x</a>", public_url="https://cx.example/a&b'c")
    assert tracked.startswith('<a href="https://cx.example/a&amp;b&#x27;c/v1/l/')
    assert tracked.endswith('">x</a>')


def test_spaces_around_a_link_are_what_browsers_drop() -> None:
    _html, targets = tokens_out(track('<a href="  https://shop.example/x\n">x</a>'))
    assert targets == ["https://shop.example/x"]


def test_a_second_href_is_not_the_link_and_stays() -> None:
    tracked, targets = tokens_out(
        track('<a href="https://shop.example/1" href="https://shop.example/2">x</a>')
    )
    assert tracked == '<a href="https://cx.example/v1/l/TOKEN" href="https://shop.example/2">x</a>'
    assert targets == ["https://shop.example/1"]


def test_a_link_too_long_for_a_token_is_sent_as_it_is() -> None:
    html = f'<a href="https://shop.example/?q={secrets.token_urlsafe(3500)}">x</a>'
    assert track(html) == html


def test_nothing_changes_with_tracking_off() -> None:
    html = '<html><body><a href="https://shop.example/x">x</a></body></html>'
    assert track(html, tracking=Tracking(clicks=False, opens=False)) == html


# --- the redirect ---------------------------------------------------------------------


def message_of(engine: Engine) -> tuple[str, MessageRecord]:
    customer = f"ada-{uuid.uuid4().hex[:8]}"
    engine.store.upsert_customer(customer, {"email": "ada@example.com"})
    return customer, sent_message(engine.store, customer)


def ref_of(message: MessageRecord) -> str:
    assert message.ref is not None
    return message.ref


async def next_second() -> None:
    """Wait for a fresh second, so two quick clicks fall in the same one."""
    await asyncio.sleep(1 - time.time() % 1 + 0.01)


@on_the_loop
async def test_a_signed_link_records_the_click_and_redirects(
    engine: Engine, tracking_api: httpx.AsyncClient
) -> None:
    customer, message = message_of(engine)
    target = "https://shop.example.com/new?utm_source=mail&ref=x"
    answer = await tracking_api.get(f"/v1/l/{click_token(SECRET, ref_of(message), target)}")

    assert answer.status_code == 302
    assert answer.headers["location"] == target
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    [row] = engine.store.engagement.for_message(ref_of(message))
    assert (row.kind, row.customer_id, row.step_id, row.channel) == (
        "clicked",
        customer,
        "welcome",
        "email",
    )
    assert row.detail == {"source": "tracking", "url": target}
    [event] = engine.store.events_for(customer, "message.clicked")
    assert event.properties["url"] == target
    assert event.properties["message"] == ref_of(message)
    assert event.properties["source"] == "tracking"


@on_the_loop
async def test_a_double_click_is_one_click_and_a_later_one_another(
    engine: Engine, tracking_api: httpx.AsyncClient
) -> None:
    _customer, message = message_of(engine)
    link = f"/v1/l/{click_token(SECRET, ref_of(message), 'https://shop.example.com/')}"
    await next_second()
    first, second = await tracking_api.get(link), await tracking_api.get(link)
    assert first.status_code == second.status_code == 302
    assert len(engine.store.engagement.for_message(ref_of(message))) == 1
    await next_second()
    assert (await tracking_api.get(link)).status_code == 302
    assert len(engine.store.engagement.for_message(ref_of(message))) == 2


def altered(ref: str) -> str:
    """A genuine token whose payload was swapped for another target's: the signature no
    longer matches."""
    genuine = click_token(SECRET, ref, "https://shop.example/")
    other = click_token(SECRET, ref, "https://evil.example/")
    payload = other.rsplit(".", 2)[0]
    return payload + genuine[len(genuine.rsplit(".", 2)[0]) :]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda ref: "not-a-token", id="unsigned"),
        pytest.param(altered, id="altered"),
        pytest.param(
            lambda ref: click_token(SECRET, ref, "https://a.example/")[:-5], id="cut-short"
        ),
        pytest.param(lambda ref: open_token(SECRET, ref), id="open-token"),
        pytest.param(
            lambda ref: unsubscribe_url(PUBLIC_URL, SECRET, "ada", "email").split("token=")[1],
            id="unsubscribe-token",
        ),
        pytest.param(
            lambda ref: click_token("another secret", ref, "https://a.example/"),
            id="another-secret",
        ),
        pytest.param(
            lambda ref: LinkSigner(SECRET, purpose="click").sign({"m": ref}), id="no-target"
        ),
        pytest.param(lambda ref: "é" * 10, id="non-ascii"),
        pytest.param(lambda ref: "a" * 5000, id="overlong"),
    ],
)
@on_the_loop
async def test_a_link_this_server_did_not_sign_redirects_nowhere(
    engine: Engine, tracking_api: httpx.AsyncClient, make: object
) -> None:
    _customer, message = message_of(engine)
    token = make(ref_of(message))  # type: ignore[operator]
    answer = await tracking_api.get(f"/v1/l/{token}")
    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert "This link is not valid or has expired" in answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert engine.store.engagement.for_message(ref_of(message)) == []


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<p>x",
        "//evil.example/",
        "ftp://x.example/",
        "https://x.example/\r\nSet-Cookie: a=b",
    ],
)
@on_the_loop
async def test_a_signed_link_to_anything_but_a_web_page_is_refused(
    engine: Engine, tracking_api: httpx.AsyncClient, target: str
) -> None:
    _customer, message = message_of(engine)
    answer = await tracking_api.get(f"/v1/l/{click_token(SECRET, ref_of(message), target)}")
    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert engine.store.engagement.for_message(ref_of(message)) == []


@on_the_loop
async def test_the_target_comes_from_the_token_and_never_from_the_request(
    engine: Engine, tracking_api: httpx.AsyncClient
) -> None:
    _customer, message = message_of(engine)
    token = click_token(SECRET, ref_of(message), "https://shop.example.com/")
    for query in ("?u=https://evil.example/", "?url=https://evil.example/&next=//evil.example"):
        answer = await tracking_api.get(f"/v1/l/{token}{query}")
        assert answer.headers["location"] == "https://shop.example.com/"


@on_the_loop
async def test_a_head_request_redirects_and_records_nothing(
    engine: Engine, tracking_api: httpx.AsyncClient
) -> None:
    _customer, message = message_of(engine)
    token = click_token(SECRET, ref_of(message), "https://shop.example.com/")
    answer = await tracking_api.head(f"/v1/l/{token}")
    assert (answer.status_code, answer.headers["location"]) == (302, "https://shop.example.com/")
    assert engine.store.engagement.for_message(ref_of(message)) == []


@on_the_loop
async def test_a_link_of_an_unknown_message_still_redirects(
    engine: Engine, tracking_api: httpx.AsyncClient
) -> None:
    ref = message_ref("journey:gone:ada/run/step/1")
    answer = await tracking_api.get(f"/v1/l/{click_token(SECRET, ref, 'https://shop.example/')}")
    assert (answer.status_code, answer.headers["location"]) == (302, "https://shop.example/")
    assert engine.store.engagement.for_message(ref) == []


@on_the_loop
async def test_the_customer_is_redirected_when_the_store_cannot_record(
    engine: Engine, tracking_api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    _customer, message = message_of(engine)
    token = click_token(SECRET, ref_of(message), "https://shop.example.com/")
    database = engine.store.database.engine
    with database.begin() as connection:  # the store loses the table the click goes to
        connection.execute(text("ALTER TABLE message_engagement RENAME TO away"))
    try:
        with caplog.at_level(logging.ERROR, logger="cxflow.api.tracking"):
            answer = await tracking_api.get(f"/v1/l/{token}")
    finally:
        with database.begin() as connection:
            connection.execute(text("ALTER TABLE away RENAME TO message_engagement"))
    assert (answer.status_code, answer.headers["location"]) == (302, "https://shop.example.com/")
    [record] = [r for r in caplog.records if r.name == "cxflow.api.tracking"]
    assert "could not record a clicked" in record.getMessage()
    assert token not in record.getMessage()
    assert engine.store.engagement.for_message(ref_of(message)) == []


# --- end to end -------------------------------------------------------------------------


@on_the_loop
async def test_a_mail_sent_over_smtp_carries_tracked_links_that_record_clicks(
    engine: Engine, peers: Peers, tracking_api: httpx.AsyncClient, tmp_path: Path
) -> None:
    customer = await run_tracked(engine, tracked_journey(tmp_path))
    [mail] = peers.smtp.messages
    html = mail.html()
    [link] = TRACKED.findall(html)  # the shop link; the unsubscribe link is left alone
    assert f'<a href="{link}" class="button">' in html
    [sent] = engine.store.messages_for(customer_id=customer)
    assert f'<a href="{PUBLIC_URL}/v1/unsubscribe?token=' in html
    assert SHOP_TARGET in mail.text()  # the text part is sent as written

    answer = await tracking_api.get(link)
    assert (answer.status_code, answer.headers["location"]) == (302, SHOP_TARGET)
    [row] = engine.store.engagement.for_customer(customer)
    assert row.kind == "clicked" and row.message_ref == sent.ref
    assert row.detail["url"] == SHOP_TARGET
    assert [e.properties["url"] for e in engine.store.events_for(customer, "message.clicked")] == [
        SHOP_TARGET
    ]


# --- which hosts a tracked link may lead to --------------------------------------------

DATA_TEMPLATE = """\
subject: Back in stock
body: Hello
html: |
  <p><a href="{{ event.properties.url }}">It is back</a></p>
  <p><a href="https://shop.example.com/account">Your account</a></p>
"""


def test_the_hosts_a_template_writes_and_the_configured_ones_are_the_allowed() -> None:
    template = "<a href=\"{{ event.properties.url | default: 'https://Shop.Example.com/x' }}\">"
    assert redirect_hosts(template, "") == ["shop.example.com"]
    assert redirect_hosts(None, " cdn.example , *.shop.example ") == [
        "cdn.example",
        "*.shop.example",
    ]
    html = '<a href="https://evil.example/x">a</a> <a href="https://eu.shop.example/y">b</a>'
    out, targets = tokens_out(track(html, hosts=["*.shop.example"]))
    assert targets == ["https://eu.shop.example/y"]
    assert '<a href="https://evil.example/x">' in out  # sent as written: no redirect to it


def test_a_backslash_target_is_not_tracked() -> None:
    # a browser reads `\` as `/`: the page would be good.example, the redirect evil.example
    html = '<a href="https://good.example\\@evil.example/">x</a>'
    assert track(html) == html
    assert not is_web_url("https://good.example\\@evil.example/")


@on_the_loop
async def test_a_link_from_event_data_to_another_host_is_sent_untracked(
    engine: Engine, tmp_path: Path
) -> None:
    """Anyone who can send an event (a browser write key) could otherwise get cxflow's
    domain to redirect to a host of theirs, in a mail to themselves."""
    folder = tmp_path / "journeys"
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "hello.yaml").write_text(DATA_TEMPLATE)
    (folder / "data-link.yaml").write_text(
        "journey: data-link\nname: Data link\ntrigger: { event: signed.up }\n"
        "steps:\n  - id: hello\n    send: { channel: email, template: hello }\n"
    )
    result = load_file(folder / "data-link.yaml")
    assert result.compiled is not None
    engine.deploy(result.compiled)
    engine.store.upsert_customer("eve", {"email": "eve@example.com"})
    await engine.send("eve", "signed.up", url="https://evil.example/login")
    await engine.outcome(workflow_id_for("data-link", "eve"))
    html = outbox_html(engine, "eve")
    assert '<a href="https://evil.example/login">' in html
    [account] = TRACKED.findall(html)  # the template's own link to the shop is tracked
    assert read_click(SECRET, account.rpartition("/")[2]).u == "https://shop.example.com/account"
