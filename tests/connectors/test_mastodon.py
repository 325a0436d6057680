"""The ``mastodon`` connector against the Mastodon sandbox: a real HTTP server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from connectors import PermanentConnectorError, RetryableConnectorError
from connectors.builtin.mastodon import MastodonConnector, mention
from connectors.models import Recipient
from connectors.sandbox.mastodon import MastodonSandbox
from tests.connectors.support import send_request

in_loop = pytest.mark.asyncio(loop_scope="session")


def connector_for(sandbox: MastodonSandbox, **settings: str) -> MastodonConnector:
    environ = {
        "CXFLOW_MASTODON_BASE_URL": sandbox.url,
        "CXFLOW_MASTODON_ACCESS_TOKEN": sandbox.access_token,
    }
    environ.update({f"CXFLOW_MASTODON_{key}": value for key, value in settings.items()})
    return MastodonConnector(environ=environ)


@pytest_asyncio.fixture(loop_scope="session")
async def connector(mastodon: MastodonSandbox) -> AsyncIterator[MastodonConnector]:
    made = connector_for(mastodon)
    yield made
    await made.aclose()


def dm(key: str = "run-1/nudge", handle: str | None = "@jane", **changes: Any) -> Any:
    traits = {"handle": handle} if handle is not None else {}
    fields: dict[str, Any] = {
        "channel": "social",
        "subject": None,
        "body": "Your cart is still waiting.",
        "recipient": Recipient(customer_id="c-1", handle=handle, traits=traits),
    }
    return send_request(key, **{**fields, **changes})


@in_loop
async def test_a_direct_message_mentions_the_customer(
    mastodon: MastodonSandbox, connector: MastodonConnector
) -> None:
    result = await connector.send(dm())
    [status] = mastodon.statuses
    assert (status.text, status.visibility) == ("@jane Your cart is still waiting.", "direct")
    assert mastodon.direct_messages_to("jane") == [status]
    assert status.idempotency_key == "run-1/nudge"
    assert result.status == "sent" and result.provider_message_id == status.id
    assert result.detail == {"visibility": "direct", "url": f"{mastodon.url}/@shop/{status.id}"}


@in_loop
async def test_a_retried_step_posts_once(
    mastodon: MastodonSandbox, connector: MastodonConnector
) -> None:
    first = await connector.send(dm())
    again = await connector.send(dm())
    other = await connector.send(dm("run-1/nudge-2"))
    assert again.provider_message_id == first.provider_message_id
    assert other.provider_message_id != first.provider_message_id
    assert len(mastodon.statuses) == 2
    assert [r.replayed for r in mastodon.requests] == [False, True, False]


@in_loop
async def test_the_handle_trait_is_read_first(mastodon: MastodonSandbox) -> None:
    connector = connector_for(mastodon, HANDLE_TRAIT="fediverse")
    request = dm(
        recipient=Recipient(
            customer_id="c-1", handle="@old", traits={"fediverse": "jane@social.example"}
        )
    )
    await connector.send(request)
    assert mastodon.statuses[0].text.startswith("@jane@social.example ")
    assert mastodon.direct_messages_to("jane@social.example") != []
    await connector.aclose()


@in_loop
@pytest.mark.parametrize(
    ("handle", "reason"), [(None, "no_social_handle"), ("jane smith", "invalid_social_handle")]
)
async def test_a_customer_without_a_usable_handle_is_skipped(
    mastodon: MastodonSandbox, connector: MastodonConnector, handle: str | None, reason: str
) -> None:
    result = await connector.send(dm(handle=handle))
    assert (result.status, result.detail) == ("skipped", {"reason": reason})
    assert mastodon.requests == []


@in_loop
async def test_a_step_can_post_publicly(
    mastodon: MastodonSandbox, connector: MastodonConnector
) -> None:
    result = await connector.send(dm(handle=None, params={"visibility": "public"}))
    [status] = mastodon.statuses
    assert (status.text, status.visibility, status.mentions) == (
        "Your cart is still waiting.",
        "public",
        (),
    )
    assert result.detail["visibility"] == "public"


@in_loop
async def test_a_bad_visibility_names_where_it_came_from(
    mastodon: MastodonSandbox, connector: MastodonConnector
) -> None:
    with pytest.raises(PermanentConnectorError, match=r"params.visibility\) must be one of"):
        await connector.send(dm(params={"visibility": "friends"}))
    bad = connector_for(mastodon, VISIBILITY="everyone")
    with pytest.raises(PermanentConnectorError, match="CXFLOW_MASTODON_VISIBILITY must be"):
        await bad.send(dm())
    await bad.aclose()


@in_loop
async def test_a_wrong_token_is_permanent(mastodon: MastodonSandbox) -> None:
    connector = connector_for(mastodon, ACCESS_TOKEN="wrong-token")
    with pytest.raises(PermanentConnectorError) as raised:
        await connector.send(dm())
    assert str(raised.value) == (
        "mastodon: HTTP 401, The access token is invalid "
        "(check CXFLOW_MASTODON_ACCESS_TOKEN: Mastodon does not accept it)"
    )
    await connector.aclose()


@in_loop
async def test_a_text_over_the_limit_is_permanent_with_mastodons_message(
    mastodon: MastodonSandbox, connector: MastodonConnector
) -> None:
    with pytest.raises(PermanentConnectorError, match="Text character limit of 500 exceeded"):
        await connector.send(dm(body="x" * 600))
    assert mastodon.statuses == []


@in_loop
async def test_a_rate_limit_is_retried_after_the_reset(
    mastodon: MastodonSandbox, connector: MastodonConnector
) -> None:
    mastodon.fail_next(429, "Too many requests", reset_in=30)
    with pytest.raises(RetryableConnectorError) as raised:
        await connector.send(dm())
    assert raised.value.retry_after is not None and 25 < raised.value.retry_after <= 30
    await connector.send(dm())
    assert len(mastodon.statuses) == 1


@in_loop
async def test_a_server_error_is_retryable(
    mastodon: MastodonSandbox, connector: MastodonConnector
) -> None:
    mastodon.fail_next(503, "Service Unavailable")
    with pytest.raises(RetryableConnectorError, match="HTTP 503"):
        await connector.send(dm())


@in_loop
async def test_a_step_without_text_is_permanent(connector: MastodonConnector) -> None:
    with pytest.raises(PermanentConnectorError, match="sends nothing: give it `body:`"):
        await connector.send(dm(body="  "))


def test_handles_become_mentions() -> None:
    assert mention("jane") == "@jane"
    assert mention("@jane") == "@jane"
    assert mention(" jane@mastodon.social ") == "@jane@mastodon.social"
    assert mention("@jane@mastodon.social") == "@jane@mastodon.social"
    assert mention("jane smith") is None
    assert mention("@") is None
