"""The segments pages: definitions, size over time, members and their CSV; and the store's
size-per-day query they draw from, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from dsl.segment_loader import load_segment_file
from engine.console.routes.segments import csv_cell
from engine.store import Store
from tests.conftest import REPO
from tests.console.conftest import ACCOUNTS, Console
from tests.console.test_customers import call, eventually

ASYNC = pytest.mark.asyncio(loop_scope="session")


def deploy_staff(console: Console) -> None:
    result = load_segment_file(REPO / "segments" / "staff.yaml")
    assert result.compiled is not None
    console.engine.store.deploy_segment(result.compiled, "segments/staff.yaml")


@ASYNC
async def test_a_segment_shows_its_definition_size_over_time_and_members(
    console: Console,
) -> None:
    deploy_staff(console)
    store = console.engine.store
    people = {
        f"kim-{uuid.uuid4().hex[:6]}": {"email": "kim@shop.example.com", "name": "Kim"},
        f"eve-{uuid.uuid4().hex[:6]}": {
            "email": '=HYPERLINK("x")@shop.example.com',
            "name": "-2+3",
        },
        f"joe-{uuid.uuid4().hex[:6]}": {"email": "joe@elsewhere.example"},
    }
    for customer, traits in people.items():
        await call(console, "/v1/identify", userId=customer, traits=traits)
    staff = sorted(c for c, t in people.items() if t["email"].endswith("@shop.example.com"))
    await eventually(lambda: store.segment_members("staff") == staff, "staff not computed")

    async with console.logged_in("viewer") as client:
        index = await client.get("/console/segments")
        assert index.status_code == 200
        assert '<a href="/console/segments/staff">Staff</a>' in index.text
        assert "trait: email" in index.text  # the conditions, as YAML
        assert re.search(r'<td class="num">2</td></tr>', index.text)

        page = await client.get("/console/segments/staff", params={"days": 7})
        assert page.status_code == 200, page.text
        assert "Members at the end of each day" in page.text and "<svg" in page.text
        today = datetime.now(UTC).date()
        sizes = dict(
            re.findall(
                r'<th scope="row">(\d{4}-\d\d-\d\d)</th><td class="num">(\d+)</td>', page.text
            )
        )
        assert sizes[today.isoformat()] == "2"
        assert sizes[(today - timedelta(days=1)).isoformat()] == "0"
        assert len(sizes) == 7
        for customer in staff:
            assert f'href="/console/customers/{customer}"' in page.text
        assert "joe-" not in page.text.split('id="members"')[1]

        export = await client.get("/console/segments/staff/members.csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"] == (
        'attachment; filename="segment-staff-members.csv"'
    )
    table = list(csv.reader(io.StringIO(export.text)))
    assert table[0] == ["customer_id", "email", "name", "entered_at"]
    assert [row[0] for row in table[1:]] == staff
    eve = next(row for row in table if row[0].startswith("eve-"))
    assert eve[1] == '\'=HYPERLINK("x")@shop.example.com' and eve[2] == "'-2+3"
    kim = next(row for row in table if row[0].startswith("kim-"))
    assert kim[1:3] == ["kim@shop.example.com", "Kim"]
    [export_entry] = [
        a for a in console.engine.store.users.audit_log() if a.action == "segment.export"
    ]
    assert (export_entry.actor, export_entry.target) == (ACCOUNTS["viewer"], "staff")


@ASYNC
async def test_members_are_paged(console: Console) -> None:
    deploy_staff(console)
    store = console.engine.store
    batch = [
        {"type": "identify", "userId": f"p{n:02d}", "messageId": str(uuid.uuid4()),
         "traits": {"email": f"p{n}@shop.example.com"}}
        for n in range(52)
    ]  # fmt: skip
    await call(console, "/v1/batch", batch=batch)
    await eventually(lambda: len(store.segment_members("staff")) == 52, "staff not computed")
    async with console.logged_in("viewer") as client:
        first = await client.get("/console/segments/staff")
        second = await client.get("/console/segments/staff", params={"page": 2})
    assert "p49" in first.text and "p50" not in first.text.split('id="members"')[1]
    assert 'rel="next"' in first.text
    members = second.text.split('id="members"')[1]
    assert "p50" in members and "p51" in members and "p00" not in members


@ASYNC
async def test_an_unknown_segment_is_a_page_that_says_what_to_do(console: Console) -> None:
    async with console.logged_in("viewer") as client:
        page = await client.get("/console/segments/nope")
        export = await client.get("/console/segments/nope/members.csv")
        empty = await client.get("/console/segments")
    assert page.status_code == 404 and "cxflow segments deploy" in page.text
    assert export.status_code == 404
    assert "No segments deployed" in empty.text


def test_a_cell_that_looks_like_a_formula_is_escaped() -> None:
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "ada", "a=b")] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "ada", "a=b",
    ]  # fmt: skip


def test_sizes_per_day_are_worked_back_from_the_logged_changes(store: Store) -> None:
    day = date(2026, 5, 10)
    noon = datetime(2026, 5, 10, 12, tzinfo=UTC)

    def decide(inside: bool) -> object:
        return lambda traits, values, groups: {"vip": inside}

    # ada enters on day 1 and leaves on day 3; bob enters on day 2 and stays.
    store.recompute_segments("ada", ["vip"], [], decide(True), now=noon)  # type: ignore[arg-type]
    store.recompute_segments("bob", ["vip"], [], decide(True), now=noon + timedelta(days=1))  # type: ignore[arg-type]
    store.recompute_segments("ada", ["vip"], [], decide(False), now=noon + timedelta(days=2))  # type: ignore[arg-type]
    days = [day - timedelta(days=1) + timedelta(days=n) for n in range(5)]
    assert store.segments.sizes("vip", days) == [0, 1, 2, 1, 1]
    assert store.segments.sizes("vip", []) == []
    assert store.segments.sizes("other", days) == [0, 0, 0, 0, 0]
    [bob] = store.segments.member_page("vip")
    assert (bob.customer_id, bob.entered_at) == ("bob", noon + timedelta(days=1))
