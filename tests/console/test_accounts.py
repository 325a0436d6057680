"""Console accounts: argon2id hashes, roles, disabled accounts, the audit log; and the
`cxflow users` commands as an operator runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.errors import AccountError
from engine.store import Store
from engine.store.tables import ConsoleUserRow
from tests.cli.conftest import cxflow_on

PASSWORD = "correct horse battery staple"


def test_an_account_logs_in_with_its_password_only(store: Store) -> None:
    user = store.users.create(" Ops@Shop.Example ", PASSWORD, "operator", "Olga")
    assert (user.email, user.role, user.name, user.disabled) == (
        "ops@shop.example",
        "operator",
        "Olga",
        False,
    )
    assert store.users.authenticate("ops@shop.example", "wrong password!!") is None
    assert store.users.authenticate("nobody@shop.example", PASSWORD) is None
    logged_in = store.users.authenticate("OPS@shop.example", PASSWORD)
    assert logged_in is not None and logged_in.last_login_at is not None


def test_only_an_argon2id_hash_is_stored(store: Store) -> None:
    store.users.create("ops@shop.example", PASSWORD, "viewer")
    with store.database.reads.begin() as session:
        [row] = session.query(ConsoleUserRow).all()
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert "password_hash" not in store.users.all()[0].model_dump()


def test_a_disabled_account_cannot_log_in_until_enabled(store: Store) -> None:
    store.users.create("ops@shop.example", PASSWORD, "viewer")
    store.users.set_disabled("ops@shop.example", True)
    assert store.users.authenticate("ops@shop.example", PASSWORD) is None
    store.users.set_disabled("ops@shop.example", False)
    assert store.users.authenticate("ops@shop.example", PASSWORD) is not None


@pytest.mark.parametrize(
    ("email", "password", "role", "code"),
    [
        ("not-an-address", PASSWORD, "viewer", "account_email_invalid"),
        ("ops@shop.example", "short", "viewer", "password_too_short"),
        ("ops@shop.example", PASSWORD, "owner", "role_unknown"),
    ],
)
def test_bad_accounts_are_refused_with_what_to_do(
    store: Store, email: str, password: str, role: str, code: str
) -> None:
    with pytest.raises(AccountError) as refused:
        store.users.create(email, password, role)
    assert refused.value.code == code
    assert store.users.all() == []


def test_one_account_per_email_and_changes_to_unknown_ones_are_refused(store: Store) -> None:
    store.users.create("ops@shop.example", PASSWORD, "viewer")
    with pytest.raises(AccountError) as taken:
        store.users.create("OPS@shop.example", PASSWORD, "admin")
    assert taken.value.code == "account_exists"
    with pytest.raises(AccountError) as unknown:
        store.users.set_role("who@shop.example", "admin")
    assert unknown.value.code == "account_unknown"


def test_a_new_password_replaces_the_old_one(store: Store) -> None:
    store.users.create("ops@shop.example", PASSWORD, "viewer")
    store.users.set_password("ops@shop.example", "another long passphrase")
    assert store.users.authenticate("ops@shop.example", PASSWORD) is None
    assert store.users.authenticate("ops@shop.example", "another long passphrase") is not None


def test_the_audit_log_keeps_who_did_what_newest_first(store: Store) -> None:
    store.users.audit("ops@shop.example", "journey.paused", "abandoned-cart", {"why": "typo"})
    store.users.audit("cli", "user.created", "new@shop.example")
    first, second = store.users.audit_log()
    assert (first.action, second.action) == ("user.created", "journey.paused")
    assert second.detail == {"why": "typo"} and second.actor == "ops@shop.example"


# --- the command line ------------------------------------------------------------------


def users(database: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return cxflow_on(database, "users", *args, stdin=stdin)


def test_the_commands_create_list_disable_and_audit(tmp_path: Path) -> None:
    database = tmp_path / "cxflow.db"
    Store.open(f"sqlite:///{database}").dispose()  # migrated, as `cxflow dev` leaves it
    made = users(database, "create", "admin@shop.example", "--role", "admin", "--password-stdin",
                 stdin=PASSWORD + "\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    generated = users(database, "create", "viewer@shop.example", stdin="")
    assert generated.returncode == 0, generated.stderr
    [shown] = [line for line in generated.stderr.splitlines() if "password" in line]
    password = shown.rpartition(": ")[2].strip()
    assert len(password) >= 20

    store = Store.open(f"sqlite:///{database}")
    try:
        assert store.users.authenticate("admin@shop.example", PASSWORD) is not None
        assert store.users.authenticate("viewer@shop.example", password) is not None
    finally:
        store.dispose()
    assert users(database, "disable", "viewer@shop.example").returncode == 0
    listed = json.loads(users(database, "list", "--json").stdout)
    assert [(u["email"], u["role"], u["disabled"]) for u in listed] == [
        ("admin@shop.example", "admin", False),
        ("viewer@shop.example", "viewer", True),
    ]
    assert all("password" not in key for u in listed for key in u)
    actions = [a["action"] for a in json.loads(users(database, "audit", "--json").stdout)]
    assert actions == ["user.disabled", "user.created", "user.created"]


def test_a_bad_role_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    database = tmp_path / "cxflow.db"
    Store.open(f"sqlite:///{database}").dispose()
    refused = users(database, "create", "x@shop.example", "--role", "owner", "--password-stdin",
                    stdin=PASSWORD + "\n")  # fmt: skip
    assert refused.returncode == 2
    assert "no role 'owner'" in refused.stderr and "Traceback" not in refused.stderr
