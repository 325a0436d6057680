"""Consent rules without a database: policies, decisions and signed unsubscribe tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import ConsentError, SettingsError
from engine.privacy.consent import (
    ConsentRecord,
    consent_from_traits,
    decide,
    parse_policy,
    policy_for,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_url,
)
from engine.settings import Settings

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SECRET = "a secret key for tests"


def record(channel: str, subscribed: bool, minutes: int = 0) -> ConsentRecord:
    return ConsentRecord(
        customer_id="ada",
        channel=channel,
        subscribed=subscribed,
        source="identify",
        updated_at=T0 + timedelta(minutes=minutes),
    )


def test_the_default_policy_is_opt_out_except_webhooks() -> None:
    policies = parse_policy(Settings().consent_policy)
    assert policy_for(policies, "email") == "opt-out"
    assert policy_for(policies, "sms") == "opt-out"
    assert policy_for(policies, "webhook") == "none"


def test_a_policy_per_channel() -> None:
    policies = parse_policy(" SMS=opt-in, social = opt-out ,*=opt-in,")
    assert policies == {"sms": "opt-in", "social": "opt-out", "*": "opt-in"}
    assert policy_for(policies, "push") == "opt-in"
    assert policy_for({}, "email") == "opt-out"


@pytest.mark.parametrize("text", ["sms", "sms=optin", "=opt-in", "sms=opt-in;email=none"])
def test_a_bad_policy_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ConsentError, match="write it like sms=opt-in,webhook=none,\\*=opt-out"):
        parse_policy(text)
    with pytest.raises(SettingsError, match="CXFLOW_CONSENT_POLICY"):
        Settings.from_env({"CXFLOW_CONSENT_POLICY": text})


def test_opt_out_sends_until_the_customer_unsubscribes() -> None:
    assert decide("opt-out", "email", []).allowed
    assert not decide("opt-out", "email", [record("email", False)]).allowed
    assert not decide("opt-out", "email", [record("*", False)]).allowed
    assert decide("opt-out", "email", [record("sms", False)]).allowed


def test_opt_in_sends_only_after_a_subscription_to_the_channel() -> None:
    assert not decide("opt-in", "sms", []).allowed
    assert decide("opt-in", "sms", [record("sms", True)]).allowed
    assert not decide("opt-in", "sms", [record("*", True)]).allowed  # not a subscription to sms
    assert decide("opt-in", "sms", [record("sms", True), record("*", True, 5)]).allowed


def test_the_latest_decision_wins_and_the_channel_wins_a_tie() -> None:
    assert not decide("opt-out", "email", [record("email", True), record("*", False, 1)]).allowed
    assert decide("opt-out", "email", [record("*", False), record("email", True, 1)]).allowed
    assert decide("opt-out", "email", [record("*", False), record("email", True)]).allowed
    # resubscribing to everything lifts a global unsubscribe, not the channel's own
    assert decide("opt-out", "email", [record("*", True, 1)]).allowed
    assert not decide("opt-out", "email", [record("email", False), record("*", True, 1)]).allowed


def test_none_never_checks() -> None:
    assert decide("none", "webhook", [record("*", False)]).allowed


def test_a_refusal_says_why_without_personal_data() -> None:
    refused = decide("opt-out", "email", [record("*", False, 3)])
    assert refused.detail() == {
        "reason": "no_consent",
        "channel": "email",
        "policy": "opt-out",
        "why": "unsubscribed from every channel",
        "source": "identify",
        "since": "2026-03-01T00:03:00+00:00",
    }
    assert decide("opt-in", "sms", []).detail()["why"] == (
        "the channel is opt-in and the customer never subscribed"
    )


def test_consent_traits_are_taken_out_of_the_profile() -> None:
    changes, rest = consent_from_traits(
        {"email": "a@b.c", "subscriptions": {"Email": False}, "unsubscribed": False}
    )
    assert changes == {"email": False, "*": True}
    assert rest == {"email": "a@b.c"}
    assert consent_from_traits({"plan": "pro"}) == ({}, {"plan": "pro"})


def test_tokens_are_signed_per_customer_and_channel() -> None:
    token = unsubscribe_token(SECRET, "ada", "email")
    assert read_unsubscribe_token(SECRET, token) == ("ada", "email")
    assert unsubscribe_token(SECRET, "ada", "sms") != token
    with pytest.raises(ConsentError, match="not valid"):
        read_unsubscribe_token("another secret", token)
    forged = unsubscribe_token("another secret", "bob", "email").split(".")[0]
    with pytest.raises(ConsentError, match="not valid"):
        read_unsubscribe_token(SECRET, f"{forged}.{token.split('.')[1]}")
    for broken in ("", ".", token[:-3], token + "x", "abc"):
        with pytest.raises(ConsentError):
            read_unsubscribe_token(SECRET, broken)


def test_the_link_is_on_the_public_url() -> None:
    url = unsubscribe_url("https://cx.shop.example/", SECRET, "ada", "email")
    assert url.startswith("https://cx.shop.example/v1/unsubscribe?token=")
    assert "ada" not in url.split("?")[0]
