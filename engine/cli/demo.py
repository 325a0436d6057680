"""`cxflow demo`: a week of a simulated shop through the real abandoned-cart journey, in a
minute, ending with its report.

Everything is real except the shoppers and the clock: the shipped journey (its 1-hour
wait, the A/B split with a 10% holdout, the discount call, the emails), the intake and
the router, the worker and Temporal — the time-skipping test server from the
``temporalio`` wheel, so the journey's hours and days pass in seconds — a fresh SQLite
store, the Shopify sandbox for the discount codes and the console connector for the
emails. The shoppers are simulated: each leaves a cart, and after the journey's message
(or the holdout's silence) orders with a probability of their variant, for an amount
drawn from a log-normal basket. The report then shows what a marketer would read after a
real week: conversions and revenue per variant, and each variant's lift over the holdout
with its interval, which here is a true effect, measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.markup import escape
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from connectors.inbound import InboundIdentify, InboundTrack
from connectors.registry import default_registry
from connectors.sandbox.shopify import ShopifySandbox
from dsl.diagnostics import Diagnostic, Severity
from engine.analytics.report import JourneyReport, build_report, print_report, render_html
from engine.api.server import EmbeddedApiServer
from engine.cli.output import err, out, print_diagnostics
from engine.cli.users import first_console_login
from engine.composition import Runtime
from engine.errors import CommandError
from engine.runtime import deployment
from engine.runtime.devserver import find_binary, port_is_free
from engine.settings import Settings
from engine.store import Store

JOURNEY = "abandoned-cart"
TRACKED_LINK = re.compile(r"https?://[^\s\"'<>]+/v1/l/[A-Za-z0-9_.\-]+")
EXPERIMENT = "cart-offer-2026"
# The chance to order within the week, per variant: the effect the demo plants.
ORDER_RATES = {"holdout": 0.06, "reminder": 0.12, "discount": 0.18}
# The chance to click the email's link: most buyers come back through it, few others do.
CLICK_RATES = {"buyer": 0.7, "other": 0.08}
# Basket amounts: log-normal around 60 (median), in the journey's currency.
BASKET_MEDIAN, BASKET_SIGMA = 60.0, 0.45


@dataclass(frozen=True)
class DemoResult:
    """The journey's report, and what the simulation really did, to hold it against."""

    report: JourneyReport
    orders: dict[str, int]
    revenue: dict[str, float]
    clicks: int


@dataclass
class Shop:
    """The simulated shoppers: who they are and what they do, from one seed."""

    customers: int
    seed: int
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def ids(self) -> list[str]:
        return [f"shopper-{n:05d}" for n in range(self.customers)]

    def orders(self, variant: str | None) -> bool:
        return self.rng.random() < ORDER_RATES.get(variant or "holdout", ORDER_RATES["holdout"])

    def clicks(self, buyer: bool) -> bool:
        return self.rng.random() < CLICK_RATES["buyer" if buyer else "other"]

    def basket(self) -> float:
        return round(BASKET_MEDIAN * math.exp(self.rng.gauss(0, BASKET_SIGMA)), 2)


async def simulate(
    runtime: Runtime,
    env: WorkflowEnvironment,
    shop: Shop,
    say: Callable[[str], None],
    outbox: Path,
) -> DemoResult:
    """Carts, the journey's hour, orders, the rest of the week; the journey's report."""
    intake = runtime.intake
    store = runtime.store
    ids = shop.ids()
    for start in range(0, len(ids), 100):
        calls: list[InboundIdentify | InboundTrack] = []
        for customer in ids[start : start + 100]:
            calls.append(
                InboundIdentify(
                    customer_id=customer,
                    message_id=f"demo:identify:{customer}",
                    traits={"email": f"{customer}@shop.example", "first_name": "Sam"},
                )
            )
            calls.append(
                InboundTrack(
                    customer_id=customer,
                    event="cart.updated",
                    message_id=f"demo:cart:{customer}",
                    properties={"item_count": 1 + shop.rng.randrange(4)},
                )
            )
        await intake.submit(calls, "demo")
    say(f"{len(ids)} carts left; the journey waits an hour before its split...")
    await _until(lambda: len(store.assignments(EXPERIMENT)) >= len(ids), env)
    assignments = store.assignments(EXPERIMENT)
    # The reminders may wait for the end of quiet hours (at night): let them all go out.
    messaged = sum(variant != "holdout" for variant in assignments.values())
    await _until(lambda: _lines(outbox) >= messaged, env)
    say("every shopper has a variant and the messages are out; some click, some order...")
    buyers = {customer for customer in ids if shop.orders(assignments.get(customer, "holdout"))}
    clicks = await _follow_links(runtime, outbox, shop, buyers)
    orders = []
    planted: dict[str, int] = {}
    revenue: dict[str, float] = {}
    for customer in ids:
        variant = assignments.get(customer, "holdout")
        if customer in buyers:
            total = shop.basket()
            planted[variant] = planted.get(variant, 0) + 1
            revenue[variant] = round(revenue.get(variant, 0.0) + total, 2)
            orders.append(
                InboundTrack(
                    customer_id=customer,
                    event="order.completed",
                    message_id=f"demo:order:{customer}",
                    properties={"order_id": f"demo-{customer}", "total": total, "currency": "EUR"},
                )
            )
    for start in range(0, len(orders), 200):
        await intake.submit(orders[start : start + 200], "demo")
    say(f"{clicks} clicks, {len(orders)} orders; the rest of the week passes...")
    await _until(lambda: not store.get_runs(journey_id=JOURNEY, status="running", limit=1), env)
    compiled = store.get_journey(JOURNEY)
    assert compiled is not None
    return DemoResult(build_report(store, compiled), planted, revenue, clicks)


def _lines(outbox: Path) -> int:
    """How many messages the console connector has written to the outbox."""
    if not outbox.exists():
        return 0
    with outbox.open("rb") as lines:
        return sum(1 for _ in lines)


async def _follow_links(runtime: Runtime, outbox: Path, shop: Shop, buyers: set[str]) -> int:
    """Shoppers click the tracked link of their email: the real redirect route, in process."""
    links: dict[str, str] = {}
    for line in outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []:
        message = json.loads(line)
        found = TRACKED_LINK.search(message.get("html") or "")
        if found is not None:
            links.setdefault(message["recipient"]["customer_id"], found.group(0))
    transport = httpx.ASGITransport(app=runtime.api())
    clicked = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://cxflow.demo") as client:
        for customer, link in sorted(links.items()):
            if shop.clicks(customer in buyers):
                answer = await client.get(httpx.URL(link).raw_path.decode())
                clicked += answer.status_code == 302
    return clicked


async def _until(done: Callable[[], bool], env: WorkflowEnvironment) -> None:
    """Let the journey's time pass until ``done``: the test server skips ahead whenever
    every run is waiting on a timer (at most ten minutes of real time)."""
    async with env.time_skipping_unlocked():  # type: ignore[attr-defined]
        for _ in range(3000):
            if await asyncio.to_thread(done):
                return
            await asyncio.sleep(0.2)
    raise CommandError(
        "the demo's runs did not finish in ten minutes: see the worker's log above",
        code="demo_stuck",
    )


Then = Callable[[DemoResult, Runtime], Awaitable[None]]


async def run_demo(
    journeys: Path,
    data_dir: Path,
    shop: Shop,
    say: Callable[[str], None],
    then: Then | None = None,
) -> DemoResult:
    """A fresh store in ``data_dir``, the test server, a worker, the simulation; ``then``
    runs after it, while the engine still runs (the console is served from there)."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    with (
        ShopifySandbox(log=data_dir / "shop-sandbox.jsonl") as sandbox,
        _environment(
            {
                "CXFLOW_CONSOLE_OUTBOX": str(data_dir / "outbox.jsonl"),
                "CXFLOW_CONSOLE_ECHO": "false",  # a thousand emails: they are in the outbox
                "CXFLOW_SECRET_KEY": secrets.token_urlsafe(32),  # signs the demo's links
                "CXFLOW_OUTBOUND_ALLOW": "127.0.0.1,localhost,::1",  # the sandbox
                "CXFLOW_SHOP_STORE_URL": sandbox.url,
                "CXFLOW_SHOP_ACCESS_TOKEN": sandbox.access_token,
            }
        ),
    ):
        return await _run(journeys, data_dir, shop, say, then)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The connectors' settings for the demo, and the process's own back afterwards."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def _run(
    journeys: Path, data_dir: Path, shop: Shop, say: Callable[[str], None], then: Then | None
) -> DemoResult:
    settings = Settings.from_env().model_copy(
        update={
            "database_url": f"sqlite:///{data_dir / 'cxflow.db'}",
            "task_queue": "cxflow-demo",
        }
    )
    registry = default_registry()
    files = [journeys / f"{JOURNEY}.yaml"]
    if not files[0].exists():
        raise CommandError(
            f"{files[0]} does not exist: run the demo from the repository, or pass --journeys",
            code="demo_journey_missing",
        )
    store = Store.open(settings.database_url)
    try:
        checked = deployment.check(files, deployment.segment_files_beside(files), registry)
        deployment.deploy(store, checked, _errors_only)
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(find_binary("temporal-test-server")),
            data_converter=pydantic_data_converter,
        ) as env:
            runtime = Runtime(settings, store, env.client, registry)
            async with runtime.worker():
                result = await simulate(runtime, env, shop, say, data_dir / "outbox.jsonl")
                if then is not None:
                    await then(result, runtime)
                return result
    finally:
        store.dispose()


def _errors_only(diagnostics: Iterable[Diagnostic]) -> None:
    """The journey's errors; not its warnings that email goes to the console outbox, which
    is what the demo wants."""
    print_diagnostics(d for d in diagnostics if d.severity is Severity.ERROR)


def demo(
    customers: Annotated[
        int, typer.Option(min=50, max=20_000, help="How many shoppers leave a cart.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="The simulation's seed: same seed, same week.")] = 7,
    journeys: Annotated[Path, typer.Option(help="The folder with abandoned-cart.yaml.")] = Path(
        "journeys"
    ),
    data_dir: Annotated[
        Path, typer.Option("--dir", help="Where the demo's store goes (emptied first).")
    ] = Path(".cxflow/demo"),
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as an HTML page.")
    ] = None,
    console: Annotated[
        bool,
        typer.Option(
            "--console", help="Then serve the web console on the demo's week, until Ctrl-C."
        ),
    ] = False,
    console_port: Annotated[
        int, typer.Option(help="The console's port on 127.0.0.1 (with --console).")
    ] = 8001,
    run_for: Annotated[
        float | None,
        typer.Option(help="Serve the console this many seconds, then stop (smoke tests)."),
    ] = None,
) -> None:
    """A simulated week of the abandoned-cart journey (real engine, simulated shoppers,
    skipped time), then its report: conversions, revenue and lift over the holdout."""

    async def report_then_serve(result: DemoResult, runtime: Runtime) -> None:
        _print_result(result, html_file)
        if console:
            await serve_console(runtime, data_dir, console_port, run_for)

    asyncio.run(
        run_demo(
            journeys,
            data_dir,
            Shop(customers, seed),
            lambda text: err.print(text),
            report_then_serve,
        )
    )


def _print_result(result: DemoResult, html_file: Path | None) -> None:
    print_report(result.report, out)
    planted = ", ".join(
        f"{variant} {ORDER_RATES[variant]:.0%}" for variant in ("reminder", "discount", "holdout")
    )
    err.print(
        f"(the simulated shoppers ordered at {planted}, and clicked {result.clicks} links; "
        "the report measured the rest)"
    )
    if html_file is not None:
        html_file.write_text(render_html(result.report), encoding="utf-8")
        err.print(f"wrote {escape(str(html_file))}")


async def serve_console(
    runtime: Runtime,
    data_dir: Path,
    port: int,
    run_for: float | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """The console on the demo's store, with the engine still running behind it, until
    SIGINT/SIGTERM, ``run_for`` seconds, or ``stop`` is set."""
    if not port_is_free("127.0.0.1", port):
        raise CommandError(
            f"port {port} for the demo's console is in use: pass --console-port with another",
            code="demo_port_taken",
        )
    login = first_console_login(runtime.store, data_dir)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with EmbeddedApiServer(runtime.api(), port=port) as server:
            err.print(f"[bold]The demo's week in the console:[/] {server.url}/console/")
            if login is not None:
                err.print(f"  log in as {login[0]} with password {escape(login[1])}")
            err.print("Press Ctrl-C to stop.")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=run_for)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
