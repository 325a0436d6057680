"""Request size limits: bodies over the limit are refused with 413 before anything parses them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.models import MAX_BATCH_BYTES, MAX_CALL_BYTES
from engine.api.problems import error_response


class BodyLimit:
    """Refuse bodies over the limit with 413 before anything parses them.

    The body is read here (at most limit + 1 bytes are kept), so a chunked
    request without Content-Length is measured too; the app then reads it again.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def limit(path: str) -> int:
        if path.rstrip("/").endswith("/batch") or path.startswith("/v1/webhooks/"):
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
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
