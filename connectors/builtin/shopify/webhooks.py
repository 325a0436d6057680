"""Shopify webhooks accepted as customer events: ``POST /v1/webhooks/shopify``.

The Shopify connector serves this route in the event API through the
``cxflow_routes`` hook (:func:`router`). Point a Shopify webhook subscription (JSON
format) at ``https://<cxflow event API>/v1/webhooks/shopify``. Each delivery is
checked, turned into track and identify calls and submitted to the engine's
:class:`~connectors.inbound.Intake`: checked with the event API's rules, stored
(deduplicated on messageId), then routed to journeys, like ``POST /v1/track``.

**Verification.** Shopify signs the raw body with HMAC-SHA256 under the app's
shared secret and sends it base64-encoded as ``X-Shopify-Hmac-Sha256``. The
secret is ``CXFLOW_SHOP_WEBHOOK_SECRET``, or per shop (by
``X-Shopify-Shop-Domain``) in ``CXFLOW_SHOP_WEBHOOK_SECRETS`` as
``my-store.myshopify.com=secret,other.myshopify.com=secret``. A missing or wrong
signature, or a shop with no secret, answers 401 and stores nothing.

**Topics** (``X-Shopify-Topic``) and the events they become:

=====================================  =================  ================================
topic                                  event              customer
=====================================  =================  ================================
``orders/create``                      order.completed    the order's customer
``orders/paid``                        order.paid         the order's customer
``orders/fulfilled``                   order.fulfilled    the order's customer
``orders/cancelled``                   order.cancelled    the order's customer
``carts/create``, ``carts/update``     cart.updated       the cart attribute (see below)
``checkouts/create``, ``/update``      checkout.updated   the checkout's customer
``customers/create``, ``/update``      identify           the customer
=====================================  =================  ================================

Any other topic (``refunds/create``, whose payload names no customer, for one)
answers 200 ``{"status": "ignored"}``: Shopify retries anything but a 2xx, and
a retry would not change the answer. So does a delivery whose customer cannot be
told (a guest checkout in ``email`` mode without an address, an anonymous cart).

**Customer ids.** ``CXFLOW_SHOP_WEBHOOK_CUSTOMER_ID`` says which id names the
cxflow customer: ``shopify_id`` (the default: Shopify's numeric customer id as
text, ``"7390123"``, the id ``shop.get_orders`` takes) or ``email`` (the
customer's address in lower case, for event sources that key customers by
email). Order, checkout and customer deliveries also send an ``identify`` call
first, so the profile has ``email``, ``first_name``, ``last_name``, ``phone`` and
``shopify_customer_id`` (and, for orders, ``last_order_id``) before a journey
reads it. Shopify's cart payload carries no customer: a storefront that knows
the shopper sets the cart attribute ``cxflow_customer_id`` (``/cart/update.js``
with ``attributes``), read from ``attributes`` or ``note_attributes``.

**Dedupe.** Shopify's signature covers the body only: the topic, shop domain and
delivery ids are headers anyone holding one captured delivery can change. So the
messageId is made from what is signed, the resource and its version::

    shopify:<event>:<resource id>:<updated_at>
    shopify:order.paid:820982911946154508:2026-03-01T10:00:00-05:00

with the event the topic maps to (``order.paid``; ``carts/create`` and
``carts/update`` are both ``cart.updated``), the resource's ``id`` (a cart's or a
checkout's ``token`` first) and its ``updated_at`` (hashed when over 200
characters). A body without either is keyed by a hash of the event and the body.
Shopify's documented rule still holds: a redelivery has the same
``X-Shopify-Event-Id`` *and* the same body, so the same messageId. A replay of that
body under a fresh ``X-Shopify-Event-Id`` or ``X-Shopify-Webhook-Id``, another shop
domain, or a topic of the same event is a duplicate too (200 ``duplicate``). The
delivery headers are no longer part of the id.

A topic must also agree with the order it carries: ``orders/paid`` with an order
whose ``financial_status`` says unpaid (``pending``, ``authorized``, ``voided``,
``expired``), ``orders/fulfilled`` with one that is not ``fulfilled``, or
``orders/cancelled`` without ``cancelled_at`` is ignored (200 ``ignored``): Shopify
never sends those, a replay under another topic does. So a captured body becomes, at
most, the events that are true of it, each once.

**Bodies.** A signed body that is not a JSON object, or is nested more than
:data:`MAX_DEPTH` levels deep (Shopify's are under 10), answers 400; the depth is
checked before the body is parsed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from connectors.builtin.shopify.connector import ShopifyConnector
from connectors.http_routes import error_response, error_responses
from connectors.inbound import InboundIdentify, InboundRejectedError, InboundTrack, Intake
from dsl.errors import ConfigurationError

log = logging.getLogger("cxflow.connectors.shopify.webhooks")

SOURCE = "shopify"
MAX_LINE_ITEMS = 50
# Longer delivery ids are hashed: `shopify:<id>:identify` must stay a valid message id.
MAX_DELIVERY_ID = 200
CART_CUSTOMER_ATTRIBUTE = "cxflow_customer_id"
CUSTOMER_ID_MODES = ("shopify_id", "email")
MAX_DEPTH = 64
"""The deepest nesting of objects and arrays a body may have; Shopify's stay under 10."""
UNPAID_STATUSES = frozenset({"pending", "authorized", "voided", "expired"})

Payload = dict[str, Any]


class WebhookReceipt(BaseModel):
    """What cxflow did with a delivery (Shopify only reads the status code)."""

    status: Literal["accepted", "duplicate", "ignored"]
    event: str | None = Field(default=None, description="The event it became.")
    customer_id: str | None = None
    reason: str | None = Field(default=None, description="Why it was ignored.")


class WebhookConfigError(ConfigurationError):
    """A webhook setting has a value that cannot work; the message names the variable."""

    code = "webhook_not_configured"


class DeliveryIgnoredError(Exception):
    """A delivery that becomes no event; the message says why."""


# --- verification ---------------------------------------------------------------------------


def shopify_hmac(secret: str, body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` of a body: base64 of its HMAC-SHA256."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_secret(shop_domain: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The secret that signs this shop's webhooks, or a :class:`WebhookConfigError`."""
    config = ShopifyConnector(environ=environ).config
    per_shop = config.get("WEBHOOK_SECRETS")
    if per_shop:
        secrets: dict[str, str] = {}
        for item in per_shop.split(","):
            domain, equals, secret = item.strip().partition("=")
            if not equals or not domain.strip() or not secret.strip():
                raise WebhookConfigError(
                    f"{config.variable('WEBHOOK_SECRETS')} must be a comma-separated list of "
                    "shop-domain=secret pairs, like my-store.myshopify.com=shpss_..."
                )
            secrets[domain.strip().lower()] = secret.strip()
        if shop_domain and shop_domain.strip().lower() in secrets:
            return secrets[shop_domain.strip().lower()]
    default = config.get("WEBHOOK_SECRET")
    if default:
        return default
    raise WebhookConfigError(
        f"no webhook secret for the shop {shop_domain or '(no X-Shopify-Shop-Domain)'}: set "
        f"{config.variable('WEBHOOK_SECRET')}, or add the shop to "
        f"{config.variable('WEBHOOK_SECRETS')}"
    )


def customer_id_mode(environ: Mapping[str, str] | None = None) -> str:
    config = ShopifyConnector(environ=environ).config
    mode = (config.get("WEBHOOK_CUSTOMER_ID") or "shopify_id").strip().lower()
    if mode not in CUSTOMER_ID_MODES:
        raise WebhookConfigError(
            f"{config.variable('WEBHOOK_CUSTOMER_ID')} is shopify_id or email, not {mode!r}"
        )
    return mode


# --- mapping --------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str) and str(value).strip():
        return str(value).strip()
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _customer_of(person: Any, email: Any, mode: str) -> str:
    """The cxflow customer id of a Shopify customer object (and the record's email)."""
    person = person if isinstance(person, dict) else {}
    if mode == "email":
        address = _text(person.get("email")) or _text(email)
        if address is None:
            raise DeliveryIgnoredError(
                "it has no customer email address (CXFLOW_SHOP_WEBHOOK_CUSTOMER_ID=email)"
            )
        return address.lower()
    shopify_id = _text(person.get("id"))
    if shopify_id is None:
        raise DeliveryIgnoredError("it names no Shopify customer (a guest without an account)")
    return shopify_id


def _traits(person: Any, email: Any) -> dict[str, Any]:
    """Profile fields from a Shopify customer object; empty ones are left out."""
    person = person if isinstance(person, dict) else {}
    traits: dict[str, Any] = {
        "email": _text(person.get("email")) or _text(email),
        "first_name": _text(person.get("first_name")),
        "last_name": _text(person.get("last_name")),
        "phone": _text(person.get("phone")),
        "shopify_customer_id": _text(person.get("id")),
    }
    return {key: value for key, value in traits.items() if value is not None}


def _line_items(payload: Payload) -> list[dict[str, Any]]:
    items = payload.get("line_items")
    if not isinstance(items, list):
        return []
    kept = []
    for item in items[:MAX_LINE_ITEMS]:
        if not isinstance(item, dict):
            continue
        fields = {
            "product_id": _text(item.get("product_id")),
            "variant_id": _text(item.get("variant_id")),
            "sku": _text(item.get("sku")),
            "title": _text(item.get("title")),
            "quantity": item.get("quantity") if isinstance(item.get("quantity"), int) else None,
            "price": _text(item.get("price")),
        }
        kept.append({key: value for key, value in fields.items() if value is not None})
    return kept


def _item_count(payload: Payload) -> int:
    items = payload.get("line_items")
    if not isinstance(items, list):
        return 0
    return sum(
        item["quantity"]
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get("quantity"), int)
        and not isinstance(item.get("quantity"), bool)
    )


def _clean(properties: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in properties.items() if value is not None}


def _order(payload: Payload, shop: str) -> dict[str, Any]:
    codes = payload.get("discount_codes")
    return _clean(
        {
            "order_id": _text(payload.get("id")),
            "order_number": _text(payload.get("name")),
            "total": _number(payload.get("total_price")),
            "subtotal": _number(payload.get("subtotal_price")),
            "currency": _text(payload.get("currency")),
            "item_count": _item_count(payload),
            "financial_status": _text(payload.get("financial_status")),
            "fulfillment_status": _text(payload.get("fulfillment_status")),
            "discount_codes": [
                code["code"]
                for code in (codes if isinstance(codes, list) else [])
                if isinstance(code, dict) and _text(code.get("code"))
            ],
            "line_items": _line_items(payload),
            "shop": shop,
            "source": SOURCE,
        }
    )


def _cart_total(payload: Payload) -> float | None:
    items = payload.get("line_items")
    if not isinstance(items, list):
        return None
    total = 0.0
    for item in items:
        if not isinstance(item, dict):
            continue
        line = _number(item.get("line_price"))
        if line is None:
            price, quantity = _number(item.get("price")), item.get("quantity")
            line = price * quantity if price is not None and isinstance(quantity, int) else 0.0
        total += line
    return round(total, 2)


def _cart_customer(payload: Payload, mode: str) -> str:
    if isinstance(payload.get("customer"), dict):
        return _customer_of(payload["customer"], payload.get("email"), mode)
    for key in ("attributes", "note_attributes"):
        attributes = payload.get(key)
        if isinstance(attributes, dict):
            found = _text(attributes.get(CART_CUSTOMER_ATTRIBUTE))
        elif isinstance(attributes, list):
            found = next(
                (
                    _text(item.get("value"))
                    for item in attributes
                    if isinstance(item, dict) and item.get("name") == CART_CUSTOMER_ATTRIBUTE
                ),
                None,
            )
        else:
            found = None
        if found:
            return found
    raise DeliveryIgnoredError(
        f"the cart names no customer: set the cart attribute {CART_CUSTOMER_ATTRIBUTE} "
        "from the storefront, or subscribe to checkouts/update"
    )


Calls = list[InboundTrack | InboundIdentify]


def _track(customer: str, message_id: str, event: str, properties: dict[str, Any]) -> InboundTrack:
    return InboundTrack(
        customer_id=customer, message_id=message_id, event=event, properties=properties
    )


def _identify(customer: str, message_id: str, traits: dict[str, Any]) -> InboundIdentify:
    return InboundIdentify(customer_id=customer, message_id=f"{message_id}:identify", traits=traits)


def _order_calls(event: str) -> Callable[[Payload, str, str, str], Calls]:
    def calls(payload: Payload, shop: str, mode: str, message_id: str) -> Calls:
        customer = _customer_of(payload.get("customer"), payload.get("email"), mode)
        properties = _order(payload, shop)
        traits = _traits(payload.get("customer"), payload.get("email"))
        if event == "order.completed" and "order_id" in properties:
            traits["last_order_id"] = properties["order_id"]
        identify = [_identify(customer, message_id, traits)] if traits else []
        return [*identify, _track(customer, message_id, event, properties)]

    return calls


def _cart_calls(payload: Payload, shop: str, mode: str, message_id: str) -> Calls:
    customer = _cart_customer(payload, mode)
    properties = _clean(
        {
            "cart_token": _text(payload.get("token")) or _text(payload.get("id")),
            "item_count": _item_count(payload),
            "total": _cart_total(payload),
            "line_items": _line_items(payload),
            "shop": shop,
            "source": SOURCE,
        }
    )
    return [_track(customer, message_id, "cart.updated", properties)]


def _checkout_calls(payload: Payload, shop: str, mode: str, message_id: str) -> Calls:
    customer = _customer_of(payload.get("customer"), payload.get("email"), mode)
    properties = _clean(
        {
            "checkout_token": _text(payload.get("token")),
            "cart_token": _text(payload.get("cart_token")),
            "item_count": _item_count(payload),
            "total": _number(payload.get("total_price")),
            "currency": _text(payload.get("currency")),
            "recovery_url": _text(payload.get("abandoned_checkout_url")),
            "line_items": _line_items(payload),
            "shop": shop,
            "source": SOURCE,
        }
    )
    traits = _traits(payload.get("customer"), payload.get("email"))
    identify = [_identify(customer, message_id, traits)] if traits else []
    return [*identify, _track(customer, message_id, "checkout.updated", properties)]


def _customer_calls(payload: Payload, shop: str, mode: str, message_id: str) -> Calls:
    customer = _customer_of(payload, payload.get("email"), mode)
    return [
        InboundIdentify(customer_id=customer, message_id=message_id, traits=_traits(payload, None))
    ]


TOPICS: dict[str, Callable[[Payload, str, str, str], Calls]] = {
    "orders/create": _order_calls("order.completed"),
    "orders/paid": _order_calls("order.paid"),
    "orders/fulfilled": _order_calls("order.fulfilled"),
    "orders/cancelled": _order_calls("order.cancelled"),
    "carts/create": _cart_calls,
    "carts/update": _cart_calls,
    "checkouts/create": _checkout_calls,
    "checkouts/update": _checkout_calls,
    "customers/create": _customer_calls,
    "customers/update": _customer_calls,
}


def calls_for(topic: str, payload: Payload, shop: str, mode: str, message_id: str) -> Calls:
    """The calls a delivery becomes; :class:`DeliveryIgnoredError` if it maps to none."""
    mapper = TOPICS.get(topic)
    if mapper is None:
        raise DeliveryIgnoredError(
            f"cxflow does not map the topic {topic!r} to an event "
            f"(it maps {', '.join(sorted(TOPICS))})"
        )
    try:
        calls = mapper(payload, shop, mode, message_id)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'call'}: {e['msg']}" for e in error.errors()
        )
        raise DeliveryIgnoredError(f"it cannot become a valid event ({problems})") from None
    return calls


TOPIC_EVENTS: dict[str, str] = {
    "orders/create": "order.completed",
    "orders/paid": "order.paid",
    "orders/fulfilled": "order.fulfilled",
    "orders/cancelled": "order.cancelled",
    "carts/create": "cart.updated",
    "carts/update": "cart.updated",
    "checkouts/create": "checkout.updated",
    "checkouts/update": "checkout.updated",
    "customers/create": "identify",
    "customers/update": "identify",
}
"""The event each topic becomes: also the first part of its messageId."""

_RESOURCE_ID_KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("id",),
    "carts": ("token", "id"),
    "checkouts": ("token", "id"),
    "customers": ("id",),
}


def message_id_for(topic: str, payload: Payload, body: bytes) -> str:
    """``shopify:<event>:<resource id>:<updated_at>``, from the signed body only."""
    event = TOPIC_EVENTS.get(topic, topic)
    keys = _RESOURCE_ID_KEYS.get(topic.partition("/")[0], ("id",))
    resource = next((found for key in keys if (found := _text(payload.get(key)))), None)
    updated_at = _text(payload.get("updated_at"))
    if resource is not None and updated_at is not None:
        message_id = f"shopify:{event}:{resource}:{updated_at}"
        if len(message_id) <= MAX_DELIVERY_ID:
            return message_id
        digest = hashlib.sha256(f"{resource}\x1f{updated_at}".encode()).hexdigest()[:40]
        return f"shopify:{event}:resource:{digest}"
    digest = hashlib.sha256(f"{event}\x1f".encode() + body).hexdigest()[:40]
    return f"shopify:{event}:body:{digest}"


def check_topic_agrees(topic: str, payload: Payload) -> None:
    """A :class:`DeliveryIgnoredError` when the order in the body contradicts the topic."""
    if topic == "orders/paid":
        status = _text(payload.get("financial_status"))
        if status is not None and status.lower() in UNPAID_STATUSES:
            raise DeliveryIgnoredError(
                f"the order is not paid (financial_status {status}): not an orders/paid delivery"
            )
    elif topic == "orders/fulfilled":
        status = _text(payload.get("fulfillment_status"))
        if status is None or status.lower() != "fulfilled":
            raise DeliveryIgnoredError(
                f"the order is not fulfilled (fulfillment_status {status}): not an "
                "orders/fulfilled delivery"
            )
    elif topic == "orders/cancelled" and _text(payload.get("cancelled_at")) is None:
        raise DeliveryIgnoredError(
            "the order has no cancelled_at: not an orders/cancelled delivery"
        )


_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Does the JSON text nest objects and arrays more than ``limit`` deep? (Strings skipped.)"""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for token in _JSON_TOKEN.finditer(body):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


# --- the endpoint ---------------------------------------------------------------------------


def _refuse(status: int, error: str, code: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": 'HMAC realm="shopify"'} if status == 401 else None
    return error_response(status, error, code=code, headers=headers)


def _ignored(topic: str, shop: str, reason: str) -> WebhookReceipt:
    log.info("Shopify webhook %s from %s ignored: %s", topic or "(no topic)", shop, reason)
    return WebhookReceipt(status="ignored", reason=reason)


def _rejected(error: InboundRejectedError) -> str:
    problems = "; ".join(f"{problem.path}: {problem.message}" for problem in error.problems)
    return f"it cannot become a valid event ({problems})"


async def receive(
    intake: Intake,
    body: bytes,
    *,
    topic: str | None,
    signature: str | None,
    shop_domain: str | None,
    webhook_id: str | None,
    event_id: str | None,
) -> WebhookReceipt | JSONResponse:
    """Check one delivery, then submit the calls it becomes; the answer to give Shopify."""
    try:
        secret = webhook_secret(shop_domain)
        mode = customer_id_mode()
    except WebhookConfigError as error:
        log.error("a Shopify webhook was refused: %s", error)
        return _refuse(401, f"cannot verify the webhook: {error}", "webhook_not_configured")
    if signature is None or not hmac.compare_digest(
        shopify_hmac(secret, body).encode(), signature.strip().encode()
    ):
        return _refuse(
            401,
            "the X-Shopify-Hmac-Sha256 signature does not match the body: check that the "
            "webhook secret cxflow has is the app's (CXFLOW_SHOP_WEBHOOK_SECRET)",
            "signature_invalid",
        )
    shop = (shop_domain or "").strip().lower()
    if too_deep(body):
        return _refuse(
            400,
            f"the body nests objects and arrays more than {MAX_DEPTH} levels deep: "
            "it is not a Shopify webhook payload",
            "invalid_request",
        )
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        return _refuse(400, "the body is not a JSON object: subscribe with the JSON format")
    name = (topic or "").strip().lower()
    log.debug("Shopify webhook %s from %s (event %s, webhook %s)", name, shop, event_id, webhook_id)
    try:
        if name in TOPICS:
            check_topic_agrees(name, payload)
        message_id = message_id_for(name, payload, body)
        calls = calls_for(name, payload, shop, mode, message_id)
    except DeliveryIgnoredError as why:
        return _ignored(name, shop, str(why))
    try:
        new = await intake.submit(calls, SOURCE)
    except InboundRejectedError as error:  # the event API's rules (a customer id too long)
        return _ignored(name, shop, _rejected(error))
    main = calls[-1]
    return WebhookReceipt(
        status="accepted" if any(new) else "duplicate",
        event=main.event if isinstance(main, InboundTrack) else "identify",
        customer_id=main.customer_id,
    )


_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The webhook's JSON payload, exactly as Shopify sends it.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def router(intake: Intake) -> APIRouter:
    """``POST /v1/webhooks/shopify``, submitting to ``intake``."""
    routes = APIRouter(tags=["webhooks"])

    @routes.post(
        "/v1/webhooks/shopify",
        summary="Receive a Shopify webhook",
        response_model=WebhookReceipt,
        responses=error_responses(
            {
                400: "Signed, but the body is not a JSON object (or is nested too deep).",
                401: "No valid X-Shopify-Hmac-Sha256 for the shop.",
            }
        ),
        openapi_extra=_BODY,
    )
    async def shopify_webhook(
        request: Request,
        topic: Annotated[str | None, Header(alias="X-Shopify-Topic")] = None,
        signature: Annotated[str | None, Header(alias="X-Shopify-Hmac-Sha256")] = None,
        shop_domain: Annotated[str | None, Header(alias="X-Shopify-Shop-Domain")] = None,
        webhook_id: Annotated[str | None, Header(alias="X-Shopify-Webhook-Id")] = None,
        event_id: Annotated[str | None, Header(alias="X-Shopify-Event-Id")] = None,
    ) -> Any:
        """An order, cart, checkout or customer webhook from Shopify, verified by its HMAC and
        stored as a customer event (see the topics in the docs); other topics answer 200
        `ignored`, so Shopify does not retry them."""
        return await receive(
            intake,
            await request.body(),
            topic=topic,
            signature=signature,
            shop_domain=shop_domain,
            webhook_id=webhook_id,
            event_id=event_id,
        )

    return routes
