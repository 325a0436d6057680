"""The Journeys pages: the list, a journey's graph with live counts, and its controls.

Runs are real (the time-skipping Temporal server behind a served console); the store's
run-count queries the graph reads are checked on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from engine.console.graph import journey_graph
from engine.store import RunRecord, Store
from tests.api.conftest import serve
from tests.conftest import JOURNEYS
from tests.console.conftest import Console, csrf_of
from tests.runtime.conftest import Engine, compiled, compiled_text
from workflows.journey import workflow_id_for
from workflows.models import RunStatus

pytestmark = pytest.mark.asyncio(loop_scope="session")

NUDGE = """\
journey: nudge
name: Nudge
trigger: { event: go }
steps:
  - id: later
    wait: 1h
  - id: hello
    send: { channel: email, subject: Hi, body: "Hi {{ customer.id }}" }
  - id: after
    wait: 1h
"""


async def eventually(check: Callable[[], bool], what: str = "never happened") -> None:
    deadline = time.monotonic() + 15
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def run_status(engine: Engine, workflow_id: str) -> RunStatus:
    handle = engine.client.get_workflow_handle(workflow_id)
    answer: RunStatus = await handle.query("status", result_type=RunStatus)
    return answer


async def enter(engine: Engine, journey: str, customer: str, event: str, **props: object) -> str:
    """The customer enters the journey; back once the store has the run at a step."""
    engine.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
    result = await engine.send(customer, event, **props)
    workflow_id = workflow_id_for(journey, customer)
    assert result.started == [workflow_id], result
    await eventually(
        lambda: any(
            r.current_step for r in engine.store.get_runs(journey_id=journey, customer_id=customer)
        )
    )
    return workflow_id


def in_flight_at(page: str, step: str) -> int:
    """The count of runs at ``step`` the page's SVG shows, and its table says the same."""
    drawn = re.search(rf'<g class="step" data-step="{step}" data-in-flight="(\d+)"', page)
    assert drawn is not None, f"no step {step} in the graph"
    row = re.search(rf'<tr data-step="{step}">.*?data-field="in-flight">([\d,]+)<', page, re.DOTALL)
    assert row is not None, f"no step {step} in the graph's table"
    assert row.group(1).replace(",", "") == drawn.group(1)
    return int(drawn.group(1))


def edge_runs(page: str, source: str, target: str) -> int | None:
    found = re.search(
        rf'<g class="edge" data-source="{source}" data-target="{target}" data-runs="(\d*)"', page
    )
    assert found is not None, f"no edge {source} -> {target}"
    return int(found.group(1)) if found.group(1) else None


def list_row(page: str, journey: str) -> dict[str, str]:
    row = re.search(rf'<tr data-journey="{journey}">(.*?)</tr>', page, re.DOTALL)
    assert row is not None, f"{journey} is not listed"
    return dict(re.findall(r'data-field="([a-z-]+)">([^<]*)<', row.group(1)))


# --- the list ---------------------------------------------------------------------------------


async def test_the_list_says_how_to_deploy_when_nothing_is(console: Console) -> None:
    async with console.logged_in("viewer") as client:
        page = await client.get("/console/journeys")
        assert page.status_code == 200
        assert "No journey is deployed yet" in page.text
        assert "cxflow deploy journeys/" in page.text


async def test_the_list_shows_each_journey_with_its_runs_and_conversions(
    console: Console,
) -> None:
    engine = console.engine
    journey = engine.deploy(compiled("abandoned-cart"))
    for customer in ("ada", "bob"):
        await enter(engine, "abandoned-cart", customer, "cart.updated", item_count=2)
    async with console.logged_in("viewer") as client:
        page = (await client.get("/console/journeys")).text
        assert list_row(page, "abandoned-cart") == {
            "in-flight": "2",
            "entries": "2",
            "conversions": "0",
            "conversion-rate": "0.0%",
        }
        assert journey.version in page
        assert "on event cart.updated when event.properties.item_count &gt; 0" in page
        assert 'class="status status-active"' in page

        # Bob buys: his run exits on the goal event, and converts.
        await engine.send("bob", "order.completed", total=80)
        await eventually(
            lambda: (
                engine.store.get_runs(journey_id="abandoned-cart", customer_id="bob")[0].status
                == "exited"
            )
        )
        await eventually(lambda: len(engine.store.conversions("abandoned-cart")) == 1)
        page = (await client.get("/console/journeys")).text
        assert list_row(page, "abandoned-cart") == {
            "in-flight": "1",
            "entries": "2",
            "conversions": "1",
            "conversion-rate": "50.0%",
        }
        # A period before the runs has no entries (the runs in flight are now's).
        old = (await client.get("/console/journeys?since=2020-01-01&until=2020-01-31")).text
        assert list_row(old, "abandoned-cart")["entries"] == "0"


# --- the graph --------------------------------------------------------------------------------


async def test_the_graph_shows_where_the_runs_wait_as_the_store_has_them(
    console: Console,
) -> None:
    engine = console.engine
    engine.deploy(compiled("abandoned-cart"))
    customers = [f"c{n}" for n in range(4)]
    for customer in customers:
        await enter(engine, "abandoned-cart", customer, "cart.updated", item_count=1)
    async with console.logged_in("viewer") as client:
        page = (await client.get("/console/journeys/abandoned-cart")).text
        assert in_flight_at(page, "pause") == 4
        assert in_flight_at(page, "wait-order") == 0
        assert edge_runs(page, "pause", "offer-test") == 0
        assert "4 runs entered" in page

        # The hour passes: each run is split, sends or calls, and goes on.
        await engine.env.sleep(timedelta(hours=1, minutes=5))

        def settled() -> bool:
            runs = engine.store.get_runs(journey_id="abandoned-cart")
            return all(
                r.status != "running"
                or r.current_step in ("wait-order", "plain-reminder", "discount-reminder")
                for r in runs
            ) and all(r.variant for r in runs)

        await eventually(settled, "the runs never got past the split")
        page = (await client.get("/console/journeys/abandoned-cart")).text
        runs = engine.store.get_runs(journey_id="abandoned-cart")
        for step in ("pause", "offer-test", "plain-reminder", "discount-reminder", "wait-order"):
            expected = sum(1 for r in runs if r.status == "running" and r.current_step == step)
            assert in_flight_at(page, step) == expected, step
        assert edge_runs(page, "pause", "offer-test") == 4
        variants = {v: sum(1 for r in runs if r.variant == v) for v in ("reminder", "discount")}
        holdouts = sum(1 for r in runs if r.variant == "holdout")
        assert edge_runs(page, "offer-test", "plain-reminder") == variants["reminder"]
        assert edge_runs(page, "offer-test", "make-coupon") == variants["discount"]
        assert edge_runs(page, "offer-test", "done") == holdouts


async def test_the_other_sections_show_the_reports_figures(console: Console) -> None:
    engine = console.engine
    journey = compiled("abandoned-cart")
    engine.store.deploy_journey(journey, source=str(JOURNEYS / "abandoned-cart.yaml"))
    await enter(engine, "abandoned-cart", "dee", "cart.updated", item_count=3)
    async with console.logged_in("viewer") as client:
        funnel = (await client.get("/console/journeys/abandoned-cart?tab=funnel")).text
        assert "<h2>Funnel</h2>" in funnel and "<code>pause</code>" in funnel
        experiment = (await client.get("/console/journeys/abandoned-cart?tab=experiment")).text
        assert "cart-offer-2026" in experiment and "Chi-square" in experiment
        revenue = (await client.get("/console/journeys/abandoned-cart?tab=revenue")).text
        assert "More per exposure than" in revenue
        messages = (await client.get("/console/journeys/abandoned-cart?tab=messages")).text
        assert "<code>plain-reminder</code>" in messages
        versions = (await client.get("/console/journeys/abandoned-cart?tab=versions")).text
        assert f"<code>{journey.version}</code>" in versions
        source = (await client.get("/console/journeys/abandoned-cart?tab=source")).text
        assert "The file as deployed." in source
        assert "journey: abandoned-cart" in source
        missing = await client.get("/console/journeys/no-such-journey")
        assert missing.status_code == 404
        assert "cxflow deploy journeys/" in missing.text


async def test_the_source_says_when_the_file_changed_since(
    console: Console, tmp_path: Path
) -> None:
    file = tmp_path / "nudge.yaml"
    file.write_text(NUDGE)
    console.engine.store.deploy_journey(compiled_text(NUDGE), source=str(file))
    file.write_text(NUDGE.replace("wait: 1h", "wait: 2h", 1))
    async with console.logged_in("viewer") as client:
        source = (await client.get("/console/journeys/nudge?tab=source")).text
        assert str(file) in source
        assert "The file has changed since this version was deployed" in source
        assert "<pre" not in source


# --- the controls -----------------------------------------------------------------------------


async def control(client: httpx.AsyncClient, journey: str, action: str) -> httpx.Response:
    page = await client.get(f"/console/journeys/{journey}")
    return await client.post(
        f"/console/journeys/{journey}/{action}", data={"csrf": csrf_of(page.text)}
    )


async def test_a_viewer_sees_the_status_but_cannot_pause(console: Console) -> None:
    console.engine.deploy(compiled_text(NUDGE))
    async with console.logged_in("viewer") as client:
        page = (await client.get("/console/journeys/nudge")).text
        assert 'class="status status-active"' in page
        assert "/console/journeys/nudge/pause" not in page
        answer = await control(client, "nudge", "pause")
        assert answer.status_code == 403
        assert "operator role" in answer.text
    assert console.engine.store.journeys.control("nudge").status == "active"


async def test_a_post_without_the_csrf_token_is_refused(console: Console) -> None:
    console.engine.deploy(compiled_text(NUDGE))
    async with console.logged_in("operator") as client:
        for data in ({}, {"csrf": "forged"}):
            answer = await client.post("/console/journeys/nudge/pause", data=data)
            assert answer.status_code == 403
            assert "reload the page" in answer.text
        other_site = await client.post(
            "/console/journeys/nudge/stop",
            data={"csrf": csrf_of((await client.get("/console/journeys/nudge")).text)},
            headers={"Origin": "https://evil.example"},
        )
        assert other_site.status_code == 403
    assert console.engine.store.journeys.control("nudge").status == "active"


async def test_an_operators_pause_holds_the_send_and_resume_lets_it_go(
    console: Console,
) -> None:
    engine = console.engine
    engine.deploy(compiled_text(NUDGE))
    ada = f"ada-{uuid.uuid4().hex[:8]}"  # workflow ids are the whole session's test server's
    workflow_id = await enter(engine, "nudge", ada, "go")
    async with console.logged_in("operator") as client:
        page = (await client.get("/console/journeys/nudge")).text
        assert "/console/journeys/nudge/pause" in page
        assert 'data-confirm="Stop Nudge?' in page
        answer = await control(client, "nudge", "pause")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/journeys/nudge?done=paused"
        paused = (await client.get(answer.headers["location"])).text
        assert 'class="status status-paused"' in paused
        assert "runs in flight hold before their next send" in paused
        assert "paused by ops@shop.example" in paused
        assert "/console/journeys/nudge/resume" in paused
        assert engine.store.journeys.control("nudge").status == "paused"

        # The wait ends while paused: the run reaches its send and sends nothing.
        await engine.env.sleep(timedelta(hours=2))
        deadline = time.monotonic() + 15
        while (await run_status(engine, workflow_id)).waiting_for != "resume":
            assert time.monotonic() < deadline, "the run never held at its send"
            await asyncio.sleep(0.05)
        assert engine.outbox_messages() == []
        assert engine.store.messages_for(workflow_id=workflow_id) == []
        held = (await client.get("/console/journeys/nudge")).text
        assert in_flight_at(held, "hello") == 1

        answer = await control(client, "nudge", "resume")
        assert answer.headers["location"] == "/console/journeys/nudge?done=resumed"
        await eventually(lambda: len(engine.outbox_messages()) == 1, "resume sent nothing")
        assert [m["body"] for m in engine.outbox_messages()] == [f"Hi {ada}"]
    audit = [(a.actor, a.action, a.target) for a in engine.store.users.audit_log()]
    assert audit == [
        ("ops@shop.example", "journey.resume", "nudge"),
        ("ops@shop.example", "journey.pause", "nudge"),
    ]


async def test_stop_ends_the_runs_in_flight(console: Console) -> None:
    engine = console.engine
    engine.deploy(compiled_text(NUDGE))
    workflow_id = await enter(engine, "nudge", f"bea-{uuid.uuid4().hex[:8]}", "go")
    async with console.logged_in("operator") as client:
        answer = await control(client, "nudge", "stop")
        assert answer.headers["location"] == "/console/journeys/nudge?done=stopped"
        outcome = await engine.outcome(workflow_id)
        assert (outcome.status, outcome.reason) == ("exited", "stopped")
        page = (await client.get("/console/journeys/nudge")).text
        assert 'class="status status-stopped"' in page
        assert "/console/journeys/nudge/stop" not in page  # stopped already: resume only
        assert in_flight_at(page, "later") == 0


async def test_controls_are_refused_without_temporal(console: Console) -> None:
    """An API process without Temporal shows the pages but cannot pause: it says so."""
    console.engine.deploy(compiled_text(NUDGE))
    app = console.engine.runtime.api(reroute_interval=0.2)
    app.state.console = replace(app.state.console, client=None)
    async with serve(app) as url, Console(url, console.engine).logged_in("operator") as client:
        answer = await control(client, "nudge", "pause")
        assert answer.status_code == 503
        assert "Temporal is not connected" in answer.text
        assert "cxflow journeys pause nudge" in answer.text
    assert console.engine.store.journeys.control("nudge").status == "active"


# --- the store's counts of runs per step ------------------------------------------------------


def _run(store: Store, run: str, journey: str, steps: list[str], status: str = "running") -> None:
    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    store.run_started(
        RunRecord(
            workflow_id=f"wf-{run}", run_id=run, journey_id=journey, version="v1",
            customer_id=f"cust-{run}", status="running", current_step=steps[0],
            started_at=at, ended_at=None, variant=None, exit_reason=None,
            trigger_message_id=None,
        )
    )  # fmt: skip
    for step in steps:
        store.run_step(f"wf-{run}", run, step, at)
    if status != "running":
        store.run_finished(f"wf-{run}", run, status, ended_at=at)


async def test_the_store_counts_runs_by_step_and_by_the_steps_they_reached(store: Store) -> None:
    _run(store, "r1", "j", ["a", "b"])
    _run(store, "r2", "j", ["a", "b"])
    _run(store, "r3", "j", ["a", "c"], status="completed")
    _run(store, "r4", "j", ["a"])
    _run(store, "r5", "other", ["a"])
    assert store.runs.at_steps("j") == {
        ("b", "running"): 2,
        ("c", "completed"): 1,
        ("a", "running"): 1,
    }
    assert store.runs.reached_sets("j") == {
        frozenset({"a", "b"}): 2,
        frozenset({"a", "c"}): 1,
        frozenset({"a"}): 1,
    }
    assert store.runs.in_flight_counts() == {"j": 3, "other": 1}
    assert store.runs.at_steps("nothing") == {}
    assert store.runs.reached_sets("nothing") == {}


# --- the edges a run took, from the steps it reached -------------------------------------------

LOOP = """\
journey: loop
name: Loop
trigger: { event: go }
steps:
  - id: nap
    wait: 1d
  - id: again
    branch:
      - when: customer.traits.sleepy == true
        next: nap
      - else: bye
  - id: bye
    send: { channel: email, subject: Bye, body: Bye }
"""


async def test_a_run_is_counted_on_the_way_it_came_not_on_every_edge_it_could_have() -> None:
    journey = compiled("abandoned-cart")
    # The coupon failed (on error to the plain reminder), no order came, not a VIP.
    path = {"pause", "offer-test", "make-coupon", "plain-reminder", "wait-order", "vip-check"}
    graph = journey_graph(journey, {frozenset({*path, "done"}): 2}, {("done", "completed"): 2})
    runs = {(e.source, e.target): e.runs for e in graph.edges}
    assert runs[("make-coupon", "plain-reminder")] == 2
    assert runs[("offer-test", "plain-reminder")] == 0
    assert runs[("plain-reminder", "wait-order")] == 2
    assert runs[("vip-check", "done")] == 2
    assert runs[("offer-test", "done")] == runs[("wait-order", "done")] == 0
    [done] = [s for s in graph.steps if s.id == "done"]
    assert (done.reached, done.in_flight, done.ended) == (2, 0, {"completed": 2})
    assert graph.entries == 2


async def test_an_edge_back_into_a_loop_is_drawn_without_a_count() -> None:
    graph = journey_graph(
        compiled_text(LOOP),
        {frozenset({"nap", "again", "bye"}): 1, frozenset({"nap", "again"}): 3},
        {("nap", "running"): 3, ("bye", "completed"): 1, ("old-step", "running"): 2},
    )
    runs = {(e.source, e.target): e.runs for e in graph.edges}
    assert runs == {
        ("nap", "again"): 4,
        ("again", "nap"): None,
        ("again", "bye"): 1,
        ("bye", None): 1,
    }
    assert graph.elsewhere == {"old-step": 2}
    assert 'data-source="again" data-target="nap" data-runs=""' in graph.svg
    assert "stroke-dasharray" in graph.svg
    assert '<title id="journey-graph-title">Steps of Loop</title>' in graph.svg
