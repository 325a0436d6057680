"""Hook specifications for cxflow connector plugins.

A plugin is a module (or any object) with functions marked ``@hookimpl``, found
through the ``cxflow.connectors`` entry point group or registered with
:meth:`connectors.registry.ConnectorRegistry.register`. cxflow calls the hooks;
plugins never call each other. The built-in connectors use the same hook
(:mod:`connectors.builtin`), so they are no different from third-party ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from connectors.base import Connector

PROJECT = "cxflow"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def cxflow_connectors() -> list[Connector]:
    """Return the connectors this plugin provides.

    Called once per registry, when it is built and again after each
    :meth:`~connectors.registry.ConnectorRegistry.register`. Return instances, not
    classes; return an empty list to provide nothing (for example when an optional
    dependency is missing). Connector names must be unique across all installed
    plugins: two plugins providing the same name is an error, not an override.

    Read settings in the connector's methods, not here: the hook should be cheap
    and must not do I/O, because `cxflow validate` calls it too.

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
