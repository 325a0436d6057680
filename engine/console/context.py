"""What the console's pages share, and the dependencies that hand it to them.

:func:`engine.console.app.install_console` puts one :class:`ConsoleContext` on the app;
this module is the only one that reads it, as :mod:`engine.api.deps` does for the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from connectors.registry import ConnectorRegistry
from engine.settings import Settings
from engine.store import Store


@dataclass(frozen=True)
class ConsoleContext:
    """The store, the settings, Temporal and the connectors, for every console page."""

    store: Store
    settings: Settings
    client: Client | None  # None: no Temporal here (controls and test sends are refused)
    connectors: ConnectorRegistry


def console_context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


ContextDep = Annotated[ConsoleContext, Depends(console_context)]
