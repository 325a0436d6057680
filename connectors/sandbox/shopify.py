"""A local Shopify Admin API subset: what `cxflow dev` talks to when no store is configured.

It answers the calls the `shop` connector makes, with Shopify's paths, status
codes and JSON shapes (price rules, discount codes, orders), checks the access
token, remembers idempotency keys, and appends what it did to a JSONL log a
person can read. It is a real HTTP server on 127.0.0.1, not a mock.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

Reply = tuple[int, dict[str, Any]]


class ShopifySandbox:
    """Start it, point CXFLOW_SHOP_STORE_URL at :attr:`url` and use :attr:`access_token`."""

    def __init__(self, log: Path | None = None, access_token: str | None = None) -> None:
        self.access_token = access_token or f"shpat_sandbox_{secrets.token_hex(8)}"
        self.log = log
        self.price_rules: dict[int, dict[str, Any]] = {}
        self.discount_codes: dict[str, dict[str, Any]] = {}
        self.orders: list[dict[str, Any]] = []
        self._replies: dict[str, Reply] = {}
        self._forced: list[Reply] = []
        self._lock = threading.Lock()
        self._next_id = 1000
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ShopifySandbox:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ShopifySandbox:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def force_next(self, status: int, body: dict[str, Any] | None = None) -> None:
        """Answer the next request with this status (for 429/5xx tests)."""
        with self._lock:
            self._forced.append((status, body or {"errors": "forced by the test"}))

    # --- serving -------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            if self._forced:
                return self._forced.pop(0)
            if headers.get("x-shopify-access-token") != self.access_token:
                return 401, {"errors": "[API] Invalid API key or access token"}
            key = headers.get("idempotency-key")
            if key and key in self._replies:
                return self._replies[key]
            reply = self._route(method, path.split("?")[0], body)
            if key and reply[0] < 500:
                self._replies[key] = reply
            self._record(method, path, reply)
            return reply

    def _route(self, method: str, path: str, body: bytes) -> Reply:
        parts = path.strip("/").split("/")  # admin/api/<version>/...
        if len(parts) < 4 or parts[:2] != ["admin", "api"]:
            return 404, {"errors": "Not Found"}
        resource = parts[3:]
        try:
            payload = json.loads(body) if body else {}
        except json.JSONDecodeError:
            return 400, {"errors": "body is not JSON"}
        if method == "POST" and resource == ["price_rules.json"]:
            rule = dict(payload.get("price_rule", {}))
            if "value" not in rule or "title" not in rule:
                return 422, {"errors": {"price_rule": ["title and value are required"]}}
            self._next_id += 1
            rule["id"] = self._next_id
            self.price_rules[rule["id"]] = rule
            return 201, {"price_rule": rule}
        if method == "POST" and len(resource) == 3 and resource[2] == "discount_codes.json":
            rule_id = int(resource[1])
            if rule_id not in self.price_rules:
                return 404, {"errors": "Not Found"}
            code = str(payload.get("discount_code", {}).get("code", ""))
            if not code:
                return 422, {"errors": {"code": ["can't be blank"]}}
            if code in self.discount_codes:
                return 422, {"errors": {"code": ["must be unique"]}}
            self._next_id += 1
            record = {"id": self._next_id, "price_rule_id": rule_id, "code": code}
            self.discount_codes[code] = record
            return 201, {"discount_code": record}
        if method == "GET" and resource == ["orders.json"]:
            return 200, {"orders": list(self.orders)}
        return 404, {"errors": "Not Found"}

    def _record(self, method: str, path: str, reply: Reply) -> None:
        if self.log is None:
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as file:
            file.write(json.dumps({"request": f"{method} {path}", "status": reply[0],
                                   "response": reply[1]}) + "\n")  # fmt: skip


def _handler(sandbox: ShopifySandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, data = sandbox.handle(self.command, self.path, headers, body)
            encoded = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(encoded)

        do_GET = _serve  # noqa: N815
        do_POST = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
