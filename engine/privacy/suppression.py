"""Which address of a customer a channel sends to, so that a suppression can name it.

A suppression is per channel and address (engine.store.engagement): the address a hard
bounce or a complaint is about, and the one a later send is checked against. Both read it
here, from the same traits the connectors address a message with
(``engine.runtime.activities._recipient``: ``email``, ``phone``, ``handle``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The trait holding a customer's address on each channel that has one. Channels not named
# here (webhook, console, push) send to no address of the customer's: nothing to suppress.
ADDRESS_TRAITS: dict[str, str] = {"email": "email", "sms": "phone", "social": "handle"}


def channel_address(channel: str, traits: Mapping[str, Any]) -> str | None:
    """The customer's address on the channel (from their traits), or None."""
    trait = ADDRESS_TRAITS.get(channel)
    value = traits.get(trait) if trait is not None else None
    return value if isinstance(value, str) and value.strip() else None
