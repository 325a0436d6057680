"""What browser SDKs need from the event API: CORS for allowed origins, and text/plain JSON.

analytics.js (Segment's analytics-next) posts each call from the page's origin with
``Content-Type: text/plain`` and an ``Authorization`` header, so the browser asks
first (a CORS preflight) and reads the answer only if it names the page's origin.
Each source allows its own origins (``cxflow keys origins SOURCE --add ORIGIN``):
this middleware answers preflights and marks answers for any origin some source
allows; :func:`engine.api.auth.require_key` then refuses a call whose origin its
source does not allow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.problems import error_response

# The paths browsers send events to: Segment's long ones, analytics.js's one-letter ones.
_CALLS = ("track", "identify", "page", "screen", "group", "alias", "batch", "import")
EVENT_PATHS = frozenset(f"/v1/{name}" for name in (*_CALLS, "t", "i", "p", "s", "g", "a", "b", "m"))
# analytics.js's settings (GET, what Segment's CDN answers): readable from pages too.
SETTINGS_PREFIX = "/v1/projects/"
ALLOWED_HEADERS = "authorization, content-type, content-encoding, x-retry-count"


class OriginCache:
    """Every source's allowed origins, read from the store at most once a second."""

    def __init__(self, load: Callable[[], dict[str, list[str]]], ttl: float = 1.0) -> None:
        self._load = load
        self._ttl = ttl
        self._read_at = float("-inf")
        self._origins: dict[str, list[str]] = {}
        self._lock = asyncio.Lock()

    async def by_source(self) -> dict[str, list[str]]:
        if time.monotonic() - self._read_at > self._ttl:
            async with self._lock:
                if time.monotonic() - self._read_at > self._ttl:
                    self._origins = await asyncio.to_thread(self._load)
                    self._read_at = time.monotonic()
        return self._origins

    async def allows(self, origin: str, source: str | None = None) -> bool:
        """Whether ``source`` (any source, when None) lets pages of ``origin`` send."""
        origins = await self.by_source()
        lists = [origins.get(source, [])] if source is not None else list(origins.values())
        return any(origin in allowed or "*" in allowed for allowed in lists)


class BrowserSources:
    """CORS on the event paths, and text/plain bodies read as the JSON they are."""

    def __init__(self, app: ASGIApp, origins: OriginCache) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/") if scope["type"] == "http" else ""
        if not (path in EVENT_PATHS or path.startswith(SETTINGS_PREFIX)):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await self._preflight(origin, scope, receive, send)
            return
        if headers.get(b"content-type", b"").split(b";")[0].strip().lower() == b"text/plain":
            scope = {
                **scope,
                "headers": [
                    (name, b"application/json" if name == b"content-type" else value)
                    for name, value in scope["headers"]
                ],
            }
        if not origin or not await self.origins.allows(origin):
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"vary", b"Origin"),
                ]
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, scope: Scope, receive: Receive, send: Send) -> None:
        if not origin or not await self.origins.allows(origin):
            refused = error_response(
                403,
                f"pages of {origin or 'this origin'} may not send events here: allow the "
                "origin for its source with `cxflow keys origins SOURCE --add ORIGIN`",
                code="origin_not_allowed",
            )
            await refused(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                    (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                    (b"access-control-max-age", b"600"),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


# What the documentation pages (/docs, /redoc) may load: the API's own assets, their inline
# start-up script and styles, ReDoc's blob: worker. ReDoc's footer logo comes from
# cdn.redoc.ly: refused here, so the pages make no request off this server.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


class DocsPolicy:
    """Give the documentation pages a Content-Security-Policy of local assets only."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...] = ("/docs", "/redoc")) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = DOCS_POLICY
            await send(message)

        await self.app(scope, receive, with_policy)
