"""The console's page of the message log: sends only, filtered, newest first, counted; and
the engagement kinds of a page's messages, on SQLite and PostgreSQL."""

from __future__ import annotations

from connectors.models import message_ref
from engine.store import Store
from workflows.ids import workflow_id_for


def _log(store: Store, journey: str, customer: str, step: str, channel: str, status: str) -> str:
    key = f"{workflow_id_for(journey, customer)}/entry/{step}/1"
    store.messages.claim(key, workflow_id_for(journey, customer), step, channel, customer)
    if status != "pending":
        store.messages.complete(key, status, {})
    return key


def test_a_page_of_sends_filtered_and_counted(store: Store) -> None:
    first = _log(store, "cart_x", "ada", "remind", "email", "sent")
    _log(store, "cart_x", "ada", "coupon", "shop.create_discount", "sent")  # a call: left out
    _log(store, "cartyx", "bob", "remind", "email", "skipped")  # `_` is no wildcard
    last = _log(store, "welcome", "cy", "hello", "sms", "failed")

    everything, total = store.messages.page()
    assert total == 3 and everything[0].key == last  # newest first
    assert [m.key for m in store.messages.page(journey_id="cart_x")[0]] == [first]
    assert store.messages.page(channel="email")[1] == 2
    assert [m.status for m in store.messages.page(status="failed")[0]] == ["failed"]
    one, total = store.messages.page(limit=1, offset=1)
    assert len(one) == 1 and total == 3
    assert store.messages.channels() == ["email", "sms"]


def test_the_engagement_kinds_of_messages(store: Store) -> None:
    key = _log(store, "cart", "ada", "remind", "email", "sent")
    ref = message_ref(key)
    for n, kind in enumerate(("delivered", "opened", "opened", "clicked")):
        store.engagement.record(
            dedupe_key=f"d-{n}", message_ref=ref, kind=kind, customer_id="ada",  # type: ignore[arg-type]
            journey_id="cart", step_id="remind", channel="email",
        )  # fmt: skip
    assert store.engagement.kinds_of([ref, "other"]) == {ref: {"delivered", "opened", "clicked"}}
    assert store.engagement.kinds_of([]) == {}
