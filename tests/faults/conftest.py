"""Fault tests: real processes killed with SIGKILL, a real Temporal server restarted,
a real PostgreSQL losing its connections.

Each test counts what a customer would notice, at a real peer (an HTTP receiver on
loopback), and the runs in the store: a 200 from the API must end as exactly one run
per trigger and one delivery per message (an SMTP copy with the same Message-ID
aside: SMTP has no idempotency key). The helpers are in
:mod:`tests.faults.crash_support`; the fixtures here own what must be stopped or
dropped at the end (processes, a Temporal server, a database).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.runtime.devserver import TemporalDevServer
from tests.faults.crash_support import OUTBOUND_ALLOW, ApiProcess, WorkerPool, fault_env, free_port
from tests.peers.smtp_server import SmtpPeer
from tests.runtime.conftest import dev_engine, receiver  # noqa: F401

POSTGRES_SERVER = os.environ.get(
    "CXFLOW_TEST_POSTGRES_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
POSTGRES_ADMIN_URL = f"{POSTGRES_SERVER}/test"


@pytest.fixture(autouse=True)
def _loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process workers (``dev_engine``) call the loopback receiver too."""
    monkeypatch.setenv("CXFLOW_OUTBOUND_ALLOW", OUTBOUND_ALLOW)


@pytest.fixture
def api_process(tmp_path: Path) -> Iterator[ApiProcess]:
    """An ``cxflow api`` the test starts with its settings (and that is stopped at the end)."""
    process = ApiProcess(env=fault_env(), log_path=tmp_path / "api.log")
    yield process
    process.stop()


@pytest.fixture
def worker_pool(tmp_path: Path) -> Iterator[WorkerPool]:
    """Worker processes the test starts with its settings; any still alive are killed."""
    pool = WorkerPool(env=fault_env(), log_dir=tmp_path)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    """A real SMTP server (aiosmtpd) on loopback, without TLS or AUTH."""
    with SmtpPeer() as peer:
        yield peer


@pytest.fixture
def own_temporal(tmp_path: Path) -> Iterator[TemporalDevServer]:
    """A Temporal dev server of the test's own: its state in a SQLite file of its data
    dir (``--db-filename``), so :meth:`~TemporalDevServer.stop` then
    :meth:`~TemporalDevServer.start` is a restart that keeps every history."""
    server = TemporalDevServer(tmp_path / "temporal", port=free_port(), ui_port=None)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own (``cxflow_fault_<hex>``), dropped at the end."""
    name = f"cxflow_fault_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"{POSTGRES_SERVER}/{name}"
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
