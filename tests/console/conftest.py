"""Console fixtures: the store on SQLite and PostgreSQL (the store tests' own)."""

from __future__ import annotations

from tests.store.conftest import postgres_admin, store

__all__ = ["postgres_admin", "store"]
