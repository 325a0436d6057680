"""Fixtures for connector tests: a real HTTP receiver and a registry of the built-ins."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from connectors import ConnectorRegistry
from connectors.sandbox.mastodon import MastodonSandbox
from connectors.sandbox.postmark import PostmarkSandbox
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


# --- email and social peers: real servers on loopback ----------------------------------------


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A certificate authority made for this test run: nothing is trusted by default."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(tls_ca: trustme.CA) -> ssl.SSLContext:
    """The server side of TLS, with a certificate for 127.0.0.1 signed by ``tls_ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def ca_file(tls_ca: trustme.CA, tmp_path: Path) -> Path:
    """``tls_ca`` as the PEM file CXFLOW_SMTP_CA_FILE takes."""
    path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def postmark(tmp_path: Path) -> Iterator[PostmarkSandbox]:
    with PostmarkSandbox(log=tmp_path / "postmark.jsonl") as sandbox:
        yield sandbox


@pytest.fixture
def mastodon(tmp_path: Path) -> Iterator[MastodonSandbox]:
    with MastodonSandbox(log=tmp_path / "mastodon.jsonl", accounts=("jane",)) as sandbox:
        yield sandbox
