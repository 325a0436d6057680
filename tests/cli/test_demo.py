"""`cxflow demo`: the shipped abandoned-cart journey, simulated shoppers, skipped time; its
report must count what the shoppers really did, the holdout's orders included."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from pathlib import Path

import httpx
import pytest

from engine.cli.demo import ORDER_RATES, DemoResult, Shop, run_demo, serve_console
from engine.composition import Runtime

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


async def test_the_report_counts_every_simulated_order_by_variant(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXFLOW_CONSOLE_OUTBOX", str(tmp_path / "outbox.jsonl"))
    lines: list[str] = []
    result = await run_demo(repo / "journeys", tmp_path / "demo", Shop(400, seed=3), lines.append)

    report = result.report
    assert report.summary.runs == 400
    assert report.summary.by_status.get("running", 0) == 0
    assert report.summary.conversions == sum(result.orders.values())
    [experiment] = report.experiments
    variants = {v.name: v for v in experiment.variants}
    assert set(variants) == set(ORDER_RATES)
    for name, variant in variants.items():
        # every order is a conversion of its variant, the holdout's (whose runs ended at
        # once) as much as the others'; and the goal's value adds up to what was spent
        assert variant.conversions == result.orders.get(name, 0), name
        assert variant.revenue == pytest.approx(result.revenue.get(name, 0.0)), name
    assert result.orders["holdout"] > 0
    # the clicks went through the tracked links' real redirect, into the send steps' rows
    assert result.clicks > 0
    assert sum(step.clicked for step in report.messages) == result.clicks
    assert sum(v.exposures for v in variants.values()) == 400
    assert any("orders" in line for line in lines)


async def test_the_console_shows_the_demos_week_with_its_experiment(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXFLOW_CONSOLE_OUTBOX", str(tmp_path / "outbox.jsonl"))
    data_dir = tmp_path / "demo"
    pages: dict[str, str] = {}

    async def look(result: DemoResult, runtime: Runtime) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        done = asyncio.Event()  # ends the console as Ctrl-C would: no task cancelled
        served = asyncio.create_task(serve_console(runtime, data_dir, port, run_for=60, stop=done))
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for _ in range(100):
                with contextlib.suppress(httpx.TransportError):
                    form = await client.get("/console/login")
                    break
                await asyncio.sleep(0.1)
            email, password = (data_dir / "console-login").read_text().split()
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token is not None
            login = await client.post(
                "/console/login",
                data={"email": email, "password": password, "csrf": token.group(1)},
            )
            assert login.status_code == 303, login.text
            for tab in ("graph", "experiment"):
                page = await client.get(f"/console/journeys/abandoned-cart?tab={tab}")
                assert page.status_code == 200, page.text
                pages[tab] = page.text
        done.set()
        await asyncio.wait_for(served, timeout=30)

    await run_demo(repo / "journeys", data_dir, Shop(100, seed=5), lambda _: None, look)
    assert "100 runs entered" in pages["graph"]
    for variant in ("reminder", "discount", "holdout"):
        assert variant in pages["experiment"]
    assert "cart-offer-2026" in pages["experiment"]
