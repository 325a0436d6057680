"""Connector plugins: how journeys deliver messages and call other systems.

A plugin implements the ``cxflow_connectors`` hook (:mod:`connectors.hookspecs`)
and returns :class:`Connector` instances, and may serve HTTP routes in the event
API with ``cxflow_routes`` (:mod:`connectors.inbound`, :mod:`connectors.signing`);
the :class:`ConnectorRegistry` finds the built-ins and every plugin installed under
the ``cxflow.connectors`` entry point group. This module re-exports what a plugin
author needs.
"""

from __future__ import annotations

from connectors.base import Connector
from connectors.errors import (
    ConnectorError,
    ConnectorNotFoundError,
    ConnectorPluginError,
    PermanentConnectorError,
    RetryableConnectorError,
    error_for_status,
)
from connectors.hookspecs import hookimpl, hookspec
from connectors.http import HttpClient, HttpConnector
from connectors.models import (
    ActionSpec,
    CallRequest,
    CallResult,
    ConnectorInfo,
    Recipient,
    SendRequest,
    SendResult,
    Setting,
)
from connectors.registry import ConnectorRegistry, default_registry

__all__ = [
    "ActionSpec",
    "CallRequest",
    "CallResult",
    "Connector",
    "ConnectorError",
    "ConnectorInfo",
    "ConnectorNotFoundError",
    "ConnectorPluginError",
    "ConnectorRegistry",
    "HttpClient",
    "HttpConnector",
    "PermanentConnectorError",
    "Recipient",
    "RetryableConnectorError",
    "SendRequest",
    "SendResult",
    "Setting",
    "default_registry",
    "error_for_status",
    "hookimpl",
    "hookspec",
]
