"""The store's schema comes from Alembic migrations, identical to the models on both backends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from engine.store import StoreError
from engine.store.migrate import current, head
from engine.store.tables import Base
from tests.store.conftest import EmptyDatabase


def test_the_migrations_build_exactly_the_tables_the_models_describe(
    empty_database: EmptyDatabase,
) -> None:
    empty_database.open().dispose()
    with empty_database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
        assert current(connection) == head()
    assert differences == [], (
        "engine/store/tables.py and engine/store/migrations disagree: write a revision with "
        '`python -m engine.store.migrate revision "what changed"`'
    )


def test_opening_again_keeps_the_data_and_the_revision(empty_database: EmptyDatabase) -> None:
    store = empty_database.open()
    store.upsert_customer("ada", {"plan": "pro"})
    store.dispose()
    reopened = empty_database.open()
    try:
        customer = reopened.get_customer("ada")
        assert customer is not None and customer.traits == {"plan": "pro"}
    finally:
        reopened.dispose()


def test_processes_opening_a_new_database_at_once_take_turns(
    empty_database: EmptyDatabase,
) -> None:
    def open_and_write(n: int) -> None:
        store = empty_database.open()
        try:
            store.upsert_customer(f"c{n}", {})
        finally:
            store.dispose()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(open_and_write, range(6)))
    store = empty_database.open()
    try:
        assert all(store.get_customer(f"c{n}") is not None for n in range(6))
    finally:
        store.dispose()


def test_a_database_from_before_migrations_is_refused_with_what_to_do(
    empty_database: EmptyDatabase,
) -> None:
    Base.metadata.create_all(empty_database.engine)
    with pytest.raises(StoreError, match="no migration history") as refused:
        empty_database.open()
    assert "delete .cxflow/cxflow.db" in str(refused.value)
