"""The open pixel: off unless a journey, a step or the workspace turns it on; when on, a
1x1 image whose request records the open.

Journeys run on the Temporal test server and send through the console connector; the
pixel is fetched from the real app over the runtime's intake."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from engine.runtime.activities import JourneyActivities
from engine.runtime.tracking import OPEN_PATH, Tracking, open_token, track_html
from engine.store import MessageRecord
from tests.engagement.conftest import sent_message
from tests.engagement.tracking_support import (
    PIXEL,
    PUBLIC_URL,
    SECRET,
    SHOP_LINK,
    TRACKED,
    outbox_html,
    run_tracked,
    tracked_journey,
)
from tests.runtime.conftest import Engine
from workflows.ids import workflow_id_for
from workflows.models import RunContext, SendInput

on_the_loop = pytest.mark.asyncio(loop_scope="session")
OPENS = Tracking(clicks=False, opens=True)


def pixel(html: str) -> str:
    return track_html(
        html, tracking=OPENS, public_url="https://cx.example", secret=SECRET, message_ref="r"
    )


def test_the_pixel_goes_just_before_the_last_closing_body_tag() -> None:
    html = "<html><BODY><p>Hi</p><!-- </body> -->\n</BODY >\n</html>"
    tracked = pixel(html)
    before, _pixel, after = tracked.partition('<img src="https://cx.example/v1/o/')
    assert before == "<html><BODY><p>Hi</p><!-- </body> -->\n"
    assert after.split('" width="1" height="1" alt="">', 1)[1] == "</BODY >\n</html>"


def test_without_a_body_tag_the_pixel_goes_at_the_end() -> None:
    tracked = pixel("<p>Hi</p>\n")
    assert tracked.startswith("<p>Hi</p>\n<img src=")
    assert tracked.endswith('" width="1" height="1" alt="">')


def test_opens_alone_leave_the_links_as_they_are() -> None:
    tracked = pixel('<a href="https://shop.example/">x</a>')
    assert tracked.startswith('<a href="https://shop.example/">x</a><img ')


# --- in sends -------------------------------------------------------------------------


@on_the_loop
async def test_no_pixel_by_default_but_tracked_links(engine: Engine, tmp_path: Path) -> None:
    customer = await run_tracked(engine, tracked_journey(tmp_path))
    html = outbox_html(engine, customer)
    assert "<img" not in html and OPEN_PATH not in html
    assert len(TRACKED.findall(html)) == 1


@on_the_loop
async def test_a_journey_turns_the_pixel_on_and_clicks_off(engine: Engine, tmp_path: Path) -> None:
    journey = tracked_journey(tmp_path, "tracking: { opens: true, clicks: false }")
    html = outbox_html(engine, await run_tracked(engine, journey))
    assert len(PIXEL.findall(html)) == 1
    assert html.index("<img") < html.index("</body>")
    assert f'<a href="{SHOP_LINK}" class="button">' in html  # as the template wrote it
    assert TRACKED.findall(html) == []


@on_the_loop
async def test_a_step_overrides_the_journey(engine: Engine, tmp_path: Path) -> None:
    journey = tracked_journey(
        tmp_path, "tracking: { opens: true }", "    tracking: { opens: false }"
    )
    html = outbox_html(engine, await run_tracked(engine, journey))
    assert PIXEL.findall(html) == [] and len(TRACKED.findall(html)) == 1


def send_input(customer: str) -> SendInput:
    run = RunContext(
        workflow_id=workflow_id_for("news", customer),
        run_id="run-1",
        entry_id="run-1",
        journey_id="news",
        version="v1",
        customer_id=customer,
    )
    return SendInput(
        run=run,
        step_id="news",
        idempotency_key=f"{run.workflow_id}/{run.entry_id}/news/1",
        channel="email",
        template=None,
        subject="News",
        body="This month's news",
        html='<html><body><a href="https://shop.example/">Shop</a></body></html>',
        params={},
        variables={},
    )


@on_the_loop
async def test_the_workspace_settings_are_the_defaults_of_sends_without_tracking(
    engine: Engine,
) -> None:
    settings = engine.runtime.settings.model_copy(
        update={"track_opens": True, "track_clicks": False}
    )
    activities = JourneyActivities(engine.store, engine.runtime.connectors, settings)
    customer = f"ada-{uuid.uuid4().hex[:8]}"
    engine.store.upsert_customer(customer, {"email": "ada@example.com"})
    outcome = await activities.deliver(send_input(customer))
    assert outcome.status == "sent"
    html = outbox_html(engine, customer)
    assert '<a href="https://shop.example/">Shop</a>' in html
    assert len(PIXEL.findall(html)) == 1


# --- the pixel's route ------------------------------------------------------------------


def message_of(engine: Engine) -> tuple[str, MessageRecord, str]:
    customer = f"ada-{uuid.uuid4().hex[:8]}"
    engine.store.upsert_customer(customer, {"email": "ada@example.com"})
    message = sent_message(engine.store, customer)
    assert message.ref is not None
    return customer, message, message.ref


def assert_gif(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status
    assert answer.headers["content-type"] == "image/gif"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.content.startswith(b"GIF89a\x01\x00\x01\x00") and len(answer.content) == 43


@on_the_loop
async def test_the_pixel_records_an_open_once_a_minute(
    engine: Engine, tracking_api: httpx.AsyncClient
) -> None:
    customer, _message, ref = message_of(engine)
    if time.time() % 60 > 55:  # keep both requests in one minute
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    url = f"{OPEN_PATH}{open_token(SECRET, ref)}"
    first, again = await tracking_api.get(url), await tracking_api.get(url)
    assert_gif(first, 200)
    assert_gif(again, 200)
    [row] = engine.store.engagement.for_message(ref)
    assert (row.kind, row.customer_id, row.detail) == ("opened", customer, {"source": "tracking"})
    [event] = engine.store.events_for(customer, "message.opened")
    assert event.properties["message"] == ref


@on_the_loop
async def test_a_pixel_this_server_did_not_sign_records_nothing(
    engine: Engine, tracking_api: httpx.AsyncClient
) -> None:
    _customer, _message, ref = message_of(engine)
    for token in ("nope", open_token("another secret", ref), open_token(SECRET, ref)[:-4]):
        assert_gif(await tracking_api.get(f"{OPEN_PATH}{token}"), 404)
    assert engine.store.engagement.for_message(ref) == []


@on_the_loop
async def test_the_pixel_of_a_sent_mail_records_its_open(
    engine: Engine, tracking_api: httpx.AsyncClient, tmp_path: Path
) -> None:
    customer = await run_tracked(engine, tracked_journey(tmp_path, "tracking: { opens: true }"))
    [src] = PIXEL.findall(outbox_html(engine, customer))
    assert src.startswith(f"{PUBLIC_URL}{OPEN_PATH}")
    assert_gif(await tracking_api.get(src), 200)
    [row] = engine.store.engagement.for_customer(customer)
    [sent] = engine.store.messages_for(customer_id=customer)
    assert (row.kind, row.message_ref, row.step_id) == ("opened", sent.ref, "hello")
