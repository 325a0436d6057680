"""What routes take from the app: the store, the intake and the caller's key, as dependencies.

Routes declare ``store: StoreDep`` or ``intake: IntakeDep`` (FastAPI's
``Annotated[..., Depends(...)]``) instead of reading the application's state
themselves; :func:`engine.api.app.create_app` puts one :class:`ApiContext` there,
and this module is the only one that reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from engine.api.browsers import OriginCache
from engine.ingest.intake import Intake
from engine.store import Store


@dataclass(frozen=True)
class ApiContext:
    """What the routes of one app share."""

    store: Store
    intake: Intake
    origins: OriginCache


def api_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.cxflow
    return context


def _store(context: Annotated[ApiContext, Depends(api_context)]) -> Store:
    return context.store


def _intake(context: Annotated[ApiContext, Depends(api_context)]) -> Intake:
    return context.intake


def _origins(context: Annotated[ApiContext, Depends(api_context)]) -> OriginCache:
    return context.origins


StoreDep = Annotated[Store, Depends(_store)]
OriginsDep = Annotated[OriginCache, Depends(_origins)]
IntakeDep = Annotated[Intake, Depends(_intake)]
