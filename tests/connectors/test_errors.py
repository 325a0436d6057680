"""Errors: which failures are worth retrying, and what each message tells the person fixing it."""

from __future__ import annotations

import pickle

import pytest

from connectors import (
    ConnectorError,
    ConnectorNotFoundError,
    PermanentConnectorError,
    RetryableConnectorError,
    error_for_status,
)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_slow_busy_or_failing_providers_are_retryable(status: int) -> None:
    error = error_for_status(status, "", "shop")
    assert isinstance(error, RetryableConnectorError)
    assert error.retryable and error.status_code == status and error.connector == "shop"


@pytest.mark.parametrize("status", [300, 301, 400, 401, 403, 404, 409, 410, 422, 499, 600])
def test_other_statuses_are_permanent(status: int) -> None:
    error = error_for_status(status, "", "shop")
    assert isinstance(error, PermanentConnectorError)
    assert not error.retryable and error.status_code == status


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            429,
            "shop: HTTP 429, the provider is rate limiting requests; they will be retried (set "
            "CXFLOW_SHOP_RATE_LIMIT to stay under its limit): slow down",
        ),
        (503, "shop: HTTP 503, the provider failed; the request will be retried: slow down"),
        (
            401,
            "shop: HTTP 401, the provider refused the credentials: check the connector's "
            "settings: slow down",
        ),
        (
            404,
            "shop: HTTP 404, the provider has no such URL or resource: check the URL and the "
            "ids sent: slow down",
        ),
        (
            422,
            "shop: HTTP 422, the provider rejected the request: fix the step's inputs or the "
            "settings: slow down",
        ),
        (
            301,
            "shop: HTTP 301, the provider redirects this URL: use the URL it redirects to: slow down",
        ),
    ],
)
def test_messages_say_what_to_do(status: int, message: str) -> None:
    assert str(error_for_status(status, "slow\n  down", "shop")) == message


def test_long_bodies_are_cut_short() -> None:
    message = str(error_for_status(400, "x" * 10_000, "shop"))
    assert message.endswith("x" * 500) and len(message) < 700


def test_retry_after_is_kept_for_the_retry_policy() -> None:
    assert error_for_status(429, "", "shop", retry_after=2.5).retry_after == 2.5


def test_errors_are_one_family() -> None:
    for error in (
        RetryableConnectorError("x"),
        PermanentConnectorError("x"),
        ConnectorNotFoundError("x", []),
    ):
        assert isinstance(error, ConnectorError)
    assert isinstance(ConnectorNotFoundError("x", []), PermanentConnectorError)


def test_errors_survive_pickling_with_their_attributes() -> None:
    error = error_for_status(503, "down", "shop", retry_after=3.0)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RetryableConnectorError and str(copy) == str(error)
    assert (copy.connector, copy.status_code, copy.retry_after) == ("shop", 503, 3.0)
    missing = ConnectorNotFoundError("emial", ["email", "sms"], kind="channel")
    copy_missing = pickle.loads(pickle.dumps(missing))
    assert str(copy_missing) == str(missing) and copy_missing.suggestion == "email"
