"""Ingest fixtures: the runtime engine (SQLite or PostgreSQL), the event API in front."""

from __future__ import annotations

from tests.api.conftest import api, pg_engine  # noqa: F401
from tests.runtime.conftest import engine, receiver  # noqa: F401
from tests.store.conftest import postgres_admin  # noqa: F401
