"""What the JSON API sandboxes share: a threaded HTTP server on 127.0.0.1 and its knobs.

A sandbox subclass answers requests in :meth:`JsonSandbox.route`; this class
serves them, records each one in :attr:`JsonSandbox.requests`, answers queued
failures first (like a provider's rate limiter or load balancer, so they change
nothing), and can keep a JSONL log a person can read. Credentials are never
written to the log.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Reply:
    """An answer: a status, a JSON body (None for none) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One request as the sandbox got it; header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Answered:
    """One request the sandbox answered (the path without its query)."""

    method: str
    path: str
    status: int
    idempotency_key: str | None = None
    replayed: bool = False
    forced: bool = False


class JsonSandbox:
    """Start it (``with Sandbox() as sandbox``), point a connector at :attr:`url`."""

    name = "sandbox"

    def __init__(self, *, log: Path | None = None) -> None:
        self.log = log
        self.requests: list[Answered] = []
        self._lock = threading.Lock()
        self._forced: list[tuple[str | None, Reply]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{self.name}-sandbox",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port; safe to call twice, or without start()."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- knobs -----------------------------------------------------------------------------

    def force(self, reply: Reply, *, times: int = 1, path: str | None = None) -> None:
        """Answer the next ``times`` requests (whose path ends with ``path``) with ``reply``."""
        with self._lock:
            self._forced.extend((path, reply) for _ in range(times))

    # --- for subclasses --------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        """Answer one request; called with the sandbox's lock held."""
        raise NotImplementedError

    def replayed(self, request: Request) -> Reply | None:
        """A kept answer for a repeated request (idempotency), or None; lock held."""
        return None

    def idempotency_key(self, request: Request) -> str | None:
        """The request's idempotency key, as recorded and logged (``Idempotency-Key``)."""
        return request.header("idempotency-key")

    # --- serving ---------------------------------------------------------------------------

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        request = Request(method, parts.path, dict(parse_qsl(parts.query)), headers, body)
        with self._lock:
            forced = self._take_forced(request.path)
            replayed = None
            if forced is not None:
                reply = forced
            else:
                replayed = self.replayed(request)
                reply = replayed if replayed is not None else self.route(request)
            answered = Answered(
                method,
                request.path,
                reply.status,
                self.idempotency_key(request),
                replayed is not None,
                forced is not None,
            )
            self.requests.append(answered)
            self._write_log(target, request, reply, answered)
        return reply

    def _take_forced(self, path: str) -> Reply | None:
        for index, (suffix, reply) in enumerate(self._forced):
            if suffix is None or path.endswith(suffix):
                del self._forced[index]
                return reply
        return None

    def _write_log(self, target: str, request: Request, reply: Reply, answered: Answered) -> None:
        if self.log is None:
            return
        try:
            sent: Any = json.loads(request.body) if request.body else None
        except ValueError:
            sent = request.body.decode(errors="replace")
        entry: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "request": f"{request.method} {target}",
        }
        if answered.idempotency_key is not None:
            entry["idempotency_key"] = answered.idempotency_key
        if sent is not None:
            entry["body"] = sent
        entry["status"] = reply.status
        if answered.replayed:
            entry["replayed"] = True
        if answered.forced:
            entry["forced"] = True
        if "Location" in reply.headers:
            entry["location"] = reply.headers["Location"]
        if reply.body is not None:
            entry["response"] = reply.body
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _handler_for(sandbox: JsonSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections
        timeout = 10

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = sandbox._handle(self.command, self.path, headers, body)
            content = b"" if reply.body is None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                if reply.body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up

        # http.server calls do_<METHOD>: the names are its API.
        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: what happened goes to the sandbox's JSONL log instead."""

    return Handler
