"""The installed connectors: built-ins plus every plugin, found through pluggy.

The registry is what the runtime asks for a channel's or an action's connector,
and what the validator asks which channels and actions exist (it satisfies
:class:`dsl.catalog.ConnectorCatalog`). Everything that can be wrong with a
plugin (duplicate or invalid names, a hook returning classes) is reported when
the registry is built, naming the plugin, rather than when a journey first
reaches the step.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from connectors import builtin, hookspecs
from connectors.base import Connector
from connectors.errors import ConnectorNotFoundError, ConnectorPluginError
from connectors.hookspecs import PROJECT
from connectors.models import (
    ACTION_NAME_PATTERN,
    CHANNEL_PATTERN,
    CONNECTOR_NAME_PATTERN,
    ActionSpec,
    ConnectorInfo,
)

if TYPE_CHECKING:
    from fastapi import APIRouter

    from connectors.inbound import Intake

ENTRY_POINT_GROUP = "cxflow.connectors"
BUILTIN_PLUGIN = "cxflow.builtin"

_CONNECTOR_NAME_RE = re.compile(CONNECTOR_NAME_PATTERN)
_ACTION_NAME_RE = re.compile(ACTION_NAME_PATTERN)
_CHANNEL_RE = re.compile(CHANNEL_PATTERN)


class ConnectorRegistry:
    """Connectors by name, with lookups by channel and the catalog the validator reads.

    ``routes`` picks the connector of a channel that several connectors provide
    (``{"email": "smtp"}``); without a route a channel goes to its only non-fallback
    connector, or else to its fallback (``console``).
    """

    def __init__(
        self,
        *,
        builtins: bool = True,
        entry_points: bool = True,
        plugins: Iterable[object] = (),
        routes: Mapping[str, str] | None = None,
    ) -> None:
        self.plugin_manager = pluggy.PluginManager(PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        self._provided: dict[str, list[Connector]] = {}
        self._by_name: dict[str, Connector] = {}
        if builtins:
            self.plugin_manager.register(builtin, name=BUILTIN_PLUGIN)
        if entry_points:
            try:
                self.plugin_manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            except Exception as error:
                raise ConnectorPluginError(
                    f"the connector plugin {self._failed_entry_point()} failed to load "
                    f"({type(error).__name__}: {error}): reinstall or uninstall it"
                ) from error
        self._check_hooks()
        provided = {
            name: self._call(name, plugin)
            for name, plugin in self.plugin_manager.list_name_plugin()
            if plugin is not None
        }
        self._by_name = self._index(provided)
        self._provided = provided
        for plugin in plugins:
            self.register(plugin)
        self.routes: dict[str, str] = {}
        for channel, name in (routes or {}).items():
            self.route(channel, name)

    # --- plugins ---------------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> None:
        """Add a plugin (a module or object with ``@hookimpl`` functions) and its connectors.

        If the plugin's connectors clash with installed ones, it is not added.
        """
        plugin_name = name or _plugin_name(plugin)
        try:
            registered = self.plugin_manager.register(plugin, name=plugin_name)
        except ValueError as error:
            raise ConnectorPluginError(f"cannot register plugin {plugin_name}: {error}") from error
        if registered is None:
            raise ConnectorPluginError(f"the plugin {plugin_name} is blocked")
        try:
            self._check_hooks()
            provided = {**self._provided, registered: self._call(registered, plugin)}
            by_name = self._index(provided)
        except BaseException:
            self.plugin_manager.unregister(plugin)
            raise
        self._provided = provided
        self._by_name = by_name

    def route(self, channel: str, connector: str) -> None:
        """Send the channel through this connector, whatever else provides it."""
        target = self.get(connector)
        if channel not in target.channels:
            raise ConnectorPluginError(
                f"cannot route the channel '{channel}' to {connector}: it provides "
                f"{', '.join(target.channels) or 'no channels'}"
            )
        self.routes[channel] = connector

    def routers(self, intake: Intake) -> list[APIRouter]:
        """The HTTP routes of every plugin (``cxflow_routes``), for the event API to mount.

        Each plugin's result must be a list of ``fastapi.APIRouter``; two plugins (or
        one, twice) serving the same method and path is an error naming both.
        """
        from fastapi import APIRouter  # the API needs it; validate and the worker do not

        routers: list[APIRouter] = []
        served: dict[tuple[str, str], str] = {}
        for plugin_name, plugin in self.plugin_manager.list_name_plugin():
            if plugin is None:
                continue
            where = self._describe_plugin(plugin_name)
            results = self._results(
                "cxflow_routes", plugin_name, plugin, {"intake": intake}, "fastapi.APIRouter"
            )
            for router in results:
                if not isinstance(router, APIRouter):
                    kind = "the class " if isinstance(router, type) else ""
                    name = router.__name__ if isinstance(router, type) else type(router).__name__
                    raise ConnectorPluginError(
                        f"the plugin {where}: cxflow_routes() returned {kind}{name}, which is "
                        "not a fastapi.APIRouter"
                    )
                for key in _served(router):
                    if key in served:
                        first = served[key]
                        both = (
                            f"the plugin {first} serves it twice"
                            if first == where
                            else f"both the plugin {first} and the plugin {where} serve it"
                        )
                        raise ConnectorPluginError(
                            f"two routes are {key[0]} {key[1]}: {both}; uninstall one of them "
                            "or move its routes under another path"
                        )
                    served[key] = where
                routers.append(router)
        return routers

    # --- lookups ---------------------------------------------------------------------------

    def get(self, name: str) -> Connector:
        try:
            return self._by_name[name]
        except KeyError:
            raise ConnectorNotFoundError(name, self._by_name) from None

    def for_channel(self, channel: str) -> Connector:
        """The connector that delivers messages on this channel.

        In order: the route given to the registry; the ``CXFLOW_CHANNEL_<CHANNEL>``
        environment variable (``CXFLOW_CHANNEL_EMAIL=postmark``); the only provider
        whose required settings are all set; the fallback (``console``) when no
        provider is configured; the only provider, configured or not (its send then
        names the settings to set). Built-in providers such as ``smtp`` therefore take
        over the channel from ``console`` as soon as they are configured.
        """
        routed = self.routes.get(channel) or os.environ.get(channel_variable(channel))
        if routed:
            if routed not in self._by_name:
                raise ConnectorNotFoundError(routed, self._by_name)
            target = self._by_name[routed]
            if channel not in target.channels:
                raise ConnectorPluginError(
                    f"{channel_variable(channel)}={routed}, but {routed} provides "
                    f"{', '.join(target.channels) or 'no channels'}, not '{channel}'"
                )
            return target
        providers = [c for c in self if channel in c.channels]
        if not providers:
            raise ConnectorNotFoundError(channel, self.channels(), kind="channel")
        primary = [c for c in providers if not c.fallback]
        configured = [c for c in primary if not c.missing_settings()]
        fallback = [c for c in providers if c.fallback]
        candidates = configured or fallback or primary
        if len(candidates) > 1:
            names = ", ".join(c.name for c in candidates)
            raise ConnectorPluginError(
                f"the channel '{channel}' is provided by {names}: choose one with "
                f"{channel_variable(channel)}={candidates[0].name} (or a route: "
                f"routes={{'{channel}': '{candidates[0].name}'}})"
            )
        return candidates[0]

    def channels(self) -> set[str]:
        """Channel names usable in ``send:`` steps."""
        return {channel for connector in self for channel in connector.channels}

    def fallback_channels(self) -> set[str]:
        """Channels whose messages would go to a fallback (``console``): nothing delivered.

        The validator warns at such sends (:class:`dsl.catalog.FallbackAwareCatalog`); a
        channel whose choice is ambiguous or misrouted is left to :meth:`for_channel`'s
        own errors, at send time.
        """
        falling_back = set()
        for channel in self.channels():
            try:
                if self.for_channel(channel).fallback:
                    falling_back.add(channel)
            except (ConnectorNotFoundError, ConnectorPluginError):
                continue
        return falling_back

    def actions(self) -> set[str]:
        """Actions usable in ``call:`` steps, as ``connector.action``."""
        return {f"{connector.name}.{action}" for connector in self for action in connector.actions}

    def infos(self) -> list[ConnectorInfo]:
        return [connector.info() for connector in self]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def plugin_of(self, name: str) -> str:
        """Which plugin provides a connector, as shown in error messages."""
        self.get(name)
        for plugin_name, connectors in self._provided.items():
            if any(c.name == name for c in connectors):
                return self._describe_plugin(plugin_name)
        raise AssertionError(name)  # pragma: no cover - every indexed connector has a plugin

    def __iter__(self) -> Iterator[Connector]:
        return iter([self._by_name[name] for name in sorted(self._by_name)])

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    async def aclose(self) -> None:
        """Close every connector's connections (when the worker stops)."""
        for connector in self:
            await connector.aclose()

    # --- building --------------------------------------------------------------------------

    def _check_hooks(self) -> None:
        try:
            self.plugin_manager.check_pending()
        except pluggy.PluginValidationError as error:
            raise ConnectorPluginError(
                f"the plugin {error.plugin} has a hook cxflow does not know: {error} "
                "(cxflow's hooks are `cxflow_connectors` and `cxflow_routes`)"
            ) from error

    def _call(self, plugin_name: str, plugin: object) -> list[Connector]:
        """The connectors of one plugin, checked."""
        where = self._describe_plugin(plugin_name)
        connectors: list[Connector] = []
        for item in self._results("cxflow_connectors", plugin_name, plugin, {}, "connectors"):
            _check_connector(item, where)
            connectors.append(item)
        return connectors

    def _results(
        self, hook: str, plugin_name: str, plugin: object, arguments: dict[str, Any], what: str
    ) -> list[Any]:
        """What one plugin's implementations of ``hook`` return, as one list.

        Each plugin's hook is called on its own (rather than all at once through
        ``plugin_manager.hook``) so that every problem names the plugin that has it.
        """
        where = self._describe_plugin(plugin_name)
        items: list[Any] = []
        caller: pluggy.HookCaller = getattr(self.plugin_manager.hook, hook)
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin or impl.hookwrapper or impl.wrapper:
                continue
            try:
                result: Any = impl.function(*(arguments[name] for name in impl.argnames))
            except Exception as error:
                raise ConnectorPluginError(
                    f"the plugin {where} failed in {hook}() ({type(error).__name__}: {error})"
                ) from error
            if result is None:
                continue
            if not isinstance(result, list | tuple):
                raise ConnectorPluginError(
                    f"the plugin {where}: {hook}() must return a list of {what}, "
                    f"not {type(result).__name__}"
                )
            items.extend(result)
        return items

    def _index(self, provided: Mapping[str, list[Connector]]) -> dict[str, Connector]:
        by_name: dict[str, Connector] = {}
        owner: dict[str, str] = {}
        for plugin_name, connectors in provided.items():
            for connector in connectors:
                if connector.name in by_name:
                    first, second = owner[connector.name], plugin_name
                    if first == second:
                        where = f"the plugin {self._describe_plugin(first)} provides it twice"
                    else:
                        where = (
                            f"both the plugin {self._describe_plugin(first)} and the plugin "
                            f"{self._describe_plugin(second)} provide it"
                        )
                    raise ConnectorPluginError(
                        f"two connectors are named '{connector.name}': {where}; "
                        "uninstall one of them or give it another name"
                    )
                by_name[connector.name] = connector
                owner[connector.name] = plugin_name
        return by_name

    def _failed_entry_point(self) -> str:
        """The entry point pluggy stopped at: the first one, in its order, not registered."""
        for dist in importlib.metadata.distributions():
            for entry_point in dist.entry_points:
                if entry_point.group == ENTRY_POINT_GROUP and not (
                    self.plugin_manager.has_plugin(entry_point.name)
                    or self.plugin_manager.is_blocked(entry_point.name)
                ):
                    return f"'{entry_point.name}' (from {dist.name} {dist.version})"
        return f"of the '{ENTRY_POINT_GROUP}' entry points"  # pragma: no cover

    def _describe_plugin(self, plugin_name: str) -> str:
        plugin = self.plugin_manager.get_plugin(plugin_name)
        for candidate, dist in self.plugin_manager.list_plugin_distinfo():
            if candidate is plugin:
                return f"'{plugin_name}' (from {dist.project_name} {dist.version})"
        return f"'{plugin_name}'"


def channel_variable(channel: str) -> str:
    """``CXFLOW_CHANNEL_EMAIL``: the variable that picks the connector of a channel."""
    return f"CXFLOW_CHANNEL_{channel.upper().replace('-', '_')}"


def default_registry(routes: Mapping[str, str] | None = None) -> ConnectorRegistry:
    """The built-in connectors and every installed ``cxflow.connectors`` plugin."""
    return ConnectorRegistry(routes=routes)


def _plugin_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    name = getattr(plugin, "__qualname__", None) or type(plugin).__qualname__
    return f"{getattr(plugin, '__module__', '?')}.{name}"


def _served(router: APIRouter) -> list[tuple[str, str]]:
    """(method, path) of every route of a router; ``*`` for a route of every method."""
    served = []
    for route in router.routes:
        path = str(getattr(route, "path", "?"))
        methods = getattr(route, "methods", None) or {"*"}
        served += [(str(method), path) for method in sorted(methods) if method != "HEAD"]
    return served


def _check_connector(item: object, where: str) -> None:
    """A connector whose names the DSL can write, with actions keyed by their names."""
    if isinstance(item, type) and issubclass(item, Connector):
        raise ConnectorPluginError(
            f"the plugin {where} returned the class {item.__name__}: return an instance, "
            f"{item.__name__}()"
        )
    if not isinstance(item, Connector):
        raise ConnectorPluginError(
            f"the plugin {where} returned {type(item).__name__}, which is not a "
            "connectors.Connector"
        )
    label = f"{type(item).__name__} of the plugin {where}"
    name = getattr(item, "name", None)
    if not isinstance(name, str) or not _CONNECTOR_NAME_RE.match(name):
        raise ConnectorPluginError(
            f"{label} has the name {name!r}: a connector name is lower-case letters, digits, "
            "'-' and '_', starting with a letter (journeys write it in `call: <name>.<action>`)"
        )
    if not isinstance(getattr(item, "description", None), str):
        raise ConnectorPluginError(f"{label} ({name}) has no `description`")
    for channel in item.channels:
        if not isinstance(channel, str) or not _CHANNEL_RE.match(channel):
            raise ConnectorPluginError(
                f"connector {name} ({where}) has the channel {channel!r}: a channel name is "
                "lower-case letters, digits, '-' and '_' (at most 64)"
            )
    for key, spec in item.actions.items():
        if not isinstance(spec, ActionSpec) or spec.name != key:
            raise ConnectorPluginError(
                f"connector {name} ({where}): the action {key!r} must be an ActionSpec "
                "whose name is its key"
            )
        if not _ACTION_NAME_RE.match(key):  # pragma: no cover - ActionSpec checks the name
            raise ConnectorPluginError(f"connector {name} ({where}): bad action name {key!r}")
