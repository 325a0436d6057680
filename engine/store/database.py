"""One database under the store: the URL, the engine, SQLite's pragmas and write lock, the
read and write session factories, idempotent inserts, and helpers every repository shares."""

from __future__ import annotations

import fcntl
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import JsonValue, TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, Engine, create_engine, event, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, CursorResult, Result, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Executable

from engine import clock
from engine.errors import SchemaError, StoreError
from engine.store.migrate import upgrade
from engine.store.tables import Base

SQLITE_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_JSON_OBJECT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


class Database:
    """The engine and session factories of one store; safe to share between threads.

    ``reads`` begins plain transactions; ``writes`` begins them with the write lock
    on SQLite (BEGIN IMMEDIATE), so a read-then-write transaction never fails at once.
    """

    def __init__(self, url: str, *, search_path: str | None = None) -> None:
        """Create the engine (no connection yet, no tables).

        ``search_path`` (PostgreSQL only) puts the tables in that schema, which
        must exist: tests use it to get a private schema each.
        """
        parsed = _parse_url(url)
        self.url = _shown(parsed)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if search_path is not None:
            if self.sqlite:
                raise StoreError("search_path is a PostgreSQL setting; SQLite has no schemas")
            if not _SCHEMA_NAME.match(search_path):
                raise StoreError(f"search_path must be a plain schema name, got {search_path!r}")
            connect_args["options"] = f"-csearch_path={search_path}"
        try:
            self.engine = create_engine(
                parsed, connect_args=connect_args, pool_pre_ping=not self.sqlite
            )
        except (ArgumentError, NoSuchModuleError, ImportError) as error:
            raise StoreError(f"cannot open the store at {self.url}: {error}") from None
        if self.sqlite:
            _prepare_sqlite(self.engine)
        self._database = parsed.database
        # Same pool; on SQLite the option makes a transaction begin with the write lock.
        self._write_engine = self.engine.execution_options(cxflow_write=True)
        self.reads = sessionmaker(self.engine, expire_on_commit=False)
        self.writes = sessionmaker(self._write_engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (see engine.store.migrate)."""
        try:
            if self.sqlite and self._database:
                database = Path(self._database)
                database.parent.mkdir(parents=True, exist_ok=True)
                # A new file's first connections race to switch it to WAL, which SQLite
                # refuses at once ("database is locked"): openers on this machine queue.
                with database.with_name(database.name + ".lock").open("a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    upgrade(self._write_engine)
            else:
                upgrade(self._write_engine)
        except SchemaError as error:
            raise StoreError(f"cannot open the store at {self.url}: {error}") from None
        except (SQLAlchemyError, OSError) as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise StoreError(f"cannot open the store at {self.url}: {reason}") from None

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def insert_ignore(
        self, session: Session, table: type[Base], keys: list[str], **values: Any
    ) -> bool:
        """Insert one row unless one with the same ``keys`` exists; True if inserted.

        ON CONFLICT DO NOTHING makes concurrent inserts of one key safe: exactly
        one wins and the others wait for it, then do nothing, without an error.
        """
        statement: Executable
        if self.dialect == "postgresql":
            statement = (
                postgresql.insert(table)
                .values(**values)
                .on_conflict_do_nothing(index_elements=keys)
                .returning(literal_column("1"))
            )
        else:
            statement = (
                sqlite.insert(table)
                .values(**values)
                .on_conflict_do_nothing(index_elements=keys)
                .returning(literal_column("1"))
            )
        # RETURNING, not rowcount: psycopg reports -1 for these inserts.
        return session.execute(statement).first() is not None


# --- opening the database -------------------------------------------------------------------


def _parse_url(url: str) -> URL:
    """The URL with its driver made explicit; only SQLite files and PostgreSQL are supported."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreError(f"cannot open the store at {url!r}: {error}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed):
            raise StoreError(
                f"cannot open the store at {_shown(parsed)}: an in-memory SQLite database is "
                "not shared between threads; use a file, e.g. sqlite:///.cxflow/cxflow.db"
            )
        return parsed
    raise StoreError(
        f"cannot open the store at {_shown(parsed)}: the {backend!r} backend is not supported; "
        "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"
    )


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _prepare_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and a write lock taken when a write begins.

    Python's sqlite3 module begins transactions lazily, so a read-then-write
    transaction would try to upgrade its lock and fail at once with "database is
    locked" under concurrency. cxflow emits BEGIN itself instead: BEGIN IMMEDIATE
    for writing sessions (they queue on the busy timeout), plain BEGIN for reads.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get("cxflow_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


# --- helpers the repositories share ---------------------------------------------------------


def _now() -> datetime:
    return clock.now()


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{what} must be a timezone-aware datetime, got {value.isoformat()}")
    return value.astimezone(UTC)


def _json_object(value: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        return dict(_JSON_OBJECT.validate_python(value, strict=True))
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise StoreError(f"{what} must be JSON values: {where}: {problem['msg']}") from None


def _rowcount(result: Result[Any]) -> int:
    """Rows a DELETE or UPDATE touched."""
    return max(cast(CursorResult[Any], result).rowcount, 0)


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise StoreError(f"limit must be at least 1, got {limit}")


def _check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StoreError(
            f"unknown timezone {timezone!r}: use an IANA name such as Europe/Paris"
        ) from None


def _check_status(status: str, allowed: tuple[str, ...], what: str) -> None:
    if status not in allowed:
        raise StoreError(f"{what} status must be one of {', '.join(allowed)}; got {status!r}")


def _in_period(
    column: InstrumentedAttribute[datetime], since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """The conditions that keep ``column`` in ``[since, until)`` (either end open)."""
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(column >= _aware(since, "since"))
    if until is not None:
        conditions.append(column < _aware(until, "until"))
    return conditions
