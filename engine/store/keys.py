"""API keys: created once (returned once, stored as a SHA-256 hash), checked per request."""

from __future__ import annotations

import hashlib
import re
import secrets
from urllib.parse import urlsplit

from sqlalchemy import delete, select

from engine.errors import StoreError
from engine.store.database import Database, _now
from engine.store.records import KEY_SCOPES, WRITE_KEY_PREFIX, KeyScope, WriteKeyRecord
from engine.store.tables import SourceOriginRow, WriteKeyRow

_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_WRITE_KEY = re.compile(r"^cxk_[A-Za-z0-9_-]{32}$")


def _key_hash(key: str) -> str:
    """Keys are 192 random bits, so a plain SHA-256 is enough: no salt or slow hash needed."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Keys:
    """The ``write_keys`` table (it holds read keys too, told apart by their scope)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def create(self, source: str, scope: KeyScope = "write") -> str:
        """A new API key for the source; the key is returned once and stored hashed.

        A source may hold several keys (to rotate one without downtime). ``write``
        keys send events; ``read`` keys read reports.
        """
        if not _SOURCE_NAME.match(source):
            raise StoreError(
                f"source name {source!r} must be 1 to 100 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit, e.g. web-shop"
            )
        if scope not in KEY_SCOPES:
            raise StoreError(f"a key's scope is one of {', '.join(KEY_SCOPES)}; got {scope!r}")
        key = WRITE_KEY_PREFIX + secrets.token_urlsafe(24)  # 24 bytes: 32 url-safe characters
        with self._db.writes.begin() as session:
            session.add(
                WriteKeyRow(
                    key_hash=_key_hash(key),
                    source=source,
                    key_prefix=key[: len(WRITE_KEY_PREFIX) + 4],
                    created_at=_now(),
                    scope=scope,
                )
            )
        return key

    def check(self, key: str, scope: KeyScope = "write") -> str | None:
        """The source the key belongs to, or None when it is not a known key of that scope."""
        if not _WRITE_KEY.match(key):
            return None
        with self._db.reads.begin() as session:
            row = session.get(WriteKeyRow, _key_hash(key))
            return None if row is None or row.scope != scope else row.source

    def listed(self) -> list[WriteKeyRecord]:
        """Every write key's source, prefix and creation time, by source then age."""
        statement = select(WriteKeyRow).order_by(WriteKeyRow.source, WriteKeyRow.created_at)
        with self._db.reads.begin() as session:
            return [
                WriteKeyRecord(
                    source=row.source,
                    key_prefix=row.key_prefix,
                    created_at=row.created_at,
                    scope=row.scope,
                )
                for row in session.scalars(statement)
            ]

    # --- browser origins (CORS) -------------------------------------------------------------

    def allow_origins(self, source: str, origins: list[str]) -> list[str]:
        """Let pages of these origins send the source's events from a browser; all now allowed.

        An origin is ``scheme://host[:port]`` as browsers send it (no path), or ``*`` for
        every origin.
        """
        checked = [_origin(origin) for origin in origins]
        with self._db.writes.begin() as session:
            for origin in checked:
                self._db.insert_ignore(
                    session,
                    SourceOriginRow,
                    ["source", "origin"],
                    source=source,
                    origin=origin,
                    created_at=_now(),
                )
        return self.origins().get(source, [])

    def disallow_origins(self, source: str, origins: list[str]) -> list[str]:
        """Stop these origins sending the source's events; the origins still allowed."""
        checked = [_origin(origin) for origin in origins]
        with self._db.writes.begin() as session:
            session.execute(
                delete(SourceOriginRow).where(
                    SourceOriginRow.source == source, SourceOriginRow.origin.in_(checked)
                )
            )
        return self.origins().get(source, [])

    def origins(self) -> dict[str, list[str]]:
        """Every source's allowed browser origins."""
        statement = select(SourceOriginRow.source, SourceOriginRow.origin).order_by(
            SourceOriginRow.source, SourceOriginRow.origin
        )
        allowed: dict[str, list[str]] = {}
        with self._db.reads.begin() as session:
            for source, origin in session.execute(statement):
                allowed.setdefault(source, []).append(origin)
        return allowed


def _origin(value: str) -> str:
    """A web origin as browsers send it in ``Origin``, lower-cased; or ``*``."""
    if value == "*":
        return value
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise StoreError(
            f"{value!r} is not a web origin: write scheme://host[:port], e.g. "
            "https://shop.example.com (no path), or * for every origin",
            code="origin_invalid",
        )
    default = {"http": 80, "https": 443}[parts.scheme]
    # Browsers leave the scheme's own port out of Origin: so must the stored origin.
    port = f":{parts.port}" if parts.port not in (None, default) else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"
