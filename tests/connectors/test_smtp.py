"""The ``smtp`` connector against a real SMTP server on loopback (aiosmtpd), no mocks.

TLS uses a certificate authority made in the test (trustme), so the connector
checks certificates and host names exactly as it would with a public server.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from connectors import PermanentConnectorError, RetryableConnectorError
from connectors.builtin.mail import message_id
from connectors.builtin.smtp import SmtpConnector
from connectors.models import Recipient
from tests.connectors.support import send_request
from tests.peers.smtp_server import SmtpPeer

pytestmark = pytest.mark.asyncio(loop_scope="session")

UNSUBSCRIBE = "http://127.0.0.1:8000/v1/unsubscribe?token=abc.def"
USERS = {"news": "correct horse battery staple"}


def smtp(port: int, **settings: str | Path) -> SmtpConnector:
    environ = {
        "CXFLOW_SMTP_HOST": "127.0.0.1",
        "CXFLOW_SMTP_PORT": str(port),
        "CXFLOW_SMTP_FROM": "Shop <news@shop.example>",
    }
    environ.update({f"CXFLOW_SMTP_{key}": str(value) for key, value in settings.items()})
    return SmtpConnector(environ=environ)


@pytest.fixture
def plain() -> SmtpPeer:
    with SmtpPeer() as peer:
        yield peer


@pytest.fixture
def secure(server_tls: ssl.SSLContext) -> SmtpPeer:
    """STARTTLS required, then AUTH required (aiosmtpd only offers AUTH over TLS)."""
    with SmtpPeer(starttls=server_tls, users=USERS) as peer:
        yield peer


def secure_smtp(peer: SmtpPeer, ca_file: Path, **settings: str | Path) -> SmtpConnector:
    login: dict[str, str | Path] = {
        "CA_FILE": ca_file,
        "USERNAME": "news",
        "PASSWORD": USERS["news"],
    }
    return smtp(peer.port, **{**login, **settings})


# --- delivery --------------------------------------------------------------------------------


async def test_a_message_is_delivered_with_its_headers_and_unsubscribe_link(
    plain: SmtpPeer,
) -> None:
    request = send_request(
        unsubscribe_url=UNSUBSCRIBE,
        html="<html><body><h1>Welcome, Jane</h1></body></html>",
        recipient=Recipient(
            customer_id="c-1",
            email="jane@example.com",
            traits={"first_name": "Jane", "last_name": "Doe"},
        ),
    )
    result = await smtp(plain.port, SECURITY="none", REPLY_TO="help@shop.example").send(request)

    [mail] = plain.messages
    assert (mail.mail_from, mail.rcpt_tos) == ("news@shop.example", ("jane@example.com",))
    message = mail.message()
    assert message["From"] == "Shop <news@shop.example>"
    assert message["To"] == "Jane Doe <jane@example.com>"
    assert message["Reply-To"] == "help@shop.example"
    assert message["Subject"] == "Welcome, Jane"
    assert message["Message-ID"] == message_id("run-1/hello", "news@shop.example")
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    assert mail.text().startswith("Hi Jane,\nthanks for signing up.")
    assert f"Unsubscribe: {UNSUBSCRIBE}" in mail.text()
    assert f'<a href="{UNSUBSCRIBE}">Unsubscribe</a></p>\n</body>' in mail.html()
    assert result.status == "sent"
    assert result.provider_message_id == message["Message-ID"].strip("<>")
    assert not mail.tls and mail.login is None


async def test_a_retry_carries_the_same_message_id(plain: SmtpPeer) -> None:
    connector = smtp(plain.port, SECURITY="none")
    await connector.send(send_request("run-1/hello"))
    await connector.send(send_request("run-1/hello"))
    await connector.send(send_request("run-1/other-step"))
    ids = [mail.message()["Message-ID"] for mail in plain.messages]
    assert ids[0] == ids[1] != ids[2]


async def test_a_customer_without_an_email_address_is_skipped(plain: SmtpPeer) -> None:
    request = send_request(recipient=Recipient(customer_id="c-2"))
    result = await smtp(plain.port, SECURITY="none").send(request)
    assert (result.status, result.detail) == ("skipped", {"reason": "no_email_address"})
    assert plain.messages == [] and plain.sessions == 0


async def test_a_message_without_a_subject_is_a_permanent_error(plain: SmtpPeer) -> None:
    with pytest.raises(PermanentConnectorError, match="without a subject: give it `subject:`"):
        await smtp(plain.port, SECURITY="none").send(send_request(subject="  \n "))
    assert plain.sessions == 0


# --- STARTTLS, TLS and AUTH ------------------------------------------------------------------


async def test_starttls_then_auth(secure: SmtpPeer, ca_file: Path) -> None:
    result = await secure_smtp(secure, ca_file).send(send_request(unsubscribe_url=UNSUBSCRIBE))
    assert result.status == "sent"
    [mail] = secure.messages
    assert mail.tls and mail.login == "news"
    assert secure.logins == [("news", True)]


async def test_a_wrong_password_is_permanent_and_names_the_settings(
    secure: SmtpPeer, ca_file: Path
) -> None:
    with pytest.raises(PermanentConnectorError) as raised:
        await secure_smtp(secure, ca_file, PASSWORD="wrong").send(send_request())
    assert "refused the login (535" in str(raised.value)
    assert "check CXFLOW_SMTP_USERNAME and CXFLOW_SMTP_PASSWORD" in str(raised.value)
    assert "wrong" not in str(raised.value)  # the password is never in a message
    assert secure.messages == []


async def test_an_untrusted_certificate_is_refused(secure: SmtpPeer) -> None:
    """Without CA_FILE, the test CA is unknown: cxflow never sends over unchecked TLS."""
    connector = smtp(secure.port, USERNAME="news", PASSWORD=USERS["news"])
    with pytest.raises(PermanentConnectorError, match=r"is not trusted .* CXFLOW_SMTP_CA_FILE"):
        await connector.send(send_request())
    assert secure.messages == [] and secure.logins == []


async def test_a_server_without_starttls_is_not_used_in_plain_text(plain: SmtpPeer) -> None:
    with pytest.raises(PermanentConnectorError, match="does not offer STARTTLS"):
        await smtp(plain.port).send(send_request())
    assert plain.messages == []


async def test_a_password_is_never_sent_without_encryption(plain: SmtpPeer) -> None:
    connector = smtp(plain.port, SECURITY="none", USERNAME="news", PASSWORD="x")
    with pytest.raises(PermanentConnectorError, match="over an unencrypted connection"):
        await connector.send(send_request())
    assert plain.sessions == 0


async def test_implicit_tls(server_tls: ssl.SSLContext, ca_file: Path) -> None:
    with SmtpPeer(implicit_tls=server_tls) as peer:
        result = await smtp(peer.port, SECURITY="tls", CA_FILE=ca_file).send(send_request())
        assert result.status == "sent"
        [mail] = peer.messages
        assert mail.tls


async def test_tls_to_a_plain_port_says_which_setting_to_check(
    plain: SmtpPeer, ca_file: Path
) -> None:
    connector = smtp(plain.port, SECURITY="tls", CA_FILE=ca_file, TIMEOUT="5")
    with pytest.raises(PermanentConnectorError, match=r"CXFLOW_SMTP_SECURITY=tls, is .* port"):
        await connector.send(send_request())


# --- replies and failures --------------------------------------------------------------------


async def test_a_4xx_reply_is_retryable(plain: SmtpPeer) -> None:
    plain.fail_next("RCPT", "451 4.3.0 Mailbox temporarily unavailable")
    connector = smtp(plain.port, SECURITY="none")
    with pytest.raises(RetryableConnectorError) as raised:
        await connector.send(send_request())
    assert raised.value.status_code == 451
    assert "jane@example.com" not in str(raised.value)  # no address in Temporal's history
    await connector.send(send_request())  # the retry gets through
    assert len(plain.messages) == 1


async def test_a_5xx_reply_is_permanent(plain: SmtpPeer) -> None:
    plain.fail_next("DATA", "554 5.6.0 Message rejected as spam")
    with pytest.raises(PermanentConnectorError, match=r"refused the message \(554 5.6.0"):
        await smtp(plain.port, SECURITY="none").send(send_request())
    assert plain.messages == []


async def test_a_refused_sender_names_the_from_setting(plain: SmtpPeer) -> None:
    plain.fail_next("MAIL", "553 5.7.1 Sender address rejected: not owned by user")
    with pytest.raises(PermanentConnectorError, match="check CXFLOW_SMTP_FROM"):
        await smtp(plain.port, SECURITY="none").send(send_request())


async def test_a_server_that_is_down_is_retryable(closed_port: int) -> None:
    with pytest.raises(RetryableConnectorError, match=r"could not reach 127.0.0.1"):
        await smtp(closed_port, SECURITY="none").send(send_request())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"SECURITY": "ssl"}, "CXFLOW_SMTP_SECURITY must be starttls, tls or none, not 'ssl'"),
        ({"PORT": "smtp"}, "CXFLOW_SMTP_PORT must be a positive whole number, not 'smtp'"),
        ({"FROM": "news at shop"}, "CXFLOW_SMTP_FROM must be an email address"),
        ({"USERNAME": "news"}, "set CXFLOW_SMTP_PASSWORD too"),
        ({"CA_FILE": "/nonexistent/ca.pem"}, "cannot read CXFLOW_SMTP_CA_FILE"),
    ],
)
async def test_bad_settings_say_what_to_write(settings: dict[str, str], message: str) -> None:
    with pytest.raises(PermanentConnectorError) as raised:
        await smtp(25, **settings).send(send_request())
    assert message in str(raised.value)


async def test_missing_settings_are_listed() -> None:
    connector = SmtpConnector(environ={})
    assert connector.missing_settings() == ["CXFLOW_SMTP_HOST", "CXFLOW_SMTP_FROM"]
    shown = SmtpConnector(environ={"CXFLOW_SMTP_PASSWORD": "hunter2"}).config.redacted()
    assert shown["CXFLOW_SMTP_PASSWORD"] == "<set>"
