"""The second hook: connectors serve their own HTTP routes (``cxflow_routes``), checked by
the registry like their connectors, so a broken or clashing plugin is named at start."""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import ModuleType

import pytest
from fastapi import APIRouter

from connectors import ConnectorPluginError, ConnectorRegistry, hookimpl
from connectors.inbound import InboundCall, StoredEvent


class NoIntake:
    """An intake nobody submits to: the hook only builds routers."""

    async def submit(self, calls: Sequence[InboundCall], source: str) -> list[bool]:
        raise AssertionError("no request is served here")

    async def stored_event(
        self, customer_id: str, name: str, message_id: str
    ) -> StoredEvent | None:
        raise AssertionError("no request is served here")


def ok() -> dict[str, bool]:
    return {"ok": True}


def routes_plugin(name: str, *paths: str, result: object = None) -> ModuleType:
    """A plugin module whose hook serves ``POST <path>`` for each path (or returns ``result``)."""
    module = ModuleType(name)

    @hookimpl
    def cxflow_routes() -> object:  # fewer arguments than the spec: pluggy allows it
        if result is not None:
            return result
        router = APIRouter()
        for path in paths:
            router.add_api_route(path, ok, methods=["POST"])
        return [router]

    module.cxflow_routes = cxflow_routes  # type: ignore[attr-defined]
    return module


def served(routers: list[APIRouter]) -> set[tuple[str, str]]:
    return {
        (method, str(getattr(route, "path", "")))
        for router in routers
        for route in router.routes
        for method in getattr(route, "methods", ())
    }


def test_the_built_ins_serve_their_webhooks_and_the_survey_pages() -> None:
    routers = ConnectorRegistry(entry_points=False).routers(NoIntake())
    assert served(routers) == {
        ("POST", "/v1/webhooks/shopify"),
        ("POST", "/v1/webhooks/postmark"),
        ("GET", "/v1/surveys/{token}"),
        ("POST", "/v1/surveys/{token}"),
    }


def test_without_built_ins_nothing_is_served() -> None:
    assert ConnectorRegistry(builtins=False, entry_points=False).routers(NoIntake()) == []


def test_a_plugins_routes_are_served_beside_the_built_ins() -> None:
    registry = ConnectorRegistry(entry_points=False)
    registry.register(routes_plugin("sms", "/v1/sms/receipts"), name="sms")
    assert ("POST", "/v1/sms/receipts") in served(registry.routers(NoIntake()))


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (APIRouter(), "cxflow_routes() must return a list of fastapi.APIRouter, not APIRouter"),
        (["/v1/x"], "cxflow_routes() returned str, which is not a fastapi.APIRouter"),
        ([APIRouter], "returned the class APIRouter, which is not a fastapi.APIRouter"),
    ],
)
def test_a_result_that_is_not_routers_names_the_plugin(result: object, message: str) -> None:
    registry = ConnectorRegistry(entry_points=False)
    registry.register(routes_plugin("odd", result=result), name="odd")
    with pytest.raises(ConnectorPluginError, match=f"the plugin 'odd'.*{re.escape(message)}"):
        registry.routers(NoIntake())


def test_two_plugins_on_one_path_and_method_are_refused_naming_both() -> None:
    registry = ConnectorRegistry(entry_points=False)
    registry.register(routes_plugin("first", "/v1/sms/receipts"), name="first")
    registry.register(routes_plugin("second", "/v1/sms/receipts"), name="second")
    with pytest.raises(ConnectorPluginError) as raised:
        registry.routers(NoIntake())
    assert str(raised.value) == (
        "two routes are POST /v1/sms/receipts: both the plugin 'first' and the plugin "
        "'second' serve it; uninstall one of them or move its routes under another path"
    )


def test_a_plugin_cannot_take_over_a_built_in_route() -> None:
    registry = ConnectorRegistry(entry_points=False)
    registry.register(routes_plugin("shopify-too", "/v1/webhooks/shopify"), name="shopify-too")
    with pytest.raises(
        ConnectorPluginError, match=r"'cxflow\.builtin' and the plugin 'shopify-too'"
    ):
        registry.routers(NoIntake())


def test_the_same_path_with_another_method_is_no_clash() -> None:
    registry = ConnectorRegistry(entry_points=False)
    router = APIRouter()
    router.add_api_route("/v1/webhooks/shopify", ok, methods=["GET"])
    registry.register(routes_plugin("probe", result=[router]), name="probe")
    assert ("GET", "/v1/webhooks/shopify") in served(registry.routers(NoIntake()))


def test_a_failing_hook_names_the_plugin() -> None:
    class Broken:
        @hookimpl
        def cxflow_routes(self, intake: object) -> list[APIRouter]:
            raise RuntimeError("no settings")

    registry = ConnectorRegistry(entry_points=False)
    registry.register(Broken(), name="broken")
    with pytest.raises(ConnectorPluginError) as raised:
        registry.routers(NoIntake())
    assert str(raised.value) == (
        "the plugin 'broken' failed in cxflow_routes() (RuntimeError: no settings)"
    )
