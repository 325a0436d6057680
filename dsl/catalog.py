"""What the validator may know about installed connectors.

The DSL names channels (``send: {channel: email}``) and actions
(``call: shop.create_discount``); whether those exist is up to the connector
plugins installed. The validator takes any object with this shape, so the DSL
does not depend on the plugin machinery.
"""

from __future__ import annotations

from typing import Protocol


class ConnectorCatalog(Protocol):
    """The channels and actions that installed connectors provide."""

    def channels(self) -> set[str]:
        """Channel names usable in ``send:`` steps."""
        ...

    def actions(self) -> set[str]:
        """Actions usable in ``call:`` steps, as ``connector.action``."""
        ...


class StaticCatalog:
    """A fixed catalog: for tests, and for tools that know the connectors in advance."""

    def __init__(self, channels: set[str], actions: set[str]) -> None:
        self._channels = set(channels)
        self._actions = set(actions)

    def channels(self) -> set[str]:
        return set(self._channels)

    def actions(self) -> set[str]:
        return set(self._actions)
