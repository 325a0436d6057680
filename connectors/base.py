"""The connector contract: what a plugin implements to send messages or run actions.

A connector declares its channels, actions and settings as class attributes, so
the validator and `cxflow connectors list` know them without calling anything.
:meth:`Connector.call` checks inputs and outputs against the action's models, so
a journey with a wrong ``with:`` fails with a message, not deep inside a provider.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, JsonValue, TypeAdapter, ValidationError

from connectors.errors import PermanentConnectorError
from connectors.models import (
    ActionSpec,
    CallRequest,
    CallResult,
    ConnectorInfo,
    SendRequest,
    SendResult,
    Setting,
    settings_prefix,
)
from connectors.settings import ConnectorSettings

_JSON_OBJECT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


class Connector(ABC):
    """A channel provider, an action provider, or both.

    Subclasses set ``name`` and ``description`` and at least one of ``channels``
    (then override :meth:`send`) or ``actions`` (then override :meth:`run_action`).
    Settings come from ``CXFLOW_<NAME>_<KEY>`` environment variables; declare them in
    ``settings`` so missing ones are listed before anything is sent.
    """

    name: str
    description: str
    channels: tuple[str, ...] = ()
    actions: Mapping[str, ActionSpec] = {}
    settings: ClassVar[tuple[Setting, ...]] = ()
    fallback: bool = False
    """A fallback provides its channels only where no other connector does (``console``)."""

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    @classmethod
    def declared_settings(cls) -> tuple[Setting, ...]:
        """The settings of this class and its bases, so mixins can add their own."""
        merged: dict[str, Setting] = {}
        for klass in reversed(cls.__mro__):
            for setting in vars(klass).get("settings", ()):
                merged[setting.key] = setting
        return tuple(merged.values())

    @property
    def settings_prefix(self) -> str:
        return settings_prefix(self.name)

    @property
    def config(self) -> ConnectorSettings:
        """The settings, read from the environment (or the mapping given to ``__init__``)."""
        return ConnectorSettings(
            self.name, self.declared_settings(), getattr(self, "_environ", None)
        )

    def setting(self, key: str) -> str | None:
        return self.config.get(key)

    def require_setting(self, key: str) -> str:
        return self.config.require(key)

    def missing_settings(self) -> list[str]:
        """The environment variables of required settings that are not set."""
        return self.config.missing()

    def info(self) -> ConnectorInfo:
        missing = self.missing_settings()
        return ConnectorInfo(
            name=self.name,
            description=self.description,
            channels=list(self.channels),
            actions=[f"{self.name}.{action}" for action in self.actions],
            configured=not missing,
            missing_settings=missing,
        )

    async def send(self, request: SendRequest) -> SendResult:
        """Deliver one message. Must be idempotent on ``request.idempotency_key``."""
        if not self.channels:
            raise PermanentConnectorError(
                f"connector {self.name} has no channels: it cannot send on '{request.channel}'",
                connector=self.name,
            )
        raise PermanentConnectorError(
            f"connector {self.name} declares channels but does not implement send()",
            connector=self.name,
        )

    async def call(self, request: CallRequest) -> CallResult:
        """Run an action; inputs are checked by its ``input_model``, output by ``output_model``."""
        spec = self.actions.get(request.action)
        if spec is None:
            known = ", ".join(f"{self.name}.{a}" for a in sorted(self.actions)) or "none"
            raise PermanentConnectorError(
                f"connector {self.name} has no action '{request.action}' (its actions: {known})",
                connector=self.name,
            )
        inputs: BaseModel | dict[str, JsonValue] = dict(request.inputs)
        if spec.input_model is not None:
            try:
                inputs = spec.input_model.model_validate(request.inputs)
            except ValidationError as error:
                raise PermanentConnectorError(
                    f"{self.name}.{spec.name}: the inputs (`with:`) are not valid: "
                    f"{_describe(error)}",
                    connector=self.name,
                ) from error
        output = await self.run_action(spec, inputs, request)
        return CallResult(output=self._checked_output(spec, output))

    async def run_action(
        self,
        action: ActionSpec,
        inputs: BaseModel | dict[str, JsonValue],
        request: CallRequest,
    ) -> BaseModel | Mapping[str, Any]:
        """Do the action; ``inputs`` is an ``action.input_model`` when it has one."""
        raise PermanentConnectorError(
            f"connector {self.name} declares the action '{action.name}' but does not "
            "implement run_action()",
            connector=self.name,
        )

    async def forget(self, customer_id: str) -> int:
        """Erase what this connector keeps about a customer itself; how many records.

        Called by ``cxflow customers erase`` on every installed connector. Most keep
        nothing (the provider holds the messages: erase there with the provider's own
        tools); a connector that writes messages or logs of its own (the console's
        outbox) removes them here. Must be safe to call again.
        """
        return 0

    async def aclose(self) -> None:  # noqa: B027 - optional, most connectors hold nothing
        """Release connections; called once when the worker stops."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'name', '?')!r}>"

    def _checked_output(
        self, spec: ActionSpec, output: BaseModel | Mapping[str, Any]
    ) -> dict[str, JsonValue]:
        try:
            data: Any
            if spec.output_model is not None:
                if isinstance(output, spec.output_model):
                    model = output
                else:
                    raw = output.model_dump() if isinstance(output, BaseModel) else output
                    model = spec.output_model.model_validate(raw)
                data = model.model_dump(mode="json")
            elif isinstance(output, BaseModel):
                data = output.model_dump(mode="json")
            else:
                data = dict(output)
            return _JSON_OBJECT.validate_python(data)
        except (ValidationError, TypeError, ValueError) as error:
            detail = _describe(error) if isinstance(error, ValidationError) else str(error)
            raise PermanentConnectorError(
                f"{self.name}.{spec.name}: the output is not what the action promises: {detail}",
                connector=self.name,
            ) from error


def _describe(error: ValidationError) -> str:
    """Field paths and messages, without the values (they may be personal data)."""
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(all)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
