"""Who may call the API: keys of event sources, each with a scope.

A ``write`` key sends events (``/v1/track`` and friends): emitting systems hold
it, so it reads nothing back, as in Segment. A ``read`` key reads reports
(``/v1/journeys/.../report``) for dashboards and notebooks. Keys travel as the
HTTP Basic username with an empty password (Segment's convention) or as
``Authorization: Bearer <key>``; the store keeps only their SHA-256.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBearer

from engine.api.deps import StoreDep
from engine.api.problems import AUTH_HELP, ApiProblemError
from engine.store import KeyScope

__all__ = ["AUTH_HELP", "ApiProblemError", "Reader", "Source", "require_key"]


def _create_hint(scope: KeyScope) -> str:
    return f"`cxflow keys create --source NAME{' --scope read' if scope == 'read' else ''}`"


_basic = HTTPBasic(auto_error=False, description="The key as username, empty password.")
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`.")


def _basic_username(request: Request) -> str | None:
    """The Basic username; HTTPBasic refuses an empty password, which Segment sends."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0]


def require_key(scope: KeyScope) -> Callable[..., Awaitable[str]]:
    """A dependency answering the source of a valid ``scope`` key; 401 otherwise."""

    async def authenticate(
        request: Request,
        store: StoreDep,
        _basic_credentials: Annotated[Any, Depends(_basic)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        key = bearer.credentials if bearer is not None else _basic_username(request)
        if not key:
            raise ApiProblemError(
                401,
                f"send your {scope} key as the HTTP Basic username (empty password) or as "
                f"`Authorization: Bearer <key>`; create one with {_create_hint(scope)}",
            )
        source = await asyncio.to_thread(store.check_write_key, key, scope)
        if source is None:
            raise ApiProblemError(
                401, f"unknown {scope} key: check it, or create one with {_create_hint(scope)}"
            )
        return source

    return authenticate


Source = Annotated[str, Depends(require_key("write"))]
Reader = Annotated[str, Depends(require_key("read"))]
