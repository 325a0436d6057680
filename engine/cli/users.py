"""`cxflow users create|list|disable|enable|role|password|audit`: the console's accounts.

An account is an email, a role (viewer reads; operator also pauses journeys and sends
tests; admin also manages accounts) and a password, hashed with argon2id
(:mod:`engine.store.users`). A password is asked for twice, hidden, or read from standard
input with ``--password-stdin`` (scripts, provisioning); without either, `create` makes
a strong one and prints it once. Every change is written to the audit log (actor
``cli``). :mod:`engine.cli.main` registers the app as `cxflow users`.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.context import open_store
from engine.cli.output import err, out
from engine.settings import Settings
from engine.store import Store
from engine.store.records import ConsoleUserRecord

users_app = typer.Typer(
    help="Console accounts: who may log in, with which role.", no_args_is_help=True
)

EmailArg = Annotated[str, typer.Argument(help="The account's email address.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
StdinFlag = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]
ACTOR = "cli"


def _password(from_stdin: bool, *, generate: bool) -> tuple[str, bool]:
    """The password, and whether it was made here (so it must be shown once)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if generate and not sys.stdin.isatty():
        return secrets.token_urlsafe(18), True
    if generate:
        typed = typer.prompt(
            "Password (empty: make one)", default="", hide_input=True, show_default=False
        )
        if not typed:
            return secrets.token_urlsafe(18), True
        again = typer.prompt("Again", hide_input=True)
        if again != typed:
            raise typer.BadParameter("the two passwords differ")
        return typed, False
    typed = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    return str(typed), False


def _print(records: list[ConsoleUserRecord], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in records]))
        return
    if not records:
        out.print("no console accounts: `cxflow users create EMAIL --role admin` makes the first")
        return
    table = Table("email", "name", "role", "status", "last login", "created")
    for r in records:
        table.add_row(
            escape(r.email),
            escape(r.name),
            r.role,
            "disabled" if r.disabled else "active",
            r.last_login_at.strftime("%Y-%m-%d %H:%M") if r.last_login_at else "never",
            r.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@users_app.command("create")
def create(
    email: EmailArg,
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
    name: Annotated[str, typer.Option(help="The person's name, as the console shows it.")] = "",
    password_stdin: StdinFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Make an account (its password asked for, read from stdin, or made and shown once)."""
    password, made = _password(password_stdin, generate=True)
    with open_store(Settings.from_env()) as store:
        user = store.users.create(email, password, role, name)
        store.users.audit(ACTOR, "user.created", user.email, {"role": user.role})
    _print([user], as_json)
    if made:
        err.print(f"password (shown once, keep it safe): {escape(password)}")


@users_app.command("list")
def list_users(as_json: JsonFlag = False) -> None:
    """Every account, with its role and last login."""
    with open_store(Settings.from_env()) as store:
        _print(store.users.all(), as_json)


@users_app.command("disable")
def disable(email: EmailArg, as_json: JsonFlag = False) -> None:
    """Stop an account from logging in (its history stays)."""
    with open_store(Settings.from_env()) as store:
        user = store.users.set_disabled(email, True)
        store.users.audit(ACTOR, "user.disabled", user.email)
    _print([user], as_json)


@users_app.command("enable")
def enable(email: EmailArg, as_json: JsonFlag = False) -> None:
    """Let a disabled account log in again."""
    with open_store(Settings.from_env()) as store:
        user = store.users.set_disabled(email, False)
        store.users.audit(ACTOR, "user.enabled", user.email)
    _print([user], as_json)


@users_app.command("role")
def set_role(
    email: EmailArg,
    role: Annotated[str, typer.Argument(help="viewer, operator or admin.")],
    as_json: JsonFlag = False,
) -> None:
    """Change an account's role."""
    with open_store(Settings.from_env()) as store:
        user = store.users.set_role(email, role)
        store.users.audit(ACTOR, "user.role_changed", user.email, {"role": role})
    _print([user], as_json)


@users_app.command("password")
def set_password(email: EmailArg, password_stdin: StdinFlag = False) -> None:
    """Set an account's password (asked for twice, hidden, or read from stdin)."""
    password, _ = _password(password_stdin, generate=False)
    with open_store(Settings.from_env()) as store:
        user = store.users.set_password(email, password)
        store.users.audit(ACTOR, "user.password_set", user.email)
    out.print(f"password of {escape(user.email)} set")


@users_app.command("audit")
def audit(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """What operators did, newest first: who, what, on what, when."""
    with open_store(Settings.from_env()) as store:
        records = store.users.audit_log(limit)
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in records]))
        return
    table = Table("at", "actor", "action", "target", "detail")
    for r in records:
        table.add_row(
            r.at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(r.actor),
            r.action,
            escape(r.target),
            escape(json.dumps(r.detail)) if r.detail else "",
        )
    out.print(table)


FIRST_ADMIN = "admin@example.com"


def first_console_login(store: Store, data_dir: Path) -> tuple[str, str] | None:
    """The first console login of a development or demo store (`cxflow dev`, `cxflow demo
    --console`): an admin account with a made-up password, kept in the data folder
    (readable by its owner only) so every start can print it. None when the store has
    accounts of its own (``cxflow users list``)."""
    path = data_dir / "console-login"
    if path.exists():
        email, _, password = path.read_text(encoding="utf-8").strip().partition("\n")
        if store.users.get(email) is not None:
            return email, password
    if store.users.all():
        return None
    password = secrets.token_urlsafe(18)
    store.users.create(FIRST_ADMIN, password, "admin", name="Dev admin")
    store.users.audit("cli", "user.created", FIRST_ADMIN, {"role": "admin", "by": "first start"})
    path.write_text(f"{FIRST_ADMIN}\n{password}\n", encoding="utf-8")
    path.chmod(0o600)
    return FIRST_ADMIN, password
