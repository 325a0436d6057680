"""Which connector serves a channel: console until a real provider is configured.

The built-in ``smtp`` and ``postmark`` connectors provide ``email`` and
``mastodon`` provides ``social``; with none of their settings set, ``cxflow
dev`` keeps writing those messages to the console outbox.
"""

from __future__ import annotations

import os

import pytest

from connectors import ConnectorNotFoundError, ConnectorPluginError, ConnectorRegistry

SMTP = {"CXFLOW_SMTP_HOST": "mail.example", "CXFLOW_SMTP_FROM": "news@shop.example"}
POSTMARK = {"CXFLOW_POSTMARK_SERVER_TOKEN": "t", "CXFLOW_POSTMARK_FROM": "news@shop.example"}
MASTODON = {"CXFLOW_MASTODON_BASE_URL": "https://m.example", "CXFLOW_MASTODON_ACCESS_TOKEN": "t"}
ALL = ("CXFLOW_CHANNEL_EMAIL", "CXFLOW_CHANNEL_SOCIAL", *SMTP, *POSTMARK, *MASTODON)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL:
        monkeypatch.delenv(name, raising=False)


def configure(monkeypatch: pytest.MonkeyPatch, *settings: dict[str, str]) -> None:
    for group in settings:
        for name, value in group.items():
            monkeypatch.setenv(name, value)


def test_unconfigured_providers_leave_the_channel_to_console(registry: ConnectorRegistry) -> None:
    assert {"smtp", "postmark", "mastodon"} <= set(registry.names())
    assert registry.for_channel("email").name == "console"
    assert registry.for_channel("social").name == "console"


def test_a_configured_provider_takes_over(
    registry: ConnectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, SMTP, MASTODON)
    assert registry.for_channel("email").name == "smtp"
    assert registry.for_channel("social").name == "mastodon"
    assert registry.for_channel("sms").name == "console"


def test_two_configured_providers_need_a_choice(
    registry: ConnectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, SMTP, POSTMARK)
    with pytest.raises(ConnectorPluginError) as raised:
        registry.for_channel("email")
    assert str(raised.value) == (
        "the channel 'email' is provided by postmark, smtp: choose one with "
        "CXFLOW_CHANNEL_EMAIL=postmark (or a route: routes={'email': 'postmark'})"
    )
    monkeypatch.setenv("CXFLOW_CHANNEL_EMAIL", "smtp")
    assert registry.for_channel("email").name == "smtp"


def test_the_channel_variable_wins_even_over_configuration(
    registry: ConnectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, SMTP)
    monkeypatch.setenv("CXFLOW_CHANNEL_EMAIL", "console")
    assert registry.for_channel("email").name == "console"
    monkeypatch.setenv("CXFLOW_CHANNEL_EMAIL", "postmark")  # unconfigured: its send says so
    assert registry.for_channel("email").name == "postmark"


def test_a_wrong_channel_variable_says_what_is_wrong(
    registry: ConnectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXFLOW_CHANNEL_EMAIL", "smpt")
    with pytest.raises(ConnectorNotFoundError, match="did you mean 'smtp'"):
        registry.for_channel("email")
    monkeypatch.setenv("CXFLOW_CHANNEL_EMAIL", "mastodon")
    with pytest.raises(ConnectorPluginError, match="mastodon provides social, not 'email'"):
        registry.for_channel("email")


def test_channels_served_only_by_the_console_are_reported_for_the_validator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(os.environ):
        if name.startswith(
            ("CXFLOW_SMTP_", "CXFLOW_POSTMARK_", "CXFLOW_MASTODON_", "CXFLOW_CHANNEL_")
        ):
            monkeypatch.delenv(name)
    registry = ConnectorRegistry(entry_points=False)
    assert {"email", "sms", "push", "social"} <= registry.fallback_channels()
    assert "webhook" not in registry.fallback_channels()
    monkeypatch.setenv("CXFLOW_SMTP_HOST", "mail.example.com")
    monkeypatch.setenv("CXFLOW_SMTP_FROM", "shop@example.com")
    assert "email" not in ConnectorRegistry(entry_points=False).fallback_channels()
