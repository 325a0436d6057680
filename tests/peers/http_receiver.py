"""A real HTTP server on 127.0.0.1 standing in for a provider, for tests without mocks.

Connectors under test talk to it over a socket exactly as they would to a
provider. It records every request, and honours ``Idempotency-Key`` like real
providers do: the first request with a key is processed and its response kept;
a repeat gets the same response (with ``Idempotent-Replayed: true``) and is not
counted again in :attr:`HttpReceiver.unique_deliveries`. Failures can be
queued for the next requests (500, 429, 400...); they are answered before
processing, like a load balancer or rate limiter would, so they are neither
kept under the key nor counted.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as it arrived; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    replayed: bool

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What the receiver answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def of_json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(
            status=status,
            body=json.dumps(data).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )


class HttpReceiver:
    """Start it, point a connector at :meth:`url`, then look at :attr:`requests`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._kept: dict[str, Reply] = {}
        self._queued: deque[Reply] = deque()
        self._reply: Reply | None = None
        self._unique = 0
        self._server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> HttpReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="http-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # --- behaviour -------------------------------------------------------------------------

    def respond(self, reply: Reply | None) -> None:
        """Answer processed requests with this; None restores ``{"id": "msg-<n>"}``."""
        with self._lock:
            self._reply = reply

    def fail_next(
        self, status: int, times: int = 1, body: str = "", headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next ``times`` requests with ``status``, before processing them."""
        with self._lock:
            for _ in range(times):
                self._queued.append(Reply(status, body.encode(), dict(headers or {})))

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Answer the next ``times`` requests with a 200 only after ``seconds``."""
        with self._lock:
            for _ in range(times):
                self._queued.append(
                    Reply(200, b"{}", {"Content-Type": "application/json"}, seconds)
                )

    # --- what happened ---------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def unique_deliveries(self) -> int:
        """Requests processed, a key counted once however often it is retried."""
        with self._lock:
            return self._unique

    def last(self) -> ReceivedRequest:
        with self._lock:
            return self._requests[-1]

    # --- serving ---------------------------------------------------------------------------

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            key = headers.get("idempotency-key")
            replayed = False
            if self._queued:
                reply = self._queued.popleft()
            elif key is not None and key in self._kept:
                kept = self._kept[key]
                reply = Reply(
                    kept.status, kept.body, {**kept.headers, "Idempotent-Replayed": "true"}
                )
                replayed = True
            else:
                self._unique += 1
                reply = self._reply or Reply.of_json({"id": f"msg-{self._unique}"})
                if key is not None:
                    self._kept[key] = reply
            self._requests.append(ReceivedRequest(method, path, headers, body, replayed))
        return reply


def _handler_for(receiver: HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections
        timeout = 10

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = receiver._handle(self.command, self.path, headers, body)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a timeout test)

        # http.server calls do_<METHOD>: the names are its API.
        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests look at :attr:`HttpReceiver.requests` instead."""

    return Handler
