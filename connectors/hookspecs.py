"""Hook specifications for cxflow connector plugins, grouped by when cxflow calls them.

A plugin is a module (or any object) with functions marked ``@hookimpl``, found
through the ``cxflow.connectors`` entry point group or registered with
:meth:`connectors.registry.ConnectorRegistry.register`. cxflow calls the hooks;
plugins never call each other, and never call a hook themselves. The built-in
connectors use the same hooks (:mod:`connectors.builtin`), so they are no different
from third-party ones.

A hook implementation may take fewer arguments than its specification names (pluggy
passes only those it asks for), and must return what the specification says: the
registry checks every result and names the plugin when one is wrong.

Phases, in the order a process meets them:

1. **Providing connectors** (:func:`cxflow_connectors`): when a registry is built,
   by every process (``cxflow validate``, ``dev``, ``deploy``, the worker, the API).
2. **Serving HTTP** (:func:`cxflow_routes`): when the event API is built (``cxflow
   api``, ``cxflow dev``), once, to mount the routes connectors serve: providers'
   webhooks, pages that signed links open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from fastapi import APIRouter

    from connectors.base import Connector
    from connectors.inbound import Intake

PROJECT = "cxflow"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------------------------
# Providing connectors
# -------------------------------------------------------------------------------------------


@hookspec
def cxflow_connectors() -> list[Connector]:
    """Return the connectors this plugin provides.

    **Called** with nothing, once per registry: when it is built, and for a plugin
    added later with :meth:`~connectors.registry.ConnectorRegistry.register`. Every
    process builds one, including ``cxflow validate`` on a laptop that has none of the
    connectors' settings.

    **Return** instances, not classes; an empty list (or ``None``) to provide nothing,
    for example when an optional dependency is missing. Connector names must be unique
    across all installed plugins: two plugins providing the same name is an error
    naming both, not an override.

    **Do not** do I/O here, or read settings: the hook must be cheap and work without
    configuration. Read settings in the connector's methods (``self.setting(...)``),
    when a send or a call needs them.

    :return: The connectors, each with a unique ``name``.

    Example, in a package ``cxflow_store`` with this in its ``pyproject.toml``::

        [project.entry-points."cxflow.connectors"]
        store = "cxflow_store"

    and in ``cxflow_store/__init__.py``::

        from collections.abc import Mapping

        from pydantic import BaseModel

        from connectors import ActionSpec, HttpConnector, Setting, hookimpl


        class DiscountInputs(BaseModel):
            percent: int


        class Discount(BaseModel):
            code: str


        class StoreConnector(HttpConnector):
            name = "store"
            description = "Discount codes from the shop's API."
            actions: Mapping[str, ActionSpec] = {  # annotated: ruff's RUF012 wants it
                "create_discount": ActionSpec(
                    name="create_discount",
                    description="Create a single-use discount code.",
                    input_model=DiscountInputs,
                    output_model=Discount,
                )
            }
            settings = (
                Setting(key="API_KEY", description="The API key", required=True, secret=True),
            )

            async def run_action(self, action, inputs, request):
                response = await self.http.request(
                    "POST",
                    "https://store.example.com/api/discounts",
                    idempotency_key=request.idempotency_key,
                    headers={"Authorization": f"Bearer {self.require_setting('API_KEY')}"},
                    json=inputs.model_dump(),
                )
                return response.json()


        @hookimpl
        def cxflow_connectors():
            return [StoreConnector()]

    A journey can then use ``call: store.create_discount`` with ``with: {percent: 10}``,
    once ``CXFLOW_STORE_API_KEY`` is set.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called


# -------------------------------------------------------------------------------------------
# Serving HTTP
# -------------------------------------------------------------------------------------------


@hookspec
def cxflow_routes(intake: Intake) -> list[APIRouter]:
    """Return the FastAPI routers of the HTTP routes this plugin serves in the event API.

    For events that come *in*: a provider's webhooks (Shopify's orders, an SMS
    provider's replies), or the page a signed link in a message opens (a survey, an
    action button). The routes become part of the event API, beside ``/v1/track``, and
    of its OpenAPI document.

    **Called** with ``intake``, the engine's one way in for events
    (:class:`connectors.inbound.Intake`), once, when the event API's application is
    built (``cxflow api``, ``cxflow dev``); never by the worker or ``cxflow validate``.
    Keep ``intake`` in the routes' closure (or in a small class): it is how a route
    hands over what it received, as :class:`~connectors.inbound.InboundTrack` and
    :class:`~connectors.inbound.InboundIdentify` calls, with ``await
    intake.submit(calls, source)``. The engine checks them with the event API's own
    rules, stores them and routes them to journeys, as if they came to ``/v1/track``.

    **Return** a list of ``fastapi.APIRouter`` (an empty list, or ``None``, to serve
    nothing). Put the routes under ``/v1/<your connector>/...`` and tag them: two
    plugins claiming the same method and path is an error naming both, not an
    override. Routes carry no write key: authenticate what arrives yourself.

    What a route should do, and not do:

    * **No I/O at import or in the hook**: build the routers, nothing more. Read
      settings per request (``MyConnector().setting("SECRET")``), so a changed
      environment needs no new hook call and a missing setting fails one request
      with a clear answer, not the whole API at start.
    * **Verify** every request before reading it: a provider's signature over the
      exact bytes received (``hmac.compare_digest``), or a token signed with
      :class:`connectors.signing.LinkSigner` for links you put in messages.
    * **Derive message ids from the delivery** (the provider's event id, the signed
      token), never a random one: a provider retries, a customer clicks twice, and
      the second submit of the same id is accepted and changes nothing
      (``submit`` answers ``[False]``).
    * **Answer bad input with a clear 4xx**, never a traceback: 401 for a bad
      signature, 404 for a link you did not sign, 400 for a body you cannot read,
      with ``{"error", "code", "fields"}`` (:func:`connectors.http_routes.error_response`)
      or an HTML page for people. ``submit`` raises
      :class:`~connectors.inbound.InboundRejectedError` (its ``problems`` say where)
      when a call breaks the event API's rules: nothing was stored.
    * Answer fast: a webhook provider gives up after a few seconds. ``submit``
      returns once the calls are stored, whether or not Temporal is reachable.

    :param intake: Where the routes submit the events they receive.
    :return: The routers to mount.

    Example, a provider that posts delivery receipts signed with a shared secret::

        import hmac

        from fastapi import APIRouter, Request

        from connectors import hookimpl
        from connectors.http_routes import error_response
        from connectors.inbound import InboundTrack, Intake


        @hookimpl
        def cxflow_routes(intake: Intake) -> list[APIRouter]:
            router = APIRouter(tags=["sms"])

            @router.post("/v1/sms/receipts")
            async def receipt(request: Request) -> dict[str, str]:
                body = await request.body()
                secret = SmsConnector().require_setting("WEBHOOK_SECRET")
                signature = request.headers.get("X-Sms-Signature", "")
                if not hmac.compare_digest(sign(secret, body), signature):
                    return error_response(401, "the signature does not match the body")
                receipt = parse(body)
                await intake.submit(
                    [
                        InboundTrack(
                            customer_id=receipt.customer,
                            event="sms.delivered",
                            message_id=f"sms:{receipt.id}",  # the same on every retry
                            properties={"status": receipt.status},
                        )
                    ],
                    source="sms",
                )
                return {"status": "accepted"}

            return [router]
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called
