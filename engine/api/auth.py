"""Who may call the API: keys of event sources, each with a scope.

A ``write`` key sends events (``/v1/track`` and friends): emitting systems hold
it, so it reads nothing back, as in Segment. A ``read`` key reads reports and
customers' profiles for dashboards, notebooks and support tools. Keys travel as
the HTTP Basic username with an empty password (Segment's convention), as
``Authorization: Bearer <key>``, or (write keys, as analytics.js also sends them)
in the body's ``writeKey``; the store keeps only their SHA-256. A call from a
browser (with an ``Origin``) must come from an origin its source allows.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBearer

from engine.api.deps import OriginsDep, StoreDep
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
        origins: OriginsDep,
        _basic_credentials: Annotated[Any, Depends(_basic)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        key = bearer.credentials if bearer is not None else _basic_username(request)
        if not key and scope == "write":
            key = await _body_write_key(request)
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
        origin = request.headers.get("origin")
        if origin and scope == "write" and not await origins.allows(origin, source):
            raise ApiProblemError(
                403,
                f"pages of {origin} may not send events of source {source}: allow them with "
                f"`cxflow keys origins {source} --add {origin}`",
                code="origin_not_allowed",
            )
        return source

    return authenticate


async def _body_write_key(request: Request) -> str | None:
    """The ``writeKey`` of a JSON body (analytics.js and Segment's batch put it there)."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return None
    key = body.get("writeKey") if isinstance(body, dict) else None
    return key if isinstance(key, str) else None


Source = Annotated[str, Depends(require_key("write"))]
Reader = Annotated[str, Depends(require_key("read"))]
