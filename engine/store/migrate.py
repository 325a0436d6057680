"""The store's schema, kept by Alembic migrations on SQLite and PostgreSQL.

Opening a store upgrades it to the newest revision, so `cxflow dev`, the API
and the workers never run against an old schema; several processes opening one
database at once take turns (PostgreSQL advisory lock, SQLite's write lock).
A schema change is a new revision in ``engine/migrations/versions``, written by

    python -m engine.store.migrate revision "what changed"

after editing ``engine/store_tables.py``; the tests check that the revisions
build exactly the tables the models describe, on both backends.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from engine.errors import SchemaError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock key: "cxflow" in ASCII, so other tools' locks do not collide.
_LOCK_KEY = 0x637866_6C6F77


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at; None before the first migration."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str | None:
    """Bring the database to the newest revision; the revision it was at before."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        before = current(connection)
        if before is None and inspect(connection).has_table("customers"):
            raise SchemaError(
                "this database has cxflow tables but no migration history: it was created "
                "by a development build before migrations existed. Move it aside (for "
                "`cxflow dev`: delete .cxflow/cxflow.db) and let cxflow create a new one"
            )
        if before != head():
            command.upgrade(_config(connection), "head")
        return before


def revision(message: str) -> None:
    """Write a new revision from the difference between the models and the revisions."""
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/schema.db")
        with engine.begin() as connection:
            command.upgrade(_config(connection), "head")
            command.revision(_config(connection), message=message, autogenerate=True)
        engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m engine.store.migrate revision "what changed"')
    revision(sys.argv[2])
