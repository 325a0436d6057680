"""The console's accounts and the audit log of what operators did.

Passwords are hashed with argon2id (argon2-cffi's defaults, the RFC 9106 recommendation);
only the hash is kept, and a hash made with older parameters is replaced at the next
successful login. Checking an unknown email costs the same as checking a known one, so
timing tells nobody which addresses have accounts.
"""

from __future__ import annotations

from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from engine.errors import AccountError
from engine.store.database import Database, _json_object, _now
from engine.store.records import AuditRecord, ConsoleUserRecord
from engine.store.tables import ROLES, AuditRow, ConsoleSessionRow, ConsoleUserRow

Role = Literal["viewer", "operator", "admin"]
MIN_PASSWORD_CHARS = 12
_HASHER = PasswordHasher()
# Verified against when the email is unknown: the same work as for a real account.
_DUMMY_HASH = _HASHER.hash("not a password anyone has")


def _normal(email: str) -> str:
    address = email.strip().lower()
    local, at, domain = address.partition("@")
    if not (local and at and "." in domain) or any(c.isspace() for c in address):
        raise AccountError(
            f"{email!r} is not an email address: a console account is named by one, "
            "e.g. ops@shop.example",
            code="account_email_invalid",
        )
    return address


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(
            f"the password has {len(password)} characters: use at least "
            f"{MIN_PASSWORD_CHARS} (a passphrase of a few words is easy to remember)",
            code="password_too_short",
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(
            f"there is no role {role!r}: use {', '.join(ROLES)} (viewer reads, operator "
            "also pauses journeys and sends tests, admin also manages accounts)",
            code="role_unknown",
        )


def _user(row: ConsoleUserRow) -> ConsoleUserRecord:
    return ConsoleUserRecord.model_validate(row, from_attributes=True)


class Users:
    """The ``console_users`` and ``audit_log`` tables."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def create(self, email: str, password: str, role: str, name: str = "") -> ConsoleUserRecord:
        """A new account; :class:`AccountError` for a taken email, a short password or an
        unknown role."""
        address = _normal(email)
        _check_password(password)
        _check_role(role)
        now = _now()
        with self._db.writes.begin() as session:
            taken = session.scalar(select(ConsoleUserRow.id).where(ConsoleUserRow.email == address))
            if taken is not None:
                raise AccountError(
                    f"{address} has an account already: `cxflow users list` shows it",
                    code="account_exists",
                )
            row = ConsoleUserRow(
                email=address,
                name=name.strip(),
                role=role,
                password_hash=_HASHER.hash(password),
                disabled=False,
                created_at=now,
                updated_at=now,
                last_login_at=None,
            )
            session.add(row)
            session.flush()
            return _user(row)

    def by_id(self, user_id: int) -> ConsoleUserRecord | None:
        with self._db.reads.begin() as session:
            row = session.get(ConsoleUserRow, user_id)
            return None if row is None else _user(row)

    def get(self, email: str) -> ConsoleUserRecord | None:
        with self._db.reads.begin() as session:
            row = session.scalar(
                select(ConsoleUserRow).where(ConsoleUserRow.email == email.strip().lower())
            )
            return None if row is None else _user(row)

    def all(self) -> list[ConsoleUserRecord]:
        with self._db.reads.begin() as session:
            rows = session.scalars(select(ConsoleUserRow).order_by(ConsoleUserRow.email))
            return [_user(row) for row in rows]

    def set_disabled(self, email: str, disabled: bool) -> ConsoleUserRecord:
        """Disable (or enable again) an account: a disabled one cannot log in."""
        return self._change(email, disabled=disabled)

    def set_role(self, email: str, role: str) -> ConsoleUserRecord:
        _check_role(role)
        return self._change(email, role=role)

    def set_password(self, email: str, password: str) -> ConsoleUserRecord:
        _check_password(password)
        return self._change(email, password_hash=_HASHER.hash(password))

    def _change(self, email: str, **values: Any) -> ConsoleUserRecord:
        address = email.strip().lower()
        with self._db.writes.begin() as session:
            row = session.scalar(
                select(ConsoleUserRow).where(ConsoleUserRow.email == address).with_for_update()
            )
            if row is None:
                raise AccountError(
                    f"there is no account {address!r}: `cxflow users list` shows them",
                    code="account_unknown",
                )
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = _now()
            if values.get("disabled") or "password_hash" in values:
                # A disabled account or a new password ends every console login of the account.
                session.execute(
                    delete(ConsoleSessionRow).where(ConsoleSessionRow.user_id == row.id)
                )
            session.flush()
            return _user(row)

    def authenticate(self, email: str, password: str) -> ConsoleUserRecord | None:
        """The account, if the password is its own and it is enabled; else None.

        The hash is checked outside any transaction (argon2 takes a moment, and a login
        must hold no lock the event intake waits for); only a success writes: its time,
        and a new hash when the old one was made with older parameters."""
        address = email.strip().lower()
        with self._db.reads.begin() as session:
            row = session.scalar(select(ConsoleUserRow).where(ConsoleUserRow.email == address))
            stored = None if row is None else (row.id, row.password_hash, row.disabled)
        try:
            _HASHER.verify(stored[1] if stored is not None else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if stored is None or stored[2]:
            return None
        with self._db.writes.begin() as session:
            current = session.get(ConsoleUserRow, stored[0])
            if current is None or current.disabled or current.password_hash != stored[1]:
                return None  # disabled or given a new password meanwhile
            if _HASHER.check_needs_rehash(current.password_hash):
                current.password_hash = _HASHER.hash(password)
            current.last_login_at = _now()
            session.flush()
            return _user(current)

    def audit(
        self, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> AuditRecord:
        """Record what an operator did (``actor``: their email, or ``cli`` for a command)."""
        with self._db.writes.begin() as session:
            row = AuditRow(
                at=_now(),
                actor=actor,
                action=action,
                target=target,
                detail=_json_object(detail or {}, "audit detail"),
            )
            session.add(row)
            session.flush()
            return AuditRecord.model_validate(row, from_attributes=True)

    def audit_log(self, limit: int = 100) -> list[AuditRecord]:
        """The latest actions, newest first."""
        statement = select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
        with self._db.reads.begin() as session:
            return [
                AuditRecord.model_validate(r, from_attributes=True)
                for r in session.scalars(statement)
            ]
