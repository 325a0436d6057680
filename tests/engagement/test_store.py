"""The engagement and suppression repositories, on SQLite and PostgreSQL (``store``)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from engine.store import Store, StoreError
from engine.store.engagement import address_hash
from tests.engagement.conftest import T0, sent_message


def record(
    store: Store, key: str, ref: str, kind: str, step: str = "welcome", **kw: object
) -> bool:
    fields: dict[str, object] = {
        "dedupe_key": key,
        "message_ref": ref,
        "kind": kind,
        "customer_id": "ada",
        "journey_id": "onboarding",
        "step_id": step,
        "channel": "email",
        "detail": {"source": "postmark"},
        "at": T0,
    }
    fields.update(kw)
    return store.engagement.record(**fields)  # type: ignore[arg-type]


def test_a_signal_is_stored_once_per_dedupe_key(store: Store) -> None:
    assert record(store, "pm:1", "r1", "delivered")
    assert not record(store, "pm:1", "r1", "delivered", at=T0 + timedelta(hours=1))
    [row] = store.engagement.for_customer("ada")
    assert (row.dedupe_key, row.kind, row.at, row.detail) == (
        "pm:1",
        "delivered",
        T0,
        {"source": "postmark"},
    )
    assert store.engagement.for_message("r1") == [row]


def test_an_unknown_kind_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="delivered, bounced, complained, opened, clicked"):
        record(store, "pm:1", "r1", "read")


def test_step_counts_count_messages_not_signals(store: Store) -> None:
    record(store, "o1", "r1", "opened")
    record(store, "o2", "r1", "opened", at=T0 + timedelta(minutes=1))  # opened twice
    record(store, "o3", "r2", "opened")
    record(store, "c1", "r1", "clicked")
    record(store, "d1", "r3", "delivered", step="tips")
    record(store, "x1", "r9", "opened", journey_id="other")
    assert store.engagement.step_counts("onboarding") == {
        "welcome": {"opened": 2, "clicked": 1},
        "tips": {"delivered": 1},
    }
    assert store.engagement.step_counts("nothing") == {}


def test_counts_keep_to_the_period(store: Store) -> None:
    record(store, "o1", "r1", "opened", at=T0 - timedelta(days=1))
    record(store, "o2", "r2", "opened", at=T0)
    record(store, "o3", "r3", "opened", at=T0 + timedelta(days=1))
    assert store.engagement.step_counts("onboarding", since=T0) == {"welcome": {"opened": 2}}
    assert store.engagement.channel_counts(since=T0, until=T0 + timedelta(days=1)) == {
        "email": {"opened": 1}
    }


def test_channel_and_customer_counts(store: Store) -> None:
    record(store, "o1", "r1", "opened")
    record(store, "o2", "r2", "opened", customer_id="bob")
    record(store, "s1", "r3", "delivered", channel="sms", customer_id="bob")
    assert store.engagement.channel_counts() == {
        "email": {"opened": 2},
        "sms": {"delivered": 1},
    }
    assert store.engagement.customer_counts("bob") == {"opened": 1, "delivered": 1}
    assert store.engagement.customer_counts("nobody") == {}


def test_a_suppression_holds_the_hash_of_the_normalised_address(store: Store) -> None:
    added = store.suppressions.add(
        "email", "  Ada@Example.COM ", "hard_bounce", "ada", "r1", "postmark", {"Type": "Hard"}
    )
    assert added.address == hashlib.sha256(b"ada@example.com").hexdigest()
    assert added.address == address_hash("ada@example.com")
    assert (added.reason, added.customer_id, added.message_ref, added.source) == (
        "hard_bounce",
        "ada",
        "r1",
        "postmark",
    )
    assert store.suppressions.check("email", "ada@example.com") == added
    assert store.suppressions.check("sms", "ada@example.com") is None
    assert store.suppressions.check("email", "bob@example.com") is None
    with store._engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT address, detail FROM suppressions").all()
    assert "example.com" not in str(stored).lower()


def test_adding_again_keeps_the_first_reason(store: Store) -> None:
    first = store.suppressions.add("email", "ada@example.com", "hard_bounce", "ada")
    again = store.suppressions.add("email", "ADA@example.com", "spam_complaint", "ada")
    assert again == first and again.reason == "hard_bounce"
    assert len(store.suppressions.list()) == 1


def test_remove_lifts_the_suppression(store: Store) -> None:
    store.suppressions.add("email", "ada@example.com", "manual")
    assert store.suppressions.remove("email", " ADA@example.com")
    assert not store.suppressions.remove("email", "ada@example.com")
    assert store.suppressions.check("email", "ada@example.com") is None


def test_listing_per_channel_and_per_customer(store: Store) -> None:
    store.suppressions.add("email", "ada@example.com", "hard_bounce", "ada")
    store.suppressions.add("sms", "+33600000000", "spam_complaint", "ada")
    store.suppressions.add("email", "bob@example.com", "manual")
    assert {s.channel for s in store.suppressions.list()} == {"email", "sms"}
    assert len(store.suppressions.list("email")) == 2
    assert [s.channel for s in store.suppressions.list("sms")] == ["sms"]
    assert {s.channel for s in store.suppressions.for_customer("ada")} == {"email", "sms"}
    assert store.suppressions.for_customer("bob") == []


@pytest.mark.parametrize("address", ["", "   "])
def test_an_empty_address_is_refused(store: Store, address: str) -> None:
    with pytest.raises(StoreError, match="cannot be empty"):
        store.suppressions.add("email", address, "manual")


def test_an_unknown_reason_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="hard_bounce, spam_complaint, manual"):
        store.suppressions.add("email", "ada@example.com", "angry")  # type: ignore[arg-type]


def test_erasure_deletes_engagement_and_keeps_suppressions_without_the_customer(
    store: Store,
) -> None:
    store.upsert_customer("ada", {"email": "ada@example.com"})
    message = sent_message(store, "ada")
    assert message.ref is not None
    record(store, "o1", message.ref, "opened")
    record(store, "o2", "r-bob", "opened", customer_id="bob")
    store.suppressions.add(
        "email", "ada@example.com", "spam_complaint", "ada", message.ref, "postmark", {"x": 1}
    )
    store.suppressions.add("email", "bob@example.com", "hard_bounce", "bob")

    erased = store.erase_customer("ada")

    assert erased.deleted["message_engagement"] == 1
    assert erased.pseudonymised["suppressions"] == 1
    assert store.engagement.for_customer("ada") == []
    assert len(store.engagement.for_customer("bob")) == 1
    kept = store.suppressions.check("email", "ada@example.com")
    assert kept is not None
    assert (kept.reason, kept.customer_id, kept.detail) == (
        "spam_complaint",
        None,
        {"erased": True},
    )
    assert store.suppressions.for_customer("ada") == []
    bob = store.suppressions.check("email", "bob@example.com")
    assert bob is not None and bob.customer_id == "bob"
