"""What the validator may know about installed connectors.

The DSL names channels (``send: {channel: email}``) and actions
(``call: shop.create_discount``); whether those exist is up to the connector
plugins installed. The validator takes any object with this shape, so the DSL
does not depend on the plugin machinery.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class ConnectorCatalog(Protocol):
    """The channels and actions that installed connectors provide."""

    def channels(self) -> set[str]:
        """Channel names usable in ``send:`` steps."""
        ...

    def actions(self) -> set[str]:
        """Actions usable in ``call:`` steps, as ``connector.action``."""
        ...


@runtime_checkable
class FallbackAwareCatalog(Protocol):
    """A catalog that also knows which channels only a fallback connector serves.

    Optional: a :class:`ConnectorCatalog` without ``fallback_channels`` is still a
    catalog, and then no channel counts as served by the fallback.
    """

    def fallback_channels(self) -> set[str]:
        """Channels whose messages would go to a fallback connector (``console``), which
        writes them to its outbox and delivers nothing, because no connector that really
        delivers them is installed and configured."""
        ...


def fallback_channels(catalog: ConnectorCatalog) -> set[str]:
    """The channels only a fallback serves, or none when the catalog cannot tell."""
    if isinstance(catalog, FallbackAwareCatalog):
        return set(catalog.fallback_channels())
    return set()


class StaticCatalog:
    """A fixed catalog: for tests, and for tools that know the connectors in advance."""

    def __init__(
        self, channels: set[str], actions: set[str], fallback: set[str] | None = None
    ) -> None:
        self._channels = set(channels)
        self._actions = set(actions)
        self._fallback = set(fallback or ())

    def channels(self) -> set[str]:
        return set(self._channels)

    def actions(self) -> set[str]:
        return set(self._actions)

    def fallback_channels(self) -> set[str]:
        return set(self._fallback)
