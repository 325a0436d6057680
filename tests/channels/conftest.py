"""Every channel end to end: the engine with every installed connector (see tests/plugins)."""

from __future__ import annotations

import pytest

from connectors.outbound import ALLOW_VARIABLE
from tests.plugins.conftest import installed_engine, ntfy, receiver  # noqa: F401

LOOPBACK_PEERS = "127.0.0.1,localhost"


@pytest.fixture(autouse=True)
def _loopback_peers_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook case calls the receiver on loopback, which the outbound guard refuses
    unless CXFLOW_OUTBOUND_ALLOW lists it (as `cxflow dev` does)."""
    monkeypatch.setenv(ALLOW_VARIABLE, LOOPBACK_PEERS)
