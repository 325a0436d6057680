"""A local Shopify: the part of the Admin REST API the ``shop`` connector uses.

`cxflow dev` starts it when ``CXFLOW_SHOP_STORE_URL`` is not set, so the shipped
journeys create discount codes with no store, no credentials and no network;
the tests use it the same way. It is a real HTTP server on 127.0.0.1 (an
OS-chosen port) with Shopify's paths, status codes and JSON shapes, under
``/admin/api/<version>/``:

==========================================================  ====================================
``POST   price_rules.json``                                 201 ``{"price_rule": {...}}``
``GET    price_rules/<id>.json``                            200 ``{"price_rule": {...}}``
``DELETE price_rules/<id>.json``                            204
``POST   price_rules/<id>/discount_codes.json``             201 ``{"discount_code": {...}}``
``GET    price_rules/<id>/discount_codes/<id>.json``        200 ``{"discount_code": {...}}``
``GET    discount_codes/lookup.json?code=<code>``           303, ``Location``: the code's URL
``GET    customers/<id>/orders.json?status=any&limit=<n>``  200 ``{"orders": [...]}``
``GET    orders.json?customer_id=<id>&status=any``          200 ``{"orders": [...]}``
==========================================================  ====================================

Like Shopify it answers 401 without the right ``X-Shopify-Access-Token``, 404
``{"errors": "Not Found"}`` for unknown paths and ids, and 422 ``{"errors":
{"<field>": ["<message>"]}}`` for invalid input (a code already taken: ``"must be
unique"``). It also honours ``Idempotency-Key`` on POSTs: a repeat gets the first
answer (with ``Idempotent-Replayed: true``) and changes nothing. State is kept in
memory; with ``log`` set, every request and answer is appended to a JSONL file a
person can read (never the access token).
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from connectors.sandbox.base import Answered, JsonSandbox, Reply, Request

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_LIMITED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume "
    "uninterrupted service."
)
NOT_FOUND: dict[str, Any] = {"errors": "Not Found"}
MAX_ORDERS = 250
_API_PATH = re.compile(r"^/admin/api/(?P<version>\d{4}-\d{2}|unstable)/(?P<resource>.+)$")
_PRICE_RULE_REQUIRED = (
    "title",
    "target_type",
    "target_selection",
    "allocation_method",
    "value_type",
    "value",
    "customer_selection",
    "starts_at",
)
_PRICE_RULE_DEFAULTS: dict[str, Any] = {
    "once_per_customer": False,
    "usage_limit": None,
    "ends_at": None,
    "allocation_limit": None,
    "entitled_product_ids": [],
    "entitled_variant_ids": [],
    "entitled_collection_ids": [],
    "entitled_country_ids": [],
    "prerequisite_customer_ids": [],
}

SandboxRequest = Answered  # one request the sandbox answered (its name before JsonSandbox)


class ShopifySandbox(JsonSandbox):
    """Start it, set ``CXFLOW_SHOP_STORE_URL`` to :attr:`url` and the token to :attr:`access_token`.

    What it holds can be read while it runs: :attr:`price_rules` by id,
    :attr:`discount_codes` by code, :attr:`orders` (add them with :meth:`add_order`)
    and every answered request in :attr:`requests`.
    """

    name = "shopify"

    def __init__(self, *, log: Path | None = None, access_token: str | None = None) -> None:
        super().__init__(log=log)
        self.access_token = access_token or f"shpat_sandbox_{secrets.token_hex(16)}"
        self.price_rules: dict[int, dict[str, Any]] = {}
        self.discount_codes: dict[str, dict[str, Any]] = {}
        self.orders: list[dict[str, Any]] = []
        self._next_id = 1000
        self._replies: dict[str, tuple[str, Reply]] = {}

    # --- knobs for tests and demos ---------------------------------------------------------

    def fail_next(
        self,
        status: int,
        errors: Any = None,
        *,
        retry_after: float | None = None,
        times: int = 1,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and ``{"errors": errors}``.

        With ``path``, only requests whose path ends with it (``discount_codes.json``).
        They are answered before anything else (like Shopify's rate limiter), so
        nothing changes and no idempotency key is kept. A 429 gets Shopify's
        message and ``Retry-After: 2.0`` unless told otherwise.
        """
        if errors is None:
            errors = RATE_LIMITED if status == 429 else HTTPStatus(status).phrase
        if retry_after is None and status == 429:
            retry_after = 2.0
        headers = {"Retry-After": str(float(retry_after))} if retry_after is not None else {}
        self.force(Reply(status, {"errors": errors}, headers), times=times, path=path)

    def forget_idempotency_keys(self) -> None:
        """Act like a store that ignores ``Idempotency-Key`` (as Shopify's REST API may)."""
        with self._lock:
            self._replies.clear()

    def add_order(
        self,
        customer_id: int | str,
        total_price: str = "0.00",
        *,
        created_at: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Add an order of this (numeric) Shopify customer, as ``GET .../orders.json`` shows it."""
        with self._lock:
            order_id = self._new_id()
            number = len(self.orders) + 1001
            order: dict[str, Any] = {
                "id": order_id,
                "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
                "name": f"#{number}",
                "order_number": number,
                "customer": {"id": int(customer_id)},
                "total_price": total_price,
                "currency": "USD",
                "financial_status": "paid",
                "created_at": created_at or _now(),
                "closed_at": None,
                "cancelled_at": None,
                **fields,
            }
            self.orders.append(order)
            return order

    # --- serving ---------------------------------------------------------------------------

    def idempotency_key(self, request: Request) -> str | None:
        """Shopify keeps ``Idempotency-Key`` on POSTs only."""
        return request.header("idempotency-key") if request.method == "POST" else None

    def replayed(self, request: Request) -> Reply | None:
        """The first answer again, for a POST repeating a key (with the right token)."""
        key = self.idempotency_key(request)
        if key is None or key not in self._replies or not self._authorized(request):
            return None
        fingerprint, kept = self._replies[key]
        if fingerprint != f"{request.method} {request.path}":
            return None  # route() refuses it
        return Reply(kept.status, kept.body, {**kept.headers, "Idempotent-Replayed": "true"})

    def route(self, request: Request) -> Reply:
        if not self._authorized(request):
            return Reply(401, {"errors": INVALID_TOKEN})
        key = self.idempotency_key(request)
        if key is not None and key in self._replies:
            return Reply(
                422, {"errors": {"idempotency_key": ["was already used for another request"]}}
            )
        reply = self._route(request.method, request.path, request.query, request.body)
        if key is not None and reply.status < 500:
            self._replies[key] = (f"{request.method} {request.path}", reply)
        return reply

    def _authorized(self, request: Request) -> bool:
        return request.header("x-shopify-access-token") == self.access_token

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        match = _API_PATH.match(path)
        if match is None:
            return Reply(404, NOT_FOUND)
        version, resource = match["version"], match["resource"]
        payload: Any = None
        if method in ("POST", "PUT"):
            try:
                payload = json.loads(body) if body else None
            except ValueError:
                return Reply(400, {"errors": "The request body is not valid JSON"})
        if method == "POST" and resource == "price_rules.json":
            return self._create_price_rule(payload)
        if found := re.fullmatch(r"price_rules/(\d+)\.json", resource):
            if method == "GET":
                return self._get_price_rule(int(found[1]))
            if method == "DELETE":
                return self._delete_price_rule(int(found[1]))
        if method == "POST" and (
            found := re.fullmatch(r"price_rules/(\d+)/discount_codes\.json", resource)
        ):
            return self._create_discount_code(int(found[1]), payload)
        if method == "GET" and (
            found := re.fullmatch(r"price_rules/(\d+)/discount_codes/(\d+)\.json", resource)
        ):
            return self._get_discount_code(int(found[1]), int(found[2]))
        if method == "GET" and resource == "discount_codes/lookup.json":
            return self._lookup_discount_code(query.get("code", ""), version)
        if method == "GET" and (found := re.fullmatch(r"customers/(\d+)/orders\.json", resource)):
            return self._list_orders(found[1], query)
        if method == "GET" and resource == "orders.json":
            return self._list_orders(query.get("customer_id"), query)
        return Reply(404, NOT_FOUND)

    # --- price rules and discount codes ----------------------------------------------------

    def _create_price_rule(self, payload: Any) -> Reply:
        fields = payload.get("price_rule") if isinstance(payload, dict) else None
        if not isinstance(fields, dict):
            return Reply(400, {"errors": {"price_rule": "Required parameter missing or invalid"}})
        errors: dict[str, list[str]] = {
            name: ["can't be blank"]
            for name in _PRICE_RULE_REQUIRED
            if fields.get(name) in (None, "")
        }
        if "value" not in errors:
            for name, messages in _value_errors(fields["value"], fields.get("value_type")).items():
                errors.setdefault(name, messages)
        for name in ("starts_at", "ends_at"):
            if name not in errors and fields.get(name) and _parse_time(fields[name]) is None:
                errors[name] = ["is invalid"]
        if errors:
            return Reply(422, {"errors": errors})
        starts, ends = _parse_time(fields["starts_at"]), _parse_time(fields.get("ends_at"))
        if starts is not None and ends is not None and ends <= starts:
            return Reply(422, {"errors": {"ends_at": ["must be after starts_at"]}})
        rule_id, now = self._new_id(), _now()
        rule = {
            **_PRICE_RULE_DEFAULTS,
            **fields,
            "id": rule_id,
            "value": str(fields["value"]),
            "created_at": now,
            "updated_at": now,
            "admin_graphql_api_id": f"gid://shopify/PriceRule/{rule_id}",
        }
        self.price_rules[rule_id] = rule
        return Reply(201, {"price_rule": rule})

    def _get_price_rule(self, rule_id: int) -> Reply:
        rule = self.price_rules.get(rule_id)
        return Reply(200, {"price_rule": rule}) if rule else Reply(404, NOT_FOUND)

    def _delete_price_rule(self, rule_id: int) -> Reply:
        if self.price_rules.pop(rule_id, None) is None:
            return Reply(404, NOT_FOUND)
        for code, record in list(self.discount_codes.items()):
            if record["price_rule_id"] == rule_id:
                del self.discount_codes[code]
        return Reply(204)

    def _create_discount_code(self, rule_id: int, payload: Any) -> Reply:
        if rule_id not in self.price_rules:
            return Reply(404, NOT_FOUND)
        fields = payload.get("discount_code") if isinstance(payload, dict) else None
        if not isinstance(fields, dict):
            return Reply(
                400, {"errors": {"discount_code": "Required parameter missing or invalid"}}
            )
        code = str(fields.get("code") or "").strip()
        if not code:
            return Reply(422, {"errors": {"code": ["can't be blank"]}})
        if len(code) > 255:
            return Reply(422, {"errors": {"code": ["is too long (maximum is 255 characters)"]}})
        if self._find_code(code) is not None:  # codes are unique per shop, case-insensitively
            return Reply(422, {"errors": {"code": ["must be unique"]}})
        code_id, now = self._new_id(), _now()
        record = {
            "id": code_id,
            "price_rule_id": rule_id,
            "code": code,
            "usage_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        self.discount_codes[code] = record
        return Reply(201, {"discount_code": record})

    def _get_discount_code(self, rule_id: int, code_id: int) -> Reply:
        for record in self.discount_codes.values():
            if record["id"] == code_id and record["price_rule_id"] == rule_id:
                return Reply(200, {"discount_code": record})
        return Reply(404, NOT_FOUND)

    def _lookup_discount_code(self, code: str, version: str) -> Reply:
        record = self._find_code(code)
        if record is None:
            return Reply(404, NOT_FOUND)
        location = (
            f"{self.url}/admin/api/{version}/price_rules/{record['price_rule_id']}"
            f"/discount_codes/{record['id']}.json"
        )
        return Reply(303, None, {"Location": location})

    def _find_code(self, code: str) -> dict[str, Any] | None:
        wanted = code.strip().casefold()
        return next(
            (r for c, r in self.discount_codes.items() if c.casefold() == wanted and wanted), None
        )

    # --- orders ----------------------------------------------------------------------------

    def _list_orders(self, customer_id: str | None, query: dict[str, str]) -> Reply:
        status = query.get("status", "open")
        if status not in ("open", "closed", "cancelled", "any"):
            return Reply(400, {"errors": {"status": "is not one of open, closed, cancelled, any"}})
        try:
            limit = min(max(int(query.get("limit", "50")), 1), MAX_ORDERS)
        except ValueError:
            return Reply(400, {"errors": {"limit": "must be a number"}})
        orders = [
            order
            for order in self.orders
            if (customer_id is None or str(order["customer"]["id"]) == customer_id)
            and _has_status(order, status)
        ]
        orders.sort(key=lambda order: (order["created_at"], order["id"]), reverse=True)
        return Reply(200, {"orders": orders[:limit]})

    # --- bookkeeping -----------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id


def _value_errors(value: Any, value_type: Any) -> dict[str, list[str]]:
    """Shopify's rule for ``value``: a negative number, at least -100 for a percentage."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return {"value": ["is not a number"]}
    if number > 0:
        return {"value": ["must be less than or equal to 0"]}
    if value_type == "percentage" and number < -100:
        return {"value": ["must be greater than or equal to -100"]}
    if value_type not in ("percentage", "fixed_amount"):
        return {"value_type": ["is not included in the list"]}
    return {}


def _has_status(order: dict[str, Any], status: str) -> bool:
    cancelled, closed = order.get("cancelled_at") is not None, order.get("closed_at") is not None
    return {
        "any": True,
        "cancelled": cancelled,
        "closed": closed,
        "open": not cancelled and not closed,
    }[status]


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
