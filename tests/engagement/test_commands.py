"""`cxflow suppressions list|add|remove` and the engagement in `cxflow customers show`, run
as a user does: in a subprocess, on a store file filled through the store's own calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.store import Store
from engine.store.engagement import address_hash
from tests.cli.conftest import cxflow_on
from tests.engagement.conftest import sent_message


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "cxflow.db"
    Store.open(f"sqlite:///{path}").dispose()
    return path


def opened(database: Path) -> Store:
    return Store.open(f"sqlite:///{database}")


def test_add_list_and_remove(database: Path) -> None:
    added = cxflow_on(database, "suppressions", "add", "email", " Ada@Example.com")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "suppressed the address on email (manual)"
    again = cxflow_on(
        database, "suppressions", "add", "email", "ada@example.com", "--reason", "hard_bounce"
    )
    assert again.stdout.startswith("already suppressed on email: manual (cli, since ")

    listed = cxflow_on(database, "suppressions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["channel"], row["reason"], row["source"]) == ("email", "manual", "cli")
    assert row["address"] == address_hash("ada@example.com")
    assert "ada" not in listed.stdout.lower()
    table = cxflow_on(database, "suppressions", "list")
    assert address_hash("ada@example.com")[:16] in table.stdout and "manual" in table.stdout
    assert cxflow_on(database, "suppressions", "list", "--channel", "sms").stdout.strip() == (
        "no suppressed address on sms"
    )

    removed = cxflow_on(database, "suppressions", "remove", "email", "ADA@example.com")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "lifted the suppression of the address on email (manual)"
    store = opened(database)
    try:
        assert store.suppressions.list() == []
    finally:
        store.dispose()


def test_a_reason_is_kept(database: Path) -> None:
    added = cxflow_on(
        database, "suppressions", "add", "sms", "+33600000000", "--reason", "spam_complaint"
    )
    assert added.returncode == 0, added.stderr
    store = opened(database)
    try:
        found = store.suppressions.check("sms", "+33600000000")
        assert found is not None and (found.reason, found.source) == ("spam_complaint", "cli")
    finally:
        store.dispose()


def test_removing_what_is_not_suppressed_says_where_to_look(database: Path) -> None:
    removed = cxflow_on(database, "suppressions", "remove", "email", "nobody@example.com")
    assert removed.returncode == 2
    assert "not suppressed on email: see `cxflow suppressions list --channel email`" in (
        removed.stderr
    )
    assert "Traceback" not in removed.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "emial", "ada@example.com"), "did you mean 'email'?"),
        (("add", "email", "ada@example.com", "--reason", "angry"), "is not one of hard_bounce"),
        (("add", "email", "  "), "the address is empty"),
    ],
)
def test_bad_input_is_explained(database: Path, args: tuple[str, ...], message: str) -> None:
    refused = cxflow_on(database, "suppressions", *args)
    assert refused.returncode == 2
    assert message in refused.stderr and "Traceback" not in refused.stderr


def test_the_profile_shows_suppressions_and_engagement(database: Path) -> None:
    store = opened(database)
    try:
        store.upsert_customer("ada", {"email": "ada@example.com"})
        first = sent_message(store, "ada", "welcome")
        second = sent_message(store, "ada", "tips")
        for key, message, kind in (
            ("d1", first, "delivered"),
            ("d2", second, "delivered"),
            ("o1", first, "opened"),
            ("o2", first, "opened"),
        ):
            assert message.ref is not None
            store.engagement.record(
                dedupe_key=key,
                message_ref=message.ref,
                kind=kind,  # type: ignore[arg-type]
                customer_id="ada",
                journey_id="onboarding",
                step_id=message.step_id,
                channel="email",
            )
        store.suppressions.add(
            "email", "ada@example.com", "hard_bounce", "ada", first.ref, "postmark"
        )
    finally:
        store.dispose()

    shown = cxflow_on(database, "customers", "show", "ada")
    assert shown.returncode == 0, shown.stderr
    assert "suppressed: email address hard_bounce (postmark, " in shown.stdout
    assert "messages delivered 2, opened 1" in shown.stdout

    profile = json.loads(cxflow_on(database, "customers", "show", "ada", "--json").stdout)
    assert profile["engagement"] == {"delivered": 2, "opened": 1}
    [suppression] = profile["suppressions"]
    assert (suppression["reason"], suppression["address"]) == (
        "hard_bounce",
        address_hash("ada@example.com"),
    )
