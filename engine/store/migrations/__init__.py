"""Alembic migrations of the store's schema (see engine.store.migrate for how they run)."""
