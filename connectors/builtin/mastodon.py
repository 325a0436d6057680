"""The ``mastodon`` connector: the ``social`` channel as Mastodon statuses and direct messages.

Settings (``CXFLOW_MASTODON_<KEY>``): ``BASE_URL`` (required: the server, like
https://mastodon.social), ``ACCESS_TOKEN`` (required, secret: an application
token of the brand's account with the ``write:statuses`` scope),
``VISIBILITY`` (default ``direct``), ``HANDLE_TRAIT`` (default
``mastodon_handle``), ``LANGUAGE`` (an ISO 639 code) and ``RATE_LIMIT``.

A send is one ``POST /api/v1/statuses`` (Mastodon's documented endpoint) with
the step's idempotency key as ``Idempotency-Key``, which Mastodon honours (for
an hour): a retried step posts once. With ``direct`` visibility (the default),
the status is a direct message: it starts with the customer's handle (the
``HANDLE_TRAIT`` trait, else the ``handle`` trait: ``@jane`` on the same server,
``@jane@other.example`` elsewhere), and only the people it mentions see it. A
customer without a handle is *skipped* (reason ``no_social_handle``), as is one
whose handle is not a Mastodon address (``invalid_social_handle``). A step can
post publicly instead with ``params: {visibility: public}`` (or ``unlisted``,
``private``), which mentions nobody.

The text is the step's ``body`` (or its ``subject`` when it has no body).
Errors: 401 (the token), 403 (its scopes), 404 (``BASE_URL``) and 422
(Mastodon's validation message, such as a text over the server's character
limit) are permanent; 429 is retried after ``X-RateLimit-Reset``, 5xx are retried.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx

from connectors.errors import ConnectorError, PermanentConnectorError, error_for_status
from connectors.http import MAX_RETRY_AFTER, HttpConnector, retry_after_seconds
from connectors.models import SendRequest, SendResult, Setting

Visibility = Literal["public", "unlisted", "private", "direct"]
VISIBILITIES: tuple[Visibility, ...] = ("public", "unlisted", "private", "direct")
DEFAULT_HANDLE_TRAIT = "mastodon_handle"
_HANDLE = re.compile(r"^@?(?P<user>[A-Za-z0-9_]{1,30})(?:@(?P<domain>[A-Za-z0-9.-]+(?::\d+)?))?$")


def mention(handle: str) -> str | None:
    """``@user`` or ``@user@domain`` for a handle written any usual way; None if not one."""
    found = _HANDLE.match(handle.strip())
    if found is None:
        return None
    domain = found["domain"]
    return f"@{found['user']}@{domain}" if domain else f"@{found['user']}"


class MastodonConnector(HttpConnector):
    """Statuses and direct messages on a Mastodon server (see the module's docstring)."""

    name = "mastodon"
    description = "Mastodon: direct messages to the customer's handle, or public statuses."
    channels = ("social",)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            key="BASE_URL",
            description="The Mastodon server, like https://mastodon.social",
            required=True,
        ),
        Setting(
            key="ACCESS_TOKEN",
            description="An access token of the brand's account with write:statuses",
            required=True,
            secret=True,
        ),
        Setting(
            key="VISIBILITY",
            description="direct (default: a DM to the customer), private, unlisted or public",
            default="direct",
        ),
        Setting(
            key="HANDLE_TRAIT",
            description="The trait with the customer's Mastodon handle (then `handle`)",
            default=DEFAULT_HANDLE_TRAIT,
        ),
        Setting(key="LANGUAGE", description="The statuses' language, an ISO 639 code like en"),
    )

    async def send(self, request: SendRequest) -> SendResult:
        text = (request.body or request.subject or "").strip()
        if not text:
            raise PermanentConnectorError(
                f"mastodon: the step '{request.step_id}' sends nothing: give it `body:` "
                "(or a template with one)",
                connector=self.name,
            )
        visibility = self._visibility(request)
        if visibility == "direct":
            handle = self._handle(request)
            if handle is None:
                return SendResult(status="skipped", detail={"reason": "no_social_handle"})
            to = mention(handle)
            if to is None:
                return SendResult(status="skipped", detail={"reason": "invalid_social_handle"})
            text = f"{to} {text}"
        status: dict[str, Any] = {"status": text, "visibility": visibility}
        language = self.setting("LANGUAGE")
        if language:
            status["language"] = language
        response = await self.http.request(
            "POST",
            f"{self._base_url()}/api/v1/statuses",
            idempotency_key=request.idempotency_key,
            headers={
                "Authorization": f"Bearer {self.require_setting('ACCESS_TOKEN')}",
                "Accept": "application/json",
            },
            json=status,
            check=False,
        )
        if not response.is_success:
            raise self._error(response)
        answer = _json_object(response)
        status_id = answer.get("id")
        if not isinstance(status_id, str | int) or isinstance(status_id, bool):
            raise PermanentConnectorError(
                f"mastodon: POST /api/v1/statuses answered HTTP {response.status_code} without "
                f"a status id: is {self.config.variable('BASE_URL')} a Mastodon server?",
                connector=self.name,
                status_code=response.status_code,
            )
        detail: dict[str, Any] = {"visibility": visibility}
        if isinstance(answer.get("url"), str):
            detail["url"] = answer["url"]
        return SendResult(status="sent", provider_message_id=str(status_id), detail=detail)

    def _handle(self, request: SendRequest) -> str | None:
        traits = request.recipient.traits
        trait = self.setting("HANDLE_TRAIT") or DEFAULT_HANDLE_TRAIT
        for value in (traits.get(trait), request.recipient.handle):
            if isinstance(value, str) and value.strip():
                return value
        return None

    def _visibility(self, request: SendRequest) -> Visibility:
        chosen = request.params.get("visibility")
        where = f"the step '{request.step_id}' (params.visibility)"
        if chosen is None:
            chosen = self.setting("VISIBILITY") or "direct"
            where = self.config.variable("VISIBILITY")
        for visibility in VISIBILITIES:
            if chosen == visibility:
                return visibility
        raise PermanentConnectorError(
            f"mastodon: {where} must be one of {', '.join(VISIBILITIES)}, not {chosen!r}",
            connector=self.name,
        )

    def _error(self, response: httpx.Response) -> ConnectorError:
        answer = _json_object(response)
        said = str(answer.get("error") or response.text)
        status = response.status_code
        variable = self.config.variable
        hint = {
            401: f"check {variable('ACCESS_TOKEN')}: Mastodon does not accept it",
            403: f"the token in {variable('ACCESS_TOKEN')} needs the write:statuses scope",
            404: f"check {variable('BASE_URL')}={self._base_url()} is a Mastodon server",
            422: "Mastodon refused the status: fix the step's text",
        }.get(status)
        if hint is not None:
            excerpt = " ".join(said.split())[:500]
            return PermanentConnectorError(
                f"mastodon: HTTP {status}, {excerpt} ({hint})",
                connector=self.name,
                status_code=status,
            )
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is None:
            retry_after = _reset_in(response.headers.get("X-RateLimit-Reset"))
        return error_for_status(status, said, self.name, retry_after=retry_after)

    def _base_url(self) -> str:
        url = self.require_setting("BASE_URL").strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise PermanentConnectorError(
                f"mastodon: {self.config.variable('BASE_URL')} must be the server's URL, like "
                f"https://mastodon.social, not {url!r}",
                connector=self.name,
            )
        return url


def _reset_in(value: str | None) -> float | None:
    """Seconds until Mastodon's ``X-RateLimit-Reset`` (an ISO 8601 time)."""
    if not value:
        return None
    try:
        reset = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if reset.tzinfo is None:
        reset = reset.replace(tzinfo=UTC)
    seconds = (reset - datetime.now(UTC)).total_seconds()
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
