"""The `store` fixture: every store test runs on SQLite and on PostgreSQL.

PostgreSQL tests get a private schema each (via the search path), so several
developers or CI jobs can share one server. They fail, never skip, when the
server is down: CI starts one, and a silently skipped backend hides bugs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from dsl.compiled import CompiledJourney
from dsl.loader import load_file
from engine.store import Store

REPO = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get(
    "CXFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        reason = str(error.orig).strip().splitlines()[0]
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({reason}): start it "
            "(CI does) or point CXFLOW_TEST_POSTGRES_URL at a server",
            pytrace=False,
        )
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path / 'cxflow.db'}")
        yield opened
        opened.dispose()
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"cxflow_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        opened = Store.open(POSTGRES_URL, search_path=schema)
        yield opened
        opened.dispose()
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def journey() -> CompiledJourney:
    compiled = load_file(REPO / "journeys" / "abandoned-cart.yaml").compiled
    assert compiled is not None
    return compiled


@dataclass(frozen=True)
class EmptyDatabase:
    """An empty SQLite file or PostgreSQL schema: how to open a store on it, and an engine."""

    url: str
    search_path: str | None
    engine: Engine

    def open(self) -> Store:
        return Store.open(self.url, search_path=self.search_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmptyDatabase]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cxflow.db'}"
        engine = create_engine(url)
        yield EmptyDatabase(url, None, engine)
        engine.dispose()
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"cxflow_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield EmptyDatabase(POSTGRES_URL, schema, engine)
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
