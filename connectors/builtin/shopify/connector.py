"""The ``shop`` connector: discount codes and orders from Shopify's Admin REST API.

Settings: ``CXFLOW_SHOP_STORE_URL`` (``https://my-store.myshopify.com``),
``CXFLOW_SHOP_ACCESS_TOKEN`` (an Admin API access token, sent as
``X-Shopify-Access-Token``; it needs the ``write_price_rules`` scope for discounts
and ``read_orders`` for orders) and ``CXFLOW_SHOP_API_VERSION`` (default
2025-01). Without a store, `cxflow dev` points the connector at the local
sandbox in :mod:`connectors.sandbox.shopify`.

``shop.create_discount``
    Shopify's documented two calls: a percentage price rule (``POST
    price_rules.json``), then one code under it (``POST
    price_rules/<id>/discount_codes.json``). The code is made from the step's
    idempotency key, so every retry of a step asks for the same code. Each POST
    carries an ``Idempotency-Key`` made from the step's (one per request: they are
    different operations), so a store that honours it, as the sandbox does,
    creates nothing twice. A store that ignores it creates a second price rule
    when a step is retried after a lost answer, then refuses the code as taken
    (422 "must be unique"): the connector takes that as the earlier attempt's
    work, deletes the second rule and answers with the code's own rule, found
    with Shopify's code lookup.

``shop.request_review``
    Shopify has no review API, so this makes no request: it answers with the
    storefront link where the customer writes a review,
    ``<store>/products/<handle>#reviews`` (the anchor review apps use on product
    pages), or without a product ``<store>/pages/reviews?order_id=<id>``, a page
    the store (or its review app) provides.

``shop.get_orders``
    A customer's latest orders, newest first, from ``GET
    customers/<id>/orders.json?status=any``: Shopify's documented endpoint for
    one customer's orders. The id is Shopify's numeric customer id.

Errors go through the shared HTTP path (:mod:`connectors.http`): 429 and 5xx
are retryable (after ``Retry-After``), 422 is permanent with Shopify's
``errors``, and 401, 403 and 404 also say which setting to check.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, JsonValue, field_validator

from connectors.errors import (
    ConnectorError,
    PermanentConnectorError,
    RetryableConnectorError,
    error_for_status,
)
from connectors.http import HttpConnector, retry_after_seconds
from connectors.models import ActionSpec, CallRequest, Setting
from dsl.durations import parse_duration

DEFAULT_API_VERSION = "2025-01"
CODE_HASH_CHARS = 10
MAX_PREFIX_CHARS = 20
MAX_ORDERS = 250

logger = logging.getLogger(__name__)
_CODE_LOCATION = re.compile(r"/price_rules/(\d+)/discount_codes/\d+\.json")


def _text_or_none(value: Any) -> Any:
    """Rendered templates give text: an empty one is "not given"; a number counts as its text."""
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class DiscountInputs(BaseModel):
    """The ``with:`` of ``call: shop.create_discount``."""

    model_config = ConfigDict(extra="forbid")

    percent: int = Field(ge=1, le=100, description="Percent off every line item.")
    expires_in: str = Field(default="7d", description="How long the code works: 3d, 12h, 1w.")
    prefix: str = Field(
        default="CX",
        validation_alias=AliasChoices("prefix", "code_prefix"),
        description="The start of the code (also accepted as `code_prefix`); letters and "
        "digits are kept, upper-cased, at most 20.",
    )
    usage_limit: int = Field(default=1, ge=1, description="How many orders can use the code.")
    customer_id: str | None = Field(
        default=None,
        description="Who the code is for. Accepted for journeys that say so; the code is "
        "already one run's own. Shopify restricts a discount to a customer only by Shopify "
        "customer id, which cxflow's is not, so the code is not restricted.",
    )

    _blank_is_none = field_validator("customer_id", mode="before")(_text_or_none)

    @field_validator("expires_in")
    @classmethod
    def _is_duration(cls, value: str) -> str:
        parse_duration(value)  # its ValueError says how to write one
        return value

    @field_validator("prefix")
    @classmethod
    def _clean_prefix(cls, value: str) -> str:
        return re.sub(r"[^A-Z0-9]", "", value.upper())[:MAX_PREFIX_CHARS]


class Discount(BaseModel):
    """What ``save_as`` keeps of ``shop.create_discount``: ``{{ coupon.code }}``."""

    code: str = Field(description="What the customer types at checkout.")
    price_rule_id: int = Field(description="The Shopify price rule the code belongs to.")
    expires_at: str = Field(description="When the code stops working (ISO 8601), from Shopify.")


class ReviewInputs(BaseModel):
    """The ``with:`` of ``call: shop.request_review``."""

    model_config = ConfigDict(extra="forbid")

    order_id: str | None = Field(default=None, description="The order to review.")
    product_handle: str | None = Field(
        default=None,
        description="The product to review, by handle: the last part of its storefront URL "
        "(/products/<handle>). Storefront URLs have handles, not ids.",
    )
    email: str | None = Field(
        default=None, description="Accepted, not used: an address does not belong in a link."
    )
    rating_hint: str | None = Field(
        default=None, description="Accepted, not used: Shopify has no review form to prefill."
    )

    _blank_is_none = field_validator(
        "order_id", "product_handle", "email", "rating_hint", mode="before"
    )(_text_or_none)


class ReviewLink(BaseModel):
    review_url: str = Field(description="Where the customer writes the review.")


class OrdersInputs(BaseModel):
    """The ``with:`` of ``call: shop.get_orders``."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(
        pattern=r"^[0-9]+$", description="Shopify's numeric customer id (not cxflow's)."
    )
    limit: int = Field(default=5, ge=1, le=MAX_ORDERS, description="At most this many orders.")

    _number_is_text = field_validator("customer_id", mode="before")(_text_or_none)


class Order(BaseModel):
    id: int
    total_price: str = Field(description="In the shop's currency, as Shopify writes it: 30.00.")
    created_at: str


class Orders(BaseModel):
    orders: list[Order] = Field(description="Newest first.")


def discount_code(prefix: str, idempotency_key: str) -> str:
    """The code of one step of one run: the same on every retry, another for anything else.

    Ten base32 characters of the key's SHA-256 (50 bits; letters and 2-7, so no 0/O
    or 1/I to mistype) keep a clash with another code unlikely among millions.
    """
    digest = hashlib.sha256(idempotency_key.encode()).digest()
    return prefix.upper() + base64.b32encode(digest).decode()[:CODE_HASH_CHARS]


class ShopifyConnector(HttpConnector):
    """Shopify's Admin REST API as the ``shop`` connector (see the module's docstring)."""

    name = "shop"
    description = "Shopify Admin API: discount codes, a customer's orders, review links."
    actions: Mapping[str, ActionSpec] = {
        "create_discount": ActionSpec(
            name="create_discount",
            description="Create a percentage discount code, the same one on every retry.",
            input_model=DiscountInputs,
            output_model=Discount,
        ),
        "request_review": ActionSpec(
            name="request_review",
            description="The storefront link where the customer reviews a product or order "
            "(Shopify has no review API: no request is made).",
            input_model=ReviewInputs,
            output_model=ReviewLink,
        ),
        "get_orders": ActionSpec(
            name="get_orders",
            description="A customer's latest orders, newest first.",
            input_model=OrdersInputs,
            output_model=Orders,
        ),
    }
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            key="STORE_URL",
            description="The store's URL, like https://my-store.myshopify.com",
            required=True,
        ),
        Setting(
            key="ACCESS_TOKEN",
            description="An Admin API access token of the store (shpat_...)",
            required=True,
            secret=True,
        ),
        Setting(
            key="API_VERSION", description="The Admin API version", default=DEFAULT_API_VERSION
        ),
        # Read by the /v1/webhooks/shopify route (the Shopify webhooks), not by actions.
        Setting(
            key="WEBHOOK_SECRET",
            description="The app's shared secret that signs its webhooks (X-Shopify-Hmac-Sha256)",
            secret=True,
        ),
        Setting(
            key="WEBHOOK_SECRETS",
            description="Per-shop webhook secrets: shop.myshopify.com=secret,other...=secret",
            secret=True,
        ),
        Setting(
            key="WEBHOOK_CUSTOMER_ID",
            description="Which id names the customer of a webhook: shopify_id or email",
            default="shopify_id",
        ),
    )

    async def run_action(
        self,
        action: ActionSpec,
        inputs: BaseModel | dict[str, JsonValue],
        request: CallRequest,
    ) -> BaseModel | Mapping[str, Any]:
        if isinstance(inputs, DiscountInputs):
            return await self.create_discount(inputs, request.idempotency_key)
        if isinstance(inputs, ReviewInputs):
            return self.review_link(inputs)
        assert isinstance(inputs, OrdersInputs), action.name
        return await self.get_orders(inputs)

    # --- actions ---------------------------------------------------------------------------

    async def create_discount(self, inputs: DiscountInputs, idempotency_key: str) -> Discount:
        code = discount_code(inputs.prefix, idempotency_key)
        starts = datetime.now(UTC).replace(microsecond=0)
        ends = starts + parse_duration(inputs.expires_in)
        created = await self._request(
            "POST",
            "price_rules.json",
            idempotency_key=f"{idempotency_key}:price_rule",
            json={
                "price_rule": {
                    "title": code,  # Shopify's advice: a code's price rule has the code as title
                    "value_type": "percentage",
                    "value": f"-{inputs.percent:.1f}",
                    "target_type": "line_item",
                    "target_selection": "all",
                    "allocation_method": "across",
                    "customer_selection": "all",
                    "usage_limit": inputs.usage_limit,
                    "starts_at": starts.isoformat(),
                    "ends_at": ends.isoformat(),
                }
            },
        )
        rule = _field(created, "price_rule")
        rule_id = _id(created, rule)
        try:
            await self._request(
                "POST",
                f"price_rules/{rule_id}/discount_codes.json",
                idempotency_key=f"{idempotency_key}:discount_code",
                json={"discount_code": {"code": code}},
            )
        except PermanentConnectorError as error:
            if error.status_code == 422 and "must be unique" in error.message:
                return await self._existing_discount(code, rule_id, ends)
            await self._delete_price_rule(rule_id)  # a rule without its code is of no use
            raise
        return Discount(code=code, price_rule_id=rule_id, expires_at=_ends_at(rule, ends))

    def review_link(self, inputs: ReviewInputs) -> ReviewLink:
        store = self._store_url()
        if inputs.product_handle:
            handle = quote(inputs.product_handle, safe="")
            return ReviewLink(review_url=f"{store}/products/{handle}#reviews")
        query = f"?{urlencode({'order_id': inputs.order_id})}" if inputs.order_id else ""
        return ReviewLink(review_url=f"{store}/pages/reviews{query}")

    async def get_orders(self, inputs: OrdersInputs) -> dict[str, Any]:
        response = await self._request(
            "GET",
            f"customers/{inputs.customer_id}/orders.json",
            params={"status": "any", "limit": str(inputs.limit)},
        )
        orders = _field(response, "orders")
        if not isinstance(orders, list):
            raise _unexpected(response, "orders")
        # Checked against Orders by Connector.call, which keeps id, total_price and created_at.
        return {"orders": orders[: inputs.limit]}

    # --- the discount a retried step already made ------------------------------------------

    async def _existing_discount(self, code: str, new_rule_id: int, ends: datetime) -> Discount:
        """The code exists: an earlier attempt of this step made it (the code is the step's)."""
        rule_id = await self._lookup_price_rule_id(code)
        if rule_id is None:
            await self._delete_price_rule(new_rule_id)
            raise PermanentConnectorError(
                f"shop: Shopify refused the discount code {code} as taken, but its lookup "
                "finds no such code; look for it in the store's discounts",
                connector=self.name,
                status_code=422,
            )
        if rule_id != new_rule_id:
            await self._delete_price_rule(new_rule_id)
        response = await self._request("GET", f"price_rules/{rule_id}.json")
        rule = _field(response, "price_rule")
        return Discount(code=code, price_rule_id=rule_id, expires_at=_ends_at(rule, ends))

    async def _lookup_price_rule_id(self, code: str) -> int | None:
        """The price rule of an existing code, or None for no such code.

        Shopify's lookup answers ``303 See Other`` with the code's URL
        (``.../price_rules/<id>/discount_codes/<id>.json``) in ``Location``. The
        shared request path treats a redirect as an error and drops its headers,
        so this one request reads its answer itself, mapping errors the same way.
        """
        if self.http.bucket is not None:
            await self.http.bucket.acquire()
        url = self._url("discount_codes/lookup.json")
        try:
            response = await self.http.client().get(
                url, params={"code": code}, headers=self._headers(), follow_redirects=False
            )
        except httpx.HTTPError as error:
            raise RetryableConnectorError(
                f"shop: could not look up the discount code {code} "
                f"({type(error).__name__}: {error}); it will be retried",
                connector=self.name,
            ) from error
        if response.status_code == 404:
            return None
        found = _CODE_LOCATION.search(response.headers.get("Location", ""))
        if response.is_redirect and found:
            return int(found[1])
        if response.is_success:  # a proxy on the way followed the redirect
            return _id(response, _field(response, "discount_code"), "price_rule_id")
        raise self._explained(
            error_for_status(
                response.status_code,
                response.text,
                self.name,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        )

    async def _delete_price_rule(self, rule_id: int) -> None:
        """Best effort: an unused price rule cannot be redeemed, it only clutters the admin."""
        try:
            await self._request("DELETE", f"price_rules/{rule_id}.json")
        except ConnectorError as error:
            if error.status_code != 404:
                logger.warning(
                    "shop: could not delete the unused price rule %s: %s", rule_id, error
                )

    # --- HTTP ------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        idempotency_key: str | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One Admin API request through the shared client, errors explained for Shopify."""
        try:
            return await self.http.request(
                method,
                self._url(path),
                idempotency_key=idempotency_key,
                headers=self._headers(),
                json=json,
                params=params,
            )
        except ConnectorError as error:
            explained = self._explained(error)
            if explained is error:
                raise
            raise explained from error

    def _explained(self, error: ConnectorError) -> ConnectorError:
        """401, 403 and 404 also name the setting to check; other errors are left as they are."""
        variable = self.config.variable
        if error.status_code == 401:
            hint = (
                f"set {variable('ACCESS_TOKEN')} to an Admin API access token of "
                f"{self._store_url()}"
            )
        elif error.status_code == 403:
            hint = (
                f"the access token in {variable('ACCESS_TOKEN')} lacks an access scope: "
                "shop.create_discount needs write_price_rules, shop.get_orders read_orders"
            )
        elif error.status_code == 404:
            hint = (
                f"check {variable('STORE_URL')}={self._store_url()} and "
                f"{variable('API_VERSION')}={self._api_version()}, and the ids the step sent"
            )
        else:
            return error
        return PermanentConnectorError(
            f"{error.message} ({hint})", connector=self.name, status_code=error.status_code
        )

    def _headers(self) -> dict[str, str]:
        return {
            "X-Shopify-Access-Token": self.require_setting("ACCESS_TOKEN"),
            "Accept": "application/json",
        }

    def _url(self, path: str) -> str:
        return f"{self._store_url()}/admin/api/{self._api_version()}/{path}"

    def _api_version(self) -> str:
        return self.setting("API_VERSION") or DEFAULT_API_VERSION

    def _store_url(self) -> str:
        url = self.require_setting("STORE_URL").strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise PermanentConnectorError(
                f"shop: {self.config.variable('STORE_URL')} must be the store's URL with its "
                f"scheme, like https://my-store.myshopify.com, not {url!r}",
                connector=self.name,
            )
        return url


def _field(response: httpx.Response, key: str) -> Any:
    """``data[key]`` of a Shopify answer ``{"<key>": ...}``."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or key not in data:
        raise _unexpected(response, key)
    return data[key]


def _id(response: httpx.Response, record: Any, key: str = "id") -> int:
    value = record.get(key) if isinstance(record, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise _unexpected(response, key)
    return int(value)


def _unexpected(response: httpx.Response, what: str) -> PermanentConnectorError:
    request = response.request
    return PermanentConnectorError(
        f"shop: {request.method} {request.url.path} answered HTTP {response.status_code} "
        f"without the `{what}` Shopify sends: is CXFLOW_SHOP_STORE_URL a Shopify store?",
        connector="shop",
        status_code=response.status_code,
    )


def _ends_at(rule: Any, fallback: datetime) -> str:
    ends = rule.get("ends_at") if isinstance(rule, dict) else None
    return str(ends) if ends else fallback.isoformat()
