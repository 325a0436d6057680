"""The console's pages, one module per area of its navigation."""

from __future__ import annotations

from engine.console.routes import (
    audit,
    customers,
    journeys,
    login,
    messages,
    overview,
    segments,
    surveys,
)

ROUTERS = [
    module.router
    for module in (login, overview, journeys, customers, segments, surveys, messages, audit)
]
