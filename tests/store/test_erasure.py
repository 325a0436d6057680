"""Erasing a customer in the store, on SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.store import (
    ERASED_PREFIX,
    ERASED_TABLES,
    PSEUDONYMISED_TABLES,
    ConversionRecord,
    Store,
)
from engine.store.tables import Base
from tests.store.test_store import T0, make_event, make_run
from workflows.ids import MAX_WORKFLOW_ID_BYTES, workflow_id_for

ADA, BOB = "ada:1", "bob"


def fill(store: Store, customer: str, tag: str) -> None:
    """A profile, two events, a segment, a finished run with a sent message and a conversion."""
    workflow_id = f"journey:abandoned-cart:{customer}"
    store.upsert_customer(customer, {"email": f"{tag}@example.com"}, "Europe/Paris")
    store.record_event(make_event(f"{tag}-m1", customer_id=customer))
    store.record_event(make_event(f"{tag}-m2", "order.completed", customer_id=customer))
    store.set_segments(customer, {"vip"})
    store.set_consent(customer, "email", False, "unsubscribe_link")
    store.run_started(make_run(workflow_id, f"{tag}-run", customer_id=customer))
    store.run_finished(workflow_id, f"{tag}-run", "completed", ended_at=T0 + timedelta(hours=2))
    store.claim_message(f"{tag}-run:send", workflow_id, "send", "email", customer)
    store.complete_message(f"{tag}-run:send", "sent", {"to": f"{tag}@example.com"})
    store.assign_variant("cart-offer", customer, "discount")
    store.record_conversion(
        ConversionRecord(
            workflow_id=workflow_id,
            run_id=f"{tag}-run",
            journey_id="abandoned-cart",
            customer_id=customer,
            goal_event="order.completed",
            message_id=f"{tag}-m2",
            variant="discount",
            converted_at=T0 + timedelta(hours=1),
        )
    )


def test_erasure_deletes_personal_data_and_keeps_figures_under_a_pseudonym(
    store: Store,
) -> None:
    fill(store, ADA, "ada")
    fill(store, BOB, "bob")

    erased = store.erase_customer(ADA)

    assert erased.deleted == {
        "segment_memberships": 1,
        "segment_changes": 0,  # set_segments keeps no history; recompute_segments does
        "group_memberships": 0,
        "consents": 1,
        "consent_changes": 1,
        "customer_merges": 0,
        "events": 2,
        "message_engagement": 0,
        "customer_value": 1,  # the order event's figures
        "customers": 1,
    }
    assert erased.pseudonymised == {
        "runs": 1,
        "message_log": 1,
        "conversions": 1,
        "experiment_assignments": 1,
    }
    assert erased.pseudonym.startswith(ERASED_PREFIX)
    assert store.get_customer(ADA) is None
    assert store.events_for(ADA) == []
    assert store.customer_value.get(ADA).orders == 0
    assert store.customer_value.get(BOB).orders == 1
    assert store.segment_members("vip") == [BOB]
    assert store.get_runs(customer_id=ADA) == []
    assert store.messages_for(customer_id=ADA) == []

    (run,) = store.get_runs(customer_id=erased.pseudonym)
    assert run.workflow_id == f"journey:abandoned-cart:{erased.pseudonym}"
    assert (run.status, run.journey_id) == ("completed", "abandoned-cart")
    (message,) = store.messages_for(customer_id=erased.pseudonym)
    assert (message.status, message.detail) == ("sent", {"erased": True})
    assert message.workflow_id == run.workflow_id
    assert store.assignments("cart-offer") == {BOB: "discount", erased.pseudonym: "discount"}
    conversions = {c.customer_id: c for c in store.conversions("abandoned-cart")}
    assert set(conversions) == {BOB, erased.pseudonym}
    assert conversions[erased.pseudonym].workflow_id == run.workflow_id

    # Bob is untouched.
    bob = store.get_customer(BOB)
    assert bob is not None and bob.traits == {"email": "bob@example.com"}
    assert len(store.events_for(BOB)) == 2
    assert store.messages_for(customer_id=BOB)[0].detail == {"to": "bob@example.com"}


def test_erasing_twice_or_an_unknown_customer_changes_nothing(store: Store) -> None:
    fill(store, BOB, "bob")
    first = store.erase_customer("nobody")
    assert sum(first.deleted.values()) == 0 and first.pseudonymised == {}
    store.erase_customer(BOB)
    again = store.erase_customer(BOB)
    assert sum(again.deleted.values()) == 0 and again.pseudonymised == {}


def test_each_erasure_gets_its_own_pseudonym(store: Store) -> None:
    fill(store, ADA, "ada")
    fill(store, BOB, "bob")
    assert store.erase_customer(ADA).pseudonym != store.erase_customer(BOB).pseudonym


def fill_as_the_runtime_does(store: Store, customer: str, journey: str = "abandoned-cart") -> str:
    """Rows with the customer's id embedded as the runtime embeds it; the workflow id."""
    workflow_id = workflow_id_for(journey, customer)
    store.upsert_customer(customer, {"email": "ada@example.com"})
    store.record_event(make_event(f"{customer}-signup", customer_id=customer))
    store.run_started(
        make_run(
            workflow_id,
            "entry-1",
            customer_id=customer,
            trigger_message_id=f"{customer}-signup",
            journey_id=journey,
        )
    )
    store.run_step(workflow_id, "entry-1", "send-reminder", T0)
    key = f"{workflow_id}/entry-1/send-reminder/1"
    store.claim_message(key, workflow_id, "send-reminder", "email", customer)
    store.complete_message(key, "sent", {"to": "ada@example.com"})
    store.record_conversion(
        ConversionRecord(
            workflow_id=workflow_id,
            run_id="entry-1",
            journey_id=journey,
            customer_id=customer,
            goal_event="order.completed",
            message_id=f"order-of-{customer}",
            variant=None,
            converted_at=T0 + timedelta(hours=1),
        )
    )
    return workflow_id


def every_value(store: Store) -> list[tuple[str, str, str]]:
    """(table, column, text) of every text and JSON value in the store."""
    found = []
    with store._engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select()).mappings():
                for column, value in row.items():
                    found.append((table.name, column, str(value)))
    return found


def test_no_column_of_any_table_still_holds_an_erased_id(store: Store) -> None:
    """Idempotency keys, workflow ids and message ids embed the id: none may keep it."""
    customer = "ada.lovelace@example.com"
    fill_as_the_runtime_does(store, customer)
    fill(store, BOB, "bob")
    assert any(customer in text for _, _, text in every_value(store))  # the check can fail

    erased = store.erase_customer(customer)

    left = [(t, c) for t, c, text in every_value(store) if customer in text]
    assert left == []
    (message,) = store.messages_for(customer_id=erased.pseudonym)
    assert message.key == f"journey:abandoned-cart:{erased.pseudonym}/entry-1/send-reminder/1"
    assert store.get_message(message.key) is not None
    assert store.is_erased(customer) and not store.is_erased(BOB)


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_every_table_naming_a_customer_is_erased_or_pseudonymised(table: str) -> None:
    """A new table with customer data must be added to the erasure (engine/store/erasure.py)."""
    columns = set(Base.metadata.tables[table].columns.keys())
    if "customer_id" in columns or table == "customers":
        assert table in ERASED_TABLES + PSEUDONYMISED_TABLES, (
            f"table {table} holds customer data: make Store.erase_customer delete or "
            "pseudonymise it"
        )


def test_a_long_hashed_workflow_id_leaves_no_trace_of_the_customer(store: Store) -> None:
    """Past 255 bytes a workflow id ends with a hash of the customer id, not the id: the
    erasure derives the pseudonym's ids anew instead of replacing the id at the end."""
    journey = "j" * 63 + "x"  # the longest journey id
    customer = "ada.lovelace-" + "é" * 93 + "x"  # 200 bytes of UTF-8
    assert len(customer.encode()) == 200
    workflow_id = fill_as_the_runtime_does(store, customer, journey)
    assert len(workflow_id.encode()) <= MAX_WORKFLOW_ID_BYTES
    assert customer not in workflow_id  # hashed: a prefix and a digest are in it instead
    traces = (customer, workflow_id, customer[:24], workflow_id.rpartition("~")[2])
    found = every_value(store)
    assert all(any(trace in text for _, _, text in found) for trace in traces)

    erased = store.erase_customer(customer)

    left = [(t, c, trace) for t, c, text in every_value(store) for trace in traces if trace in text]
    assert left == []
    renamed = workflow_id_for(journey, erased.pseudonym)
    [run] = store.get_runs(customer_id=erased.pseudonym)
    assert run.workflow_id == renamed
    (message,) = store.messages_for(customer_id=erased.pseudonym)
    assert (message.key, message.workflow_id) == (f"{renamed}/entry-1/send-reminder/1", renamed)
