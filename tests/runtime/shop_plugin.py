"""A shop connector plugin for the runtime tests: a real HTTP call to a loopback peer.

It is registered like any third-party plugin (a module with a ``cxflow_connectors``
hook), and gives the abandoned-cart journey its ``shop.create_discount`` action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, JsonValue

from connectors.hookspecs import hookimpl
from connectors.http import HttpConnector
from connectors.models import ActionSpec, CallRequest, Setting


class DiscountInputs(BaseModel):
    percent: int
    expires_in: str


class Discount(BaseModel):
    code: str


class LoopbackShop(HttpConnector):
    name = "shop"
    description = "Discount codes from a shop API on loopback (tests)."
    actions: Mapping[str, ActionSpec] = {
        "create_discount": ActionSpec(
            name="create_discount",
            description="Create a single-use discount code.",
            input_model=DiscountInputs,
            output_model=Discount,
        )
    }
    settings = (Setting(key="URL", description="Base URL of the shop API", required=True),)

    async def run_action(
        self, action: ActionSpec, inputs: BaseModel | dict[str, JsonValue], request: CallRequest
    ) -> Mapping[str, Any]:
        assert isinstance(inputs, BaseModel)
        response = await self.http.request(
            "POST",
            f"{self.require_setting('URL')}/admin/discounts",
            idempotency_key=request.idempotency_key,
            json={"customer": request.customer_id, **inputs.model_dump()},
        )
        body: Mapping[str, Any] = response.json()
        return body


@hookimpl
def cxflow_connectors() -> list[LoopbackShop]:
    return [LoopbackShop()]
