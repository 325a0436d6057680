"""Fixtures for connector tests: a real HTTP receiver and a registry of the built-ins."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from connectors import ConnectorRegistry
from tests.peers.http_receiver import HttpReceiver


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as running:
        yield running


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def registry() -> ConnectorRegistry:
    """The built-ins only, whatever else is installed in this environment."""
    return ConnectorRegistry(entry_points=False)
