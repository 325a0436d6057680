"""Connector failures, split by the one question the runtime asks: will retrying help?

A retryable error (timeout, rate limit, provider outage) is retried by the
activity with the same idempotency key, so the provider delivers once. A permanent
error (bad request, bad credentials, missing setting) fails the step at once: its
message tells the person fixing it what to change.

Every connector error is a :class:`dsl.errors.CxflowError` with a stable ``code``
(``connector_failed``, ``connector_retryable``, ``connector_permanent``,
``connector_plugin_invalid``, ``connector_not_found``), so the CLI's ``--json``
output and the API report them like every other cxflow error.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from connectors.models import settings_prefix
from dsl.errors import CxflowError

MAX_BODY_IN_MESSAGE = 500


class ConnectorError(CxflowError):
    """A connector could not do what was asked; ``str(error)`` says what to do about it."""

    code = "connector_failed"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        connector: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.connector = connector
        self.status_code = status_code
        self.retry_after = retry_after


class RetryableConnectorError(ConnectorError):
    """Worth retrying later: the same request may well succeed."""

    code = "connector_retryable"
    retryable = True


class PermanentConnectorError(ConnectorError):
    """A bad request or bad configuration: retrying will not help until someone fixes it."""

    code = "connector_permanent"
    retryable = False


class ConnectorPluginError(PermanentConnectorError):
    """An installed plugin is broken (duplicate or invalid names, bad hook result)."""

    code = "connector_plugin_invalid"


class ConnectorNotFoundError(PermanentConnectorError):
    """No installed connector has this name (or provides this channel)."""

    code = "connector_not_found"

    def __init__(self, name: str, installed: Iterable[str], kind: str = "connector") -> None:
        self.name = name
        self.kind = kind
        self.installed = sorted(set(installed))
        close = difflib.get_close_matches(name, self.installed, n=1)
        self.suggestion = close[0] if close else None
        if kind == "connector":
            message = f"no connector named '{name}' is installed"
        else:
            message = f"no installed connector provides the {kind} '{name}'"
        if self.suggestion:
            message += f": did you mean '{self.suggestion}'?"
        if self.installed:
            message += f" (installed {kind}s: {', '.join(self.installed)})"
        else:
            message += f" (no {kind}s are installed: see `cxflow connectors list`)"
        super().__init__(message)


def error_for_status(
    status_code: int, body: str, connector: str, *, retry_after: float | None = None
) -> ConnectorError:
    """The error for an HTTP response that is not a success.

    408, 425, 429 and 5xx are retryable (the provider is slow, busy or down); every
    other status is permanent: the request or the configuration must change first.
    """
    excerpt = " ".join(body.split())[:MAX_BODY_IN_MESSAGE]
    said = f": {excerpt}" if excerpt else ""
    if status_code in (408, 425, 429) or 500 <= status_code <= 599:
        if status_code == 429:
            why = (
                "the provider is rate limiting requests; they will be retried "
                f"(set {settings_prefix(connector)}RATE_LIMIT to stay under its limit)"
            )
        elif status_code >= 500:
            why = "the provider failed; the request will be retried"
        else:
            why = "the provider did not take the request in time; it will be retried"
        return RetryableConnectorError(
            f"{connector}: HTTP {status_code}, {why}{said}",
            connector=connector,
            status_code=status_code,
            retry_after=retry_after,
        )
    if status_code in (401, 403):
        why = "the provider refused the credentials: check the connector's settings"
    elif status_code == 404:
        why = "the provider has no such URL or resource: check the URL and the ids sent"
    elif 300 <= status_code <= 399:
        why = "the provider redirects this URL: use the URL it redirects to"
    elif 400 <= status_code <= 499:
        why = "the provider rejected the request: fix the step's inputs or the settings"
    else:
        why = "the provider answered with an unexpected status"
    return PermanentConnectorError(
        f"{connector}: HTTP {status_code}, {why}{said}",
        connector=connector,
        status_code=status_code,
    )
