"""Connector settings from environment variables, with secrets kept out of sight.

Settings are read when used, not at import, so a worker picks up the environment
it runs in, and tests can pass their own mapping. A secret's value is only ever
returned to the connector that asked: never in a repr, a log line or an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from connectors.errors import ConnectorPluginError, PermanentConnectorError
from connectors.models import Setting, settings_prefix


class ConnectorSettings:
    """The declared settings of one connector and where to read them."""

    def __init__(
        self,
        connector: str,
        declared: Sequence[Setting],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.connector = connector
        self.prefix = settings_prefix(connector)
        self.declared = {setting.key: setting for setting in declared}
        self._environ = environ

    def variable(self, key: str) -> str:
        """The environment variable of a setting: ``CXFLOW_WEBHOOK_SECRET`` for ``SECRET``."""
        self._declared(key)
        return f"{self.prefix}{key}"

    def get(self, key: str) -> str | None:
        """The value, or the declared default; an empty variable counts as not set."""
        setting = self._declared(key)
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(f"{self.prefix}{key}", "")
        return value if value else setting.default

    def require(self, key: str) -> str:
        """The value, or a permanent error that names the variable to set."""
        value = self.get(key)
        if value is None:
            setting = self.declared[key]
            raise PermanentConnectorError(
                f"{self.connector}: set {self.variable(key)} ({setting.description})",
                connector=self.connector,
            )
        return value

    def missing(self) -> list[str]:
        """The variables of required settings that are not set."""
        return [
            self.variable(key)
            for key, setting in self.declared.items()
            if setting.required and self.get(key) is None
        ]

    def redacted(self) -> dict[str, str | None]:
        """Variable → value for display; secrets show as ``<set>`` and never their value."""
        shown: dict[str, str | None] = {}
        for key, setting in self.declared.items():
            value = self.get(key)
            shown[self.variable(key)] = "<set>" if setting.secret and value is not None else value
        return shown

    def __repr__(self) -> str:
        return f"ConnectorSettings({self.connector!r}, keys={sorted(self.declared)})"

    def _declared(self, key: str) -> Setting:
        try:
            return self.declared[key]
        except KeyError:
            known = ", ".join(sorted(self.declared)) or "none"
            raise ConnectorPluginError(
                f"{self.connector}: the connector reads the setting {key!r} but does not "
                f"declare it in `settings` (declared: {known})",
                connector=self.connector,
            ) from None
