"""The registry: built-ins and plugins found through pluggy, and the catalog the validator reads."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

from connectors import (
    ActionSpec,
    Connector,
    ConnectorNotFoundError,
    ConnectorPluginError,
    ConnectorRegistry,
    default_registry,
    hookimpl,
    hookspecs,
)
from connectors.builtin.console import ConsoleConnector
from connectors.builtin.webhook import WebhookConnector
from dsl.catalog import ConnectorCatalog
from dsl.codes import DiagnosticCode
from dsl.loader import load_text
from tests.connectors.support import StoreConnector, StorePlugin

SHOP_ACTIONS = {"shop.create_discount", "shop.request_review", "shop.get_orders"}


BUILT_INS = ["console", "mastodon", "postmark", "shop", "smtp", "survey", "webhook"]


def plugin_module(name: str, *connectors: object) -> ModuleType:
    """A plugin as a module with a hook function, as entry points load them."""
    module = ModuleType(name)

    @hookimpl
    def cxflow_connectors() -> list[object]:
        return list(connectors)

    module.cxflow_connectors = cxflow_connectors  # type: ignore[attr-defined]
    return module


def test_built_ins_are_discovered(registry: ConnectorRegistry) -> None:
    assert registry.names() == BUILT_INS
    assert isinstance(registry.get("console"), ConsoleConnector)
    assert isinstance(registry.get("webhook"), WebhookConnector)
    assert registry.channels() == {"console", "email", "push", "sms", "social", "webhook"}
    assert registry.actions() == {"webhook.post", "survey.link", *SHOP_ACTIONS}
    assert registry.plugin_of("webhook") == "'cxflow.builtin'"
    assert "console" in registry and len(registry) == 7


def test_default_registry_has_the_built_ins() -> None:
    assert {"console", "webhook"} <= set(default_registry().names())


def test_infos_describe_each_connector(registry: ConnectorRegistry) -> None:
    infos = {info.name: info for info in registry.infos()}
    assert infos["webhook"].channels == ["webhook"]
    assert infos["webhook"].actions == ["webhook.post"]
    assert infos["webhook"].configured and infos["webhook"].missing_settings == []
    assert infos["console"].actions == []
    assert infos["console"].model_dump()["channels"] == [
        "email",
        "sms",
        "push",
        "social",
        "console",
    ]


def test_a_registered_plugin_adds_its_connectors(registry: ConnectorRegistry) -> None:
    registry.register(StorePlugin())
    assert registry.names() == sorted([*BUILT_INS, "store"])
    assert "store.create_discount" in registry.actions()
    assert "store-inbox" in registry.channels()
    assert isinstance(registry.for_channel("store-inbox"), StoreConnector)
    assert registry.plugin_of("store") == "'tests.connectors.support.StorePlugin'"


def test_plugins_can_be_given_when_building() -> None:
    built = ConnectorRegistry(
        entry_points=False, plugins=[plugin_module("extra", StoreConnector())]
    )
    assert built.names() == sorted([*BUILT_INS, "store"])


def test_the_built_ins_can_be_left_out() -> None:
    assert ConnectorRegistry(builtins=False, entry_points=False).names() == []


def test_a_plugin_module_is_named_by_its_module(registry: ConnectorRegistry) -> None:
    registry.register(plugin_module("acme_connectors", StoreConnector()))
    assert registry.plugin_of("store") == "'acme_connectors'"


def test_two_connectors_with_one_name_are_an_error(registry: ConnectorRegistry) -> None:
    class AnotherConsole(ConsoleConnector):
        pass

    with pytest.raises(ConnectorPluginError) as raised:
        registry.register(plugin_module("my_console", AnotherConsole()))
    assert str(raised.value) == (
        "two connectors are named 'console': both the plugin 'cxflow.builtin' and the plugin "
        "'my_console' provide it; uninstall one of them or give it another name"
    )
    # The clashing plugin was not added: the registry is as it was.
    assert registry.names() == BUILT_INS
    assert registry.plugin_manager.get_plugin("my_console") is None
    assert type(registry.get("console")) is ConsoleConnector


def test_one_plugin_providing_a_name_twice_is_an_error(registry: ConnectorRegistry) -> None:
    with pytest.raises(ConnectorPluginError, match="the plugin 'twice' provides it twice"):
        registry.register(plugin_module("twice", StoreConnector(), StoreConnector()))


def test_registering_the_same_plugin_twice_is_an_error(registry: ConnectorRegistry) -> None:
    plugin = StorePlugin()
    registry.register(plugin)
    with pytest.raises(ConnectorPluginError, match="cannot register plugin"):
        registry.register(plugin)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (
            [StoreConnector],
            "the plugin 'bad' returned the class StoreConnector: return an instance, StoreConnector()",
        ),
        (["store"], "the plugin 'bad' returned str, which is not a connectors.Connector"),
    ],
)
def test_a_hook_returning_something_else_is_an_error(
    registry: ConnectorRegistry, returned: list[object], message: str
) -> None:
    with pytest.raises(ConnectorPluginError) as raised:
        registry.register(plugin_module("bad", *returned))
    assert str(raised.value) == message


def test_a_hook_returning_a_single_connector_is_an_error(registry: ConnectorRegistry) -> None:
    class Single:
        @hookimpl
        def cxflow_connectors(self) -> object:
            return StoreConnector()

    with pytest.raises(ConnectorPluginError, match="must return a list of connectors, not Store"):
        registry.register(Single(), name="single")


def test_a_failing_hook_names_its_plugin(registry: ConnectorRegistry) -> None:
    class Broken:
        @hookimpl
        def cxflow_connectors(self) -> list[Connector]:
            raise RuntimeError("optional dependency missing")

    with pytest.raises(ConnectorPluginError) as raised:
        registry.register(Broken(), name="broken")
    assert str(raised.value) == (
        "the plugin 'broken' failed in cxflow_connectors() (RuntimeError: optional dependency "
        "missing)"
    )


def test_a_misspelt_hook_is_an_error(registry: ConnectorRegistry) -> None:
    class Misspelt:
        @hookimpl
        def cxflow_connector(self) -> list[Connector]:
            return []

    with pytest.raises(
        ConnectorPluginError, match="hooks are `cxflow_connectors` and `cxflow_routes`"
    ):
        registry.register(Misspelt(), name="misspelt")
    assert registry.plugin_manager.get_plugin("misspelt") is None


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("name", "My Store", "has the name 'My Store': a connector name is lower-case letters"),
        ("name", "1store", "has the name '1store'"),
        ("channels", ("E-mail",), "has the channel 'E-mail': a channel name is lower-case"),
        (
            "actions",
            {"create": ActionSpec(name="create_discount", description="x")},
            "the action 'create' must be an ActionSpec whose name is its key",
        ),
    ],
)
def test_names_the_dsl_cannot_write_are_errors(
    registry: ConnectorRegistry, attribute: str, value: object, message: str
) -> None:
    connector = StoreConnector()
    setattr(connector, attribute, value)
    with pytest.raises(ConnectorPluginError, match=message):
        registry.register(plugin_module("odd", connector))


def test_an_unknown_name_suggests_the_closest(registry: ConnectorRegistry) -> None:
    with pytest.raises(ConnectorNotFoundError) as raised:
        registry.get("webhok")
    error = raised.value
    assert str(error) == (
        "no connector named 'webhok' is installed: did you mean 'webhook'? "
        "(installed connectors: console, mastodon, postmark, shop, smtp, survey, webhook)"
    )
    assert error.suggestion == "webhook"
    assert error.installed == BUILT_INS
    assert not error.retryable


def test_an_unknown_name_without_a_close_match_lists_what_is_installed(
    registry: ConnectorRegistry,
) -> None:
    with pytest.raises(ConnectorNotFoundError) as raised:
        registry.get("salesforce")
    assert str(raised.value) == (
        "no connector named 'salesforce' is installed (installed connectors: console, mastodon, postmark, shop, smtp, survey, webhook)"
    )
    assert raised.value.suggestion is None


def test_nothing_installed_says_where_to_look() -> None:
    empty = ConnectorRegistry(builtins=False, entry_points=False)
    with pytest.raises(ConnectorNotFoundError, match="no connectors are installed"):
        empty.get("store")


def test_channels_go_to_their_connector(registry: ConnectorRegistry) -> None:
    assert registry.for_channel("webhook").name == "webhook"
    assert registry.for_channel("sms").name == "console"
    with pytest.raises(ConnectorNotFoundError) as raised:
        registry.for_channel("emial")
    assert str(raised.value) == (
        "no installed connector provides the channel 'emial': did you mean 'email'? (installed "
        "channels: console, email, push, sms, social, webhook)"
    )


class MailConnector(Connector):
    name = "mail"
    description = "Email."
    channels = ("email",)


def test_a_real_channel_connector_takes_over_from_the_console_fallback(
    registry: ConnectorRegistry,
) -> None:
    registry.register(plugin_module("mail_plugin", MailConnector()))
    assert registry.for_channel("email").name == "mail"
    assert registry.for_channel("sms").name == "console"


def test_two_providers_of_a_channel_need_a_route(registry: ConnectorRegistry) -> None:
    class OtherMail(MailConnector):
        name = "other-mail"

    registry.register(plugin_module("mail_plugins", MailConnector(), OtherMail()))
    with pytest.raises(ConnectorPluginError) as raised:
        registry.for_channel("email")
    assert str(raised.value) == (
        "the channel 'email' is provided by mail, other-mail: choose one with "
        "CXFLOW_CHANNEL_EMAIL=mail (or a route: routes={'email': 'mail'})"
    )
    registry.route("email", "other-mail")
    assert registry.for_channel("email").name == "other-mail"
    registry.route("email", "console")
    assert registry.for_channel("email").name == "console"


def test_routes_are_checked() -> None:
    assert ConnectorRegistry(entry_points=False, routes={"sms": "console"}).routes == {
        "sms": "console"
    }
    with pytest.raises(ConnectorPluginError, match="it provides webhook"):
        ConnectorRegistry(entry_points=False, routes={"email": "webhook"})
    with pytest.raises(ConnectorNotFoundError, match="did you mean 'console'"):
        ConnectorRegistry(entry_points=False, routes={"email": "consol"})


# --- the registry is the validator's catalog -------------------------------------------------

JOURNEY = textwrap.dedent(
    """\
    journey: welcome
    name: Welcome
    trigger:
      event: user.signed_up
    steps:
      - id: hello
        send:
          channel: {channel}
          body: "Hi {{{{ customer.first_name }}}}"
      - id: notify
        call: {action}
        with:
          url: https://hooks.example.com/cxflow
      - id: done
        exit: {{}}
    """
)


def test_the_registry_is_a_connector_catalog(registry: ConnectorRegistry) -> None:
    catalog: ConnectorCatalog = registry  # checked by mypy: the protocol is satisfied
    result = load_text(JOURNEY.format(channel="email", action="webhook.post"), catalog=catalog)
    # Only the warning that email falls back to the console (no smtp or postmark settings).
    assert [d.code for d in result.diagnostics] == [DiagnosticCode.CHANNEL_CONSOLE_FALLBACK]
    assert result.errors == []
    assert result.compiled is not None


def test_the_validator_reports_channels_and_actions_no_connector_provides(
    registry: ConnectorRegistry,
) -> None:
    result = load_text(JOURNEY.format(channel="emial", action="webhook.pots"), catalog=registry)
    assert [(d.line, d.message) for d in result.errors] == [
        (8, "no installed connector provides the channel 'emial': did you mean 'email'?"),
        (
            11,
            "no installed connector provides the action 'webhook.pots': did you mean "
            "'webhook.post'?",
        ),
    ]
    result = load_text(JOURNEY.format(channel="fax", action="webhook.post"), catalog=registry)
    assert [d.message for d in result.errors] == [
        "no installed connector provides the channel 'fax': the installed channels are "
        "console, email, push, sms, social, webhook"
    ]


def test_a_plugin_channel_becomes_valid_once_registered(registry: ConnectorRegistry) -> None:
    text = JOURNEY.format(channel="store-inbox", action="store.create_discount")
    assert len(load_text(text, catalog=registry).errors) == 2
    registry.register(StorePlugin())
    assert load_text(text, catalog=registry).errors == []


# --- entry points: a plugin installed as a distribution --------------------------------------


def install_distribution(site: Path, module: str, source: str) -> None:
    """Write what `pip install` leaves behind: a module and its .dist-info with entry points."""
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{module.replace('_', '-')}-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.2\n",
        encoding="utf-8",
    )
    (info / "entry_points.txt").write_text(
        f"[cxflow.connectors]\n{module} = {module}\n", encoding="utf-8"
    )


def test_installed_plugins_are_found_through_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_distribution(
        tmp_path,
        "cxflow_test_crm",
        """\
        from connectors import ActionSpec, Connector, hookimpl


        class CrmConnector(Connector):
            name = "crm"
            description = "A CRM."
            actions = {"sync": ActionSpec(name="sync", description="Sync a contact.")}


        @hookimpl
        def cxflow_connectors():
            return [CrmConnector()]
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cxflow_test_crm", raising=False)
    found = ConnectorRegistry()
    assert "crm.sync" in found.actions()
    assert found.plugin_of("crm") == "'cxflow_test_crm' (from cxflow-test-crm 1.2)"
    assert "crm" not in ConnectorRegistry(entry_points=False)


def test_an_installed_plugin_that_cannot_be_imported_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_distribution(tmp_path, "cxflow_test_broken", "import not_installed_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConnectorPluginError) as raised:
        ConnectorRegistry()
    assert str(raised.value) == (
        "the connector plugin 'cxflow_test_broken' (from cxflow-test-broken 1.2) failed to "
        "load (ModuleNotFoundError: No module named 'not_installed_anywhere'): reinstall or "
        "uninstall it"
    )


def test_actions_are_written_as_the_dsl_writes_them(registry: ConnectorRegistry) -> None:
    registry.register(StorePlugin())
    actions: Mapping[str, ActionSpec] = registry.get("store").actions
    assert sorted(actions) == ["create_discount", "ping"]
    assert registry.actions() == {
        "webhook.post",
        "survey.link",
        "store.create_discount",
        "store.ping",
        *SHOP_ACTIONS,
    }


def test_the_hook_documentation_example_works(registry: ConnectorRegistry) -> None:
    """The example in the hookspec's docstring is code plugin authors copy: it must run."""
    doc = hookspecs.cxflow_connectors.__doc__ or ""
    start = doc.index("and in ``cxflow_store/__init__.py``::") + len(
        "and in ``cxflow_store/__init__.py``::"
    )
    end = doc.index("    A journey can then use")
    module = ModuleType("cxflow_store")
    exec(compile(textwrap.dedent(doc[start:end]), "cxflow_store", "exec"), module.__dict__)
    registry.register(module)
    assert "store.create_discount" in registry.actions()
    assert registry.get("store").missing_settings() == ["CXFLOW_STORE_API_KEY"]
