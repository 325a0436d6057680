"""The console's logins: one row per session, named by the sha256 of its cookie's token.

The cookie holds a random token; the store keeps only its hash, so a copy of the database
cannot be replayed as a login. Each session has its own CSRF token (the synchronizer
pattern: every form of the console carries it). A session ends at its expiry, after an
idle time, at logout, and when its account is disabled or its password changed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from engine.store.database import Database, _now
from engine.store.records import ConsoleSessionRecord, ConsoleUserRecord
from engine.store.tables import ConsoleSessionRow, ConsoleUserRow

# A session's seen_at is written at most this often (a page view is not a write each time).
SEEN_RESOLUTION = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ConsoleSessions:
    """The ``console_sessions`` table."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def open(self, user_id: int, lifetime: timedelta) -> tuple[str, ConsoleSessionRecord]:
        """A new session for the account: the cookie's token (returned once) and the record."""
        token = secrets.token_urlsafe(32)
        now = _now()
        with self._db.writes.begin() as session:
            row = ConsoleSessionRow(
                token_hash=token_hash(token),
                user_id=user_id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                seen_at=now,
                expires_at=now + lifetime,
            )
            session.add(row)
            session.flush()
            return token, ConsoleSessionRecord.model_validate(row, from_attributes=True)

    def resume(
        self, token: str, idle: timedelta
    ) -> tuple[ConsoleSessionRecord, ConsoleUserRecord] | None:
        """The live session of this cookie token and its enabled account, or None.

        A session past its expiry or idle longer than ``idle`` is deleted here."""
        now = _now()
        key = token_hash(token)
        with self._db.reads.begin() as session:
            found = session.execute(
                select(ConsoleSessionRow, ConsoleUserRow)
                .join(ConsoleUserRow, ConsoleUserRow.id == ConsoleSessionRow.user_id)
                .where(ConsoleSessionRow.token_hash == key)
            ).first()
            if found is None:
                return None
            row, user = found
            record = ConsoleSessionRecord.model_validate(row, from_attributes=True)
            account = ConsoleUserRecord.model_validate(user, from_attributes=True)
        if record.expires_at <= now or record.seen_at + idle <= now or account.disabled:
            self.close(token)
            return None
        if now - record.seen_at >= SEEN_RESOLUTION:
            with self._db.writes.begin() as session:
                current = session.get(ConsoleSessionRow, key)
                if current is not None:
                    current.seen_at = now
            record = record.model_copy(update={"seen_at": now})
        return record, account

    def close(self, token: str) -> None:
        with self._db.writes.begin() as session:
            session.execute(
                delete(ConsoleSessionRow).where(ConsoleSessionRow.token_hash == token_hash(token))
            )

    def close_all(self, user_id: int) -> int:
        """End every session of an account (disabled, password changed); how many ended."""
        with self._db.writes.begin() as session:
            result = session.execute(
                delete(ConsoleSessionRow).where(ConsoleSessionRow.user_id == user_id)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def purge_expired(self) -> int:
        with self._db.writes.begin() as session:
            result = session.execute(
                delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at <= _now())
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
