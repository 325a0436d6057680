"""The ``postmark`` connector against the Postmark sandbox: a real HTTP server on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from connectors import PermanentConnectorError, RetryableConnectorError
from connectors.builtin.mail import message_id
from connectors.builtin.postmark import PostmarkConnector
from connectors.models import Recipient
from connectors.sandbox.postmark import PostmarkSandbox
from tests.connectors.support import send_request

in_loop = pytest.mark.asyncio(loop_scope="session")

UNSUBSCRIBE = "http://127.0.0.1:8000/v1/unsubscribe?token=abc.def"


def connector_for(sandbox: PostmarkSandbox, **settings: str) -> PostmarkConnector:
    environ = {
        "CXFLOW_POSTMARK_API_URL": sandbox.url,
        "CXFLOW_POSTMARK_SERVER_TOKEN": sandbox.server_token,
        "CXFLOW_POSTMARK_FROM": "Shop <news@shop.example>",
    }
    environ.update({f"CXFLOW_POSTMARK_{key}": value for key, value in settings.items()})
    return PostmarkConnector(environ={k: v for k, v in environ.items() if v})


@pytest_asyncio.fixture(loop_scope="session")
async def connector(postmark: PostmarkSandbox) -> AsyncIterator[PostmarkConnector]:
    made = connector_for(postmark)
    yield made
    await made.aclose()


@in_loop
async def test_a_message_is_posted_in_postmarks_format(
    postmark: PostmarkSandbox, connector: PostmarkConnector
) -> None:
    request = send_request(
        unsubscribe_url=UNSUBSCRIBE,
        html="<p>Welcome, Jane</p>",
        recipient=Recipient(customer_id="c-1", email="jane@example.com", traits={"name": "Jane"}),
    )
    result = await connector.send(request)

    [message] = postmark.messages
    assert result.status == "sent"
    assert result.provider_message_id == message.message_id
    assert (message.sender, message.to, message.subject) == (
        "Shop <news@shop.example>",
        "Jane <jane@example.com>",
        "Welcome, Jane",
    )
    assert message.stream == "broadcast"
    assert message.text is not None and f"Unsubscribe: {UNSUBSCRIBE}" in message.text
    assert message.html == f'<p>Welcome, Jane</p>\n<p><a href="{UNSUBSCRIBE}">Unsubscribe</a></p>\n'
    assert message.headers == {
        "Message-ID": message_id("run-1/hello", "news@shop.example"),
        "X-Cxflow-Journey": "welcome/hello",
        "List-Unsubscribe": f"<{UNSUBSCRIBE}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert message.metadata["journey"] == "welcome" and len(message.metadata["cxflow_key"]) == 64
    assert result.detail == {"message_id_header": message.headers["Message-ID"]}
    [answered] = postmark.requests
    assert (answered.method, answered.path, answered.idempotency_key) == (
        "POST",
        "/email",
        "run-1/hello",
    )


@in_loop
async def test_the_token_is_never_in_the_sandbox_log(
    postmark: PostmarkSandbox, connector: PostmarkConnector, tmp_path: Path
) -> None:
    await connector.send(send_request())
    log = (tmp_path / "postmark.jsonl").read_text()
    assert postmark.server_token not in log
    assert json.loads(log.splitlines()[0])["response"]["Message"] == "OK"


@in_loop
async def test_a_wrong_token_is_permanent_and_names_the_setting(
    postmark: PostmarkSandbox,
) -> None:
    connector = connector_for(postmark, SERVER_TOKEN="not-the-token")
    with pytest.raises(PermanentConnectorError) as raised:
        await connector.send(send_request())
    assert str(raised.value) == (
        "postmark: HTTP 401, Postmark error 10: Request does not contain a valid Server token. "
        "(check CXFLOW_POSTMARK_SERVER_TOKEN: it must be a server API token)"
    )
    assert "not-the-token" not in str(raised.value)
    await connector.aclose()


@in_loop
async def test_a_sender_that_is_not_a_signature_names_the_from_setting(
    postmark: PostmarkSandbox,
) -> None:
    connector = connector_for(postmark, FROM="news@elsewhere.example")
    with pytest.raises(
        PermanentConnectorError, match=r"Postmark error 400: .*CXFLOW_POSTMARK_FROM"
    ):
        await connector.send(send_request())
    assert postmark.messages == []
    await connector.aclose()


@in_loop
async def test_an_unknown_stream_names_the_stream_setting(postmark: PostmarkSandbox) -> None:
    connector = connector_for(postmark, MESSAGE_STREAM="newsletters")
    with pytest.raises(PermanentConnectorError, match=r"1235: .*CXFLOW_POSTMARK_MESSAGE_STREAM"):
        await connector.send(send_request())
    await connector.aclose()


@in_loop
async def test_an_inactive_recipient_is_skipped(
    postmark: PostmarkSandbox, connector: PostmarkConnector
) -> None:
    postmark.inactive.add("jane@example.com")
    result = await connector.send(send_request())
    assert result.status == "skipped"
    assert result.detail["reason"] == "inactive_recipient"
    assert postmark.messages == []


@in_loop
@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_outages_are_retryable(
    postmark: PostmarkSandbox, connector: PostmarkConnector, status: int
) -> None:
    postmark.fail_next(status, 100 if status == 503 else 0, "Try again later")
    with pytest.raises(RetryableConnectorError) as raised:
        await connector.send(send_request())
    assert raised.value.status_code == status
    result = await connector.send(send_request())
    assert result.status == "sent" and len(postmark.messages) == 1


@in_loop
async def test_an_invalid_request_is_permanent_with_postmarks_message(
    postmark: PostmarkSandbox, connector: PostmarkConnector
) -> None:
    postmark.fail_next(422, 300, "Invalid 'To' address: 'jane@'.")
    with pytest.raises(PermanentConnectorError) as raised:
        await connector.send(send_request())
    assert "Postmark error 300: Invalid 'To' address" in str(raised.value)
    assert raised.value.status_code == 422


@in_loop
async def test_a_customer_without_an_email_address_is_skipped(
    postmark: PostmarkSandbox, connector: PostmarkConnector
) -> None:
    result = await connector.send(send_request(recipient=Recipient(customer_id="c-2")))
    assert (result.status, result.detail) == ("skipped", {"reason": "no_email_address"})
    assert postmark.requests == []


@in_loop
async def test_a_url_without_a_scheme_says_what_to_write(postmark: PostmarkSandbox) -> None:
    connector = connector_for(postmark, API_URL="api.postmarkapp.com")
    with pytest.raises(PermanentConnectorError, match="must be a URL like https://"):
        await connector.send(send_request())
