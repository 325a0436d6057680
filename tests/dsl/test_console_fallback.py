"""A warning when only the console fallback would "send" a channel's messages."""

from __future__ import annotations

import pytest

from dsl.catalog import ConnectorCatalog, FallbackAwareCatalog, StaticCatalog, fallback_channels
from dsl.codes import DiagnosticCode
from dsl.diagnostics import Severity
from dsl.loader import load_text

JOURNEY = "journey: j\nname: J\ntrigger: {event: x}\nsteps:\n" + (
    "  - id: hello\n    send: {channel: sms, body: hi}\n"
    "  - id: mail\n    send: {channel: email, body: hi}\n"
    "  - id: again\n    send: {channel: sms, body: hi again}\n"
    "  - id: done\n    exit: {}\n"
)


class ChannelsOnly:
    """A catalog written before fallback_channels existed."""

    def channels(self) -> set[str]:
        return {"sms", "email"}

    def actions(self) -> set[str]:
        return set()


class ConsoleServes:
    """A catalog in the registry's shape: the console connector serves every channel."""

    def __init__(self, configured: set[str]) -> None:
        self.configured = configured

    def channels(self) -> set[str]:
        return {"sms", "email", "social"}

    def actions(self) -> set[str]:
        return set()

    def fallback_channels(self) -> set[str]:
        return self.channels() - self.configured


@pytest.mark.parametrize("severity", [Severity.ERROR, Severity.WARNING])
def test_a_channel_only_the_console_serves_is_a_warning_at_its_first_send(
    severity: Severity,
) -> None:
    catalog = ConsoleServes(configured={"email"})
    result = load_text(JOURNEY, "j.yaml", catalog=catalog, missing_connectors=severity)
    [warning] = result.diagnostics
    assert (warning.line, warning.column, warning.path) == (6, 21, "steps[0].send.channel")
    assert (warning.code, warning.severity, warning.context) == (
        DiagnosticCode.CHANNEL_CONSOLE_FALLBACK,
        Severity.WARNING,
        {"channel": "sms"},
    )
    assert warning.message == (
        "no connector sends sms here: messages to this channel are written to the console "
        "outbox and nothing is delivered; install and configure an sms connector (see "
        "`cxflow connectors list`)"
    )
    assert result.ok and result.compiled is not None  # a warning does not stop a deploy


def test_each_fallback_channel_is_named_once() -> None:
    result = load_text(JOURNEY, "j.yaml", catalog=ConsoleServes(configured=set()))
    assert [(d.path, d.context["channel"]) for d in result.diagnostics] == [
        ("steps[0].send.channel", "sms"),
        ("steps[1].send.channel", "email"),
    ]
    assert "configure an email connector" in result.diagnostics[1].message


def test_configured_channels_and_catalogs_that_cannot_tell_give_no_warning() -> None:
    assert load_text(JOURNEY, catalog=ConsoleServes(configured={"sms", "email"})).diagnostics == []
    assert load_text(JOURNEY, catalog=ChannelsOnly()).diagnostics == []
    assert load_text(JOURNEY, catalog=StaticCatalog({"sms", "email"}, set())).diagnostics == []
    assert load_text(JOURNEY).diagnostics == []  # no catalog: connectors are not checked


def test_a_missing_channel_is_reported_as_missing_not_as_fallback() -> None:
    catalog = StaticCatalog(channels={"email"}, actions=set(), fallback={"sms", "email"})
    result = load_text(JOURNEY, "j.yaml", catalog=catalog)
    assert [(d.code, d.context) for d in result.diagnostics] == [
        (DiagnosticCode.CONNECTOR_MISSING, {"kind": "channel", "name": "sms"}),
        (DiagnosticCode.CHANNEL_CONSOLE_FALLBACK, {"channel": "email"}),
        (DiagnosticCode.CONNECTOR_MISSING, {"kind": "channel", "name": "sms"}),
    ]


def test_fallback_channels_is_optional_for_catalogs() -> None:
    plain: ConnectorCatalog = ChannelsOnly()
    aware: ConnectorCatalog = ConsoleServes(configured={"email"})
    assert not isinstance(plain, FallbackAwareCatalog)
    assert isinstance(aware, FallbackAwareCatalog)
    assert fallback_channels(plain) == set()
    assert fallback_channels(aware) == {"sms", "social"}
    assert fallback_channels(StaticCatalog({"sms"}, set(), fallback={"sms"})) == {"sms"}
