"""Alembic migrations of the store's schema (see engine.schema for how they run)."""
