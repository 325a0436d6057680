"""Journeys sending through real email and social peers: the runtime `engine` fixture, plus
an SMTP server (aiosmtpd, STARTTLS with a test CA, AUTH) and the Mastodon sandbox on loopback.

The built-in ``smtp`` and ``mastodon`` connectors take over the ``email`` and
``social`` channels from ``console`` because their settings are set, exactly as in
production; nothing in the engine is told about the test.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from connectors.sandbox.mastodon import MastodonSandbox
from connectors.sandbox.postmark import PostmarkSandbox
from tests.peers.smtp_server import SmtpPeer
from tests.runtime.conftest import engine, receiver  # noqa: F401

SMTP_USER, SMTP_PASSWORD = "journeys", "a long smtp password"


@dataclass
class Peers:
    """Where the messages land."""

    smtp: SmtpPeer
    mastodon: MastodonSandbox


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def peers(tls_ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Peers]:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    with (
        SmtpPeer(starttls=server_tls, users={SMTP_USER: SMTP_PASSWORD}) as smtp,
        MastodonSandbox(log=tmp_path / "mastodon.jsonl", accounts=("linus", "ada")) as mastodon,
    ):
        for name, value in {
            "CXFLOW_SMTP_HOST": "127.0.0.1",
            "CXFLOW_SMTP_PORT": str(smtp.port),
            "CXFLOW_SMTP_FROM": "Shop <news@shop.example>",
            "CXFLOW_SMTP_USERNAME": SMTP_USER,
            "CXFLOW_SMTP_PASSWORD": SMTP_PASSWORD,
            "CXFLOW_SMTP_CA_FILE": str(ca_file),
            "CXFLOW_MASTODON_BASE_URL": mastodon.url,
            "CXFLOW_MASTODON_ACCESS_TOKEN": mastodon.access_token,
        }.items():
            monkeypatch.setenv(name, value)
        yield Peers(smtp=smtp, mastodon=mastodon)


@pytest.fixture
def postmark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PostmarkSandbox]:
    """The Postmark sandbox as the only configured email provider."""
    with PostmarkSandbox(log=tmp_path / "postmark.jsonl") as sandbox:
        monkeypatch.setenv("CXFLOW_POSTMARK_API_URL", sandbox.url)
        monkeypatch.setenv("CXFLOW_POSTMARK_SERVER_TOKEN", sandbox.server_token)
        monkeypatch.setenv("CXFLOW_POSTMARK_FROM", "Shop <news@shop.example>")
        yield sandbox
