"""Request size limits: bodies over the limit are refused with 413 before anything parses them."""

from __future__ import annotations

import zlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.models import MAX_BATCH_BYTES, MAX_CALL_BYTES
from engine.api.problems import error_response

BATCH_PATHS = ("/v1/batch", "/v1/b", "/v1/import")


class BodyLimit:
    """Refuse bodies over the limit with 413 before anything parses them.

    The body is read here (at most limit + 1 bytes are kept), so a chunked
    request without Content-Length is measured too; the app then reads it again.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def limit(path: str) -> int:
        if path.rstrip("/") in BATCH_PATHS or path.startswith("/v1/webhooks/"):
            return MAX_BATCH_BYTES
        return MAX_CALL_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        too_large = error_response(
            413,
            f"the request body is larger than {limit // 1024} KB, the most this endpoint "
            "accepts (32 KB per call, 500 KB per batch): send fewer or smaller calls",
            code="too_large",
        )
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await too_large(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _gzipped(scope):
            # Segment's and RudderStack's SDKs compress their batches (RudderStack by
            # default): the limits apply to what the body holds, so a small compressed
            # body cannot expand into a large one.
            try:
                body = _gunzip(body, limit)
            except _TooLargeError:
                await too_large(scope, receive, send)
                return
            except (OSError, EOFError, zlib.error):
                refused = error_response(
                    400,
                    "the body says Content-Encoding: gzip but is not gzip data: send it "
                    "compressed, or without that header",
                    code="invalid_encoding",
                )
                await refused(scope, receive, send)
                return
            scope = _decoded(scope, len(body))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class _TooLargeError(Exception):
    """The decompressed body would pass the limit."""


def _gzipped(scope: Scope) -> bool:
    return any(
        name == b"content-encoding" and value.strip().lower() in (b"gzip", b"x-gzip")
        for name, value in scope["headers"]
    )


def _gunzip(body: bytes, limit: int) -> bytes:
    """The body decompressed, reading at most ``limit + 1`` bytes of it."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = decompressor.decompress(body, limit + 1)
    if len(data) > limit or decompressor.unconsumed_tail:
        raise _TooLargeError
    if not decompressor.eof:
        raise EOFError("the gzip data is cut short")
    return data


def _decoded(scope: Scope, size: int) -> Scope:
    """The scope as if the body had been sent uncompressed."""
    headers = [
        (name, value)
        for name, value in scope["headers"]
        if name not in (b"content-encoding", b"content-length")
    ]
    return {**scope, "headers": [*headers, (b"content-length", str(size).encode())]}
