"""Which message a conversion is credited to: last touch, with a window per channel.

Klaviyo's rule, which marketers already know: a conversion is credited to the message of
its run that touched the customer last, as long as the conversion falls inside that
message's channel window. A message touches the customer when it is sent, and again each
time it is opened or clicked; the window counts from its latest touch before the
conversion. No message within its window: the conversion stays unattributed (it still
counts for the journey and the variant). docs/analytics.md has the whole rule.

Windows come from ``CXFLOW_ATTRIBUTION_WINDOWS``, e.g. ``email=5d,sms=1d,*=1d`` (``*``:
every channel not named; without it, channels not named are never credited).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dsl.durations import format_duration, parse_duration
from engine.errors import SettingsError

SETTING = "CXFLOW_ATTRIBUTION_WINDOWS"
DEFAULT_WINDOWS = "email=5d,sms=1d,*=1d"
ANY_CHANNEL = "*"
_CHANNEL = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
EXAMPLE = "email=5d,sms=1d,push=1d,*=1d"


@dataclass(frozen=True)
class AttributionWindows:
    """How long after its latest touch a message of each channel can be credited."""

    channels: tuple[tuple[str, timedelta], ...]
    otherwise: timedelta | None  # the ``*`` window; None: channels not named get no credit

    def window(self, channel: str) -> timedelta | None:
        """The channel's window, or None when its messages are never credited."""
        for name, window in self.channels:
            if name == channel:
                return window
        return self.otherwise

    def text(self) -> str:
        """The setting's canonical form (channels sorted, ``*`` last)."""
        parts = [f"{name}={format_duration(window)}" for name, window in self.channels]
        if self.otherwise is not None:
            parts.append(f"{ANY_CHANNEL}={format_duration(self.otherwise)}")
        return ",".join(parts)


def parse_windows(text: str) -> AttributionWindows:
    """``email=5d,sms=1d,*=1d`` as windows; a SettingsError saying what to write otherwise."""
    found: dict[str, timedelta] = {}
    parts = [part.strip() for part in text.split(",")] if text.strip() else []
    if not parts:
        raise SettingsError(
            f"{SETTING} is empty: give channel=duration pairs separated by commas, "
            f"e.g. {EXAMPLE} (or leave it unset for {DEFAULT_WINDOWS})"
        )
    for part in parts:
        channel, equals, duration = (piece.strip() for piece in part.partition("="))
        if not equals or not channel or not duration:
            raise SettingsError(
                f"{SETTING}: {part!r} is not channel=duration: write pairs separated by "
                f"commas, e.g. {EXAMPLE}"
            )
        if channel != ANY_CHANNEL and not _CHANNEL.match(channel):
            raise SettingsError(
                f"{SETTING}: {channel!r} is not a channel name: use the channel as journeys "
                f"write it (lower case, e.g. email, sms, push, webhook) or * for every other"
            )
        if channel in found:
            raise SettingsError(f"{SETTING}: {channel!r} is given twice: keep one window")
        try:
            found[channel] = parse_duration(duration)
        except ValueError as error:  # says what is wrong: not a duration, zero, too long
            raise SettingsError(f"{SETTING}: the window of {channel!r}: {error}") from None
    otherwise = found.pop(ANY_CHANNEL, None)
    return AttributionWindows(tuple(sorted(found.items())), otherwise)


@dataclass(frozen=True)
class Touch:
    """A message the run sent, as attribution sees it."""

    ref: str
    step_id: str
    channel: str
    sent_at: datetime
    engaged: tuple[datetime, ...] = ()  # when it was opened or clicked
    key: str = ""  # the idempotency key: breaks ties in time, so the choice is stable

    def last_touch(self, before: datetime) -> datetime:
        """When the message last touched the customer up to ``before``: its send, or a
        later open or click (signals after ``before`` do not count)."""
        return max([self.sent_at, *(at for at in self.engaged if at <= before)])


def attribute(
    touches: Iterable[Touch], converted_at: datetime, windows: AttributionWindows
) -> Touch | None:
    """The message a conversion at ``converted_at`` is credited to, or None.

    A message is a candidate when it was sent at or before the conversion and the
    conversion is within its channel's window of its latest touch (both ends included).
    Among candidates the latest touch wins; a tie goes to the later send, then the
    larger key.
    """
    best: Touch | None = None
    for touch in touches:
        if touch.sent_at > converted_at:
            continue
        window = windows.window(touch.channel)
        if window is None or converted_at - touch.last_touch(converted_at) > window:
            continue
        if best is None or _rank(touch, converted_at) > _rank(best, converted_at):
            best = touch
    return best


def _rank(touch: Touch, converted_at: datetime) -> tuple[datetime, datetime, str]:
    return touch.last_touch(converted_at), touch.sent_at, touch.key


def default_windows() -> AttributionWindows:
    """The windows when ``CXFLOW_ATTRIBUTION_WINDOWS`` is not set."""
    return parse_windows(DEFAULT_WINDOWS)
