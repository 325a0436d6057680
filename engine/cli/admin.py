"""Running and administering the engine: `cxflow api`, `keys create|list`, `connectors list`."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
import uvicorn
from rich.markup import escape
from rich.table import Table

from connectors.registry import default_registry
from engine.cli.context import engine_runtime, open_store
from engine.cli.output import err, out
from engine.errors import ApiServerError
from engine.runtime.action_reference import actions_markdown
from engine.settings import Settings
from engine.store import KeyScope

connectors_app = typer.Typer(help="Installed connector plugins.", no_args_is_help=True)
keys_app = typer.Typer(
    help="Write keys of the event API, one or more per source.", no_args_is_help=True
)


def api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the event API (Segment-style /v1/track, /v1/identify, /v1/batch)."""
    settings = Settings.from_env()
    settings.check_secret()  # it checks every unsubscribe and survey link
    asyncio.run(_serve_api(settings, host, port))


async def _serve_api(settings: Settings, host: str, port: int) -> None:
    async with engine_runtime(settings) as runtime:
        config = uvicorn.Config(
            runtime.api(), host=host, port=port, log_level="info", access_log=False
        )
        server = uvicorn.Server(config)
        await server.serve()
    if not server.started:
        raise ApiServerError(
            f"the event API could not listen on {host}:{port} (see the error above): "
            "choose another --port"
        )


@keys_app.command("create")
def keys_create(
    source: Annotated[str, typer.Option(help="The emitting system, e.g. web-shop.")],
    scope: Annotated[
        KeyScope,
        typer.Option(help="write: send events; read: read reports (/v1/journeys/ID/report)."),
    ] = "write",
) -> None:
    """Create an API key for a source; it is printed once and stored only hashed."""
    with open_store(Settings.from_env()) as store:
        key = store.create_write_key(source, scope)
    err.print(f"{scope} key for {escape(source)} (shown once: keep it in your secret store):")
    sys.stdout.write(key + "\n")


@keys_app.command("origins")
def keys_origins(
    source: Annotated[str, typer.Argument(help="The source whose browser pages send events.")],
    add: Annotated[
        list[str] | None,
        typer.Option("--add", help="Allow this origin, e.g. https://shop.example.com (or *)."),
    ] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Allow it no more.")] = None,
) -> None:
    """The web origins whose pages may send the source's events from a browser (CORS).

    analytics.js and other browser SDKs send from the page's origin; the API answers
    them only for origins their source allows. Without --add or --remove, list them.
    """
    with open_store(Settings.from_env()) as store:
        allowed = store.keys.origins().get(source, [])
        if add:
            allowed = store.keys.allow_origins(source, add)
        if remove:
            allowed = store.keys.disallow_origins(source, remove)
    if not allowed:
        out.print(f"no browser origin may send events of {escape(source)}")
    for origin in allowed:
        out.print(origin)


@keys_app.command("list")
def keys_list() -> None:
    """The API keys' sources, scopes, prefixes and creation times (never the keys)."""
    with open_store(Settings.from_env()) as store:
        records = store.write_keys()
    table = Table("source", "scope", "key starts with", "created")
    for record in records:
        table.add_row(
            record.source,
            record.scope,
            record.key_prefix + "...",
            record.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(table)


@connectors_app.command("actions")
def connectors_actions() -> None:
    """The actions of the installed connectors, their inputs and outputs, as Markdown."""
    out.print(actions_markdown(default_registry()), markup=False, highlight=False)


@connectors_app.command("list")
def connectors_list() -> None:
    """Installed connectors: their channels, actions and missing settings."""
    table = Table("connector", "channels", "actions", "configured")
    for info in default_registry().infos():
        missing = ", ".join(info.missing_settings)
        table.add_row(
            info.name,
            ", ".join(info.channels),
            ", ".join(info.actions),
            "yes" if info.configured else f"no: set {missing}",
        )
    out.print(table)
