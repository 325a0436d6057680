"""Alembic's entry point: migrations run on the connection cxflow hands over.

cxflow runs migrations itself (``engine.store.migrate.upgrade``, called when a store is
opened, and ``cxflow db upgrade``), inside a transaction it holds with a lock,
so this file only configures the migration context for that connection.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from engine.store.tables import Base, UTCDateTime


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write cxflow's column types as plain SQLAlchemy types in new revisions."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_item=render_item,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "cxflow's migrations run through `cxflow db upgrade` (or when a store is opened), "
        "not through the alembic command"
    )
run(connection)
