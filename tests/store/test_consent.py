"""Consent decisions in the store, on SQLite and PostgreSQL: identify traits, links, the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.privacy.consent import decide
from engine.store import EventRecord, Store, StoreError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def identify(
    store: Store,
    customer: str,
    traits: dict[str, object],
    at: datetime,
    message_id: str,
    received: datetime | None = None,
) -> bool:
    event = EventRecord(
        message_id=message_id,
        customer_id=customer,
        name="identify",
        properties=dict(traits),
        timestamp=at,
        received_at=received or at,
    )
    return store.record_identify(event, dict(traits))


def stored(store: Store, customer: str) -> dict[str, tuple[bool, str]]:
    return {r.channel: (r.subscribed, r.source) for r in store.consents(customer)}


def test_identify_traits_set_consent_and_stay_out_of_the_profile(store: Store) -> None:
    identify(
        store,
        "ada",
        {"email": "ada@example.com", "subscriptions": {"email": False, "SMS": True}},
        T0,
        "m-1",
    )
    assert stored(store, "ada") == {"email": (False, "identify"), "sms": (True, "identify")}
    customer = store.get_customer("ada")
    assert customer is not None and customer.traits == {"email": "ada@example.com"}
    [email] = store.consents("ada", "email")
    assert email.updated_at == T0


def test_unsubscribed_is_every_channel(store: Store) -> None:
    identify(store, "ada", {"unsubscribed": True}, T0, "m-1")
    assert stored(store, "ada") == {"*": (False, "identify")}
    records = store.consents("ada", "social")
    assert [r.channel for r in records] == ["*"]
    assert not decide("opt-out", "social", records).allowed


def test_an_older_decision_never_overrides_a_newer_one(store: Store) -> None:
    assert store.set_consent("ada", "email", False, "unsubscribe_link", at=T0)
    identify(store, "ada", {"subscriptions": {"email": True}}, T0 - timedelta(hours=1), "m-1")
    assert stored(store, "ada") == {"email": (False, "unsubscribe_link")}
    identify(store, "ada", {"subscriptions": {"email": True}}, T0 + timedelta(hours=1), "m-2")
    assert stored(store, "ada") == {"email": (True, "identify")}


def test_an_identify_from_the_future_counts_from_its_arrival(store: Store) -> None:
    future = T0 + timedelta(days=30)
    identify(store, "ada", {"subscriptions": {"email": True}}, future, "m-1", received=T0)
    [email] = store.consents("ada")
    assert email.updated_at == T0
    # so an unsubscribe a minute later is not ignored as "older than the stored decision"
    assert store.set_consent(
        "ada", "email", False, "unsubscribe_link", at=T0 + timedelta(minutes=1)
    )
    assert stored(store, "ada") == {"email": (False, "unsubscribe_link")}


def test_a_replayed_identify_changes_nothing(store: Store) -> None:
    identify(store, "ada", {"subscriptions": {"email": False}}, T0, "m-1")
    store.set_consent("ada", "email", True, "cli", at=T0 + timedelta(minutes=1))
    assert not identify(store, "ada", {"subscriptions": {"email": False}}, T0, "m-1")
    assert stored(store, "ada") == {"email": (True, "cli")}


def test_set_consent_says_whether_it_changed_anything(store: Store) -> None:
    assert store.set_consent("new-customer", "email", False, "cli")
    assert not store.set_consent("new-customer", "email", False, "cli")
    assert store.get_customer("new-customer") is not None


@pytest.mark.parametrize(
    ("traits", "message"),
    [
        ({"subscriptions": {"email": "no"}}, "must be an object of channel: true|false"),
        ({"subscriptions": ["email"]}, "must be an object of channel: true|false"),
        ({"unsubscribed": "yes"}, "`unsubscribed` must be true"),
        ({"subscriptions": {"*": False}}, "is not a channel name"),
    ],
)
def test_unreadable_consent_traits_are_refused(
    store: Store, traits: dict[str, object], message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        identify(store, "ada", traits, T0, "m-1")
    assert store.get_customer("ada") is None


def test_erasing_a_customer_erases_their_consent(store: Store) -> None:
    store.set_consent("ada", "email", False, "cli")
    store.erase_customer("ada")
    assert store.consents("ada") == []
