"""``/v1/customers``: one customer's profile, timeline and export, and the search, on both
backends, for read keys only."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dsl.segment_loader import load_segment_text
from tests.customers.conftest import Client, eventually, new_id
from tests.runtime.conftest import compiled_text
from workflows.ids import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

THANKS = """\
journey: order-thanks
name: Order thanks
trigger: { event: order.completed }
steps:
  - id: thanks
    send: { channel: console, body: "Thanks for your order of {{ event.properties.total }}" }
  - id: wait-review
    wait_for: { event: review.left, timeout: 30d }
  - id: done
    exit: {}
"""
BUYERS = """\
segment: buyers
name: Buyers
match: { performed: order.completed }
"""


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Customer:
    """A customer with one entry of every kind: what was sent, and when."""

    id: str
    visitor: str
    legacy: str
    first: datetime
    last: datetime
    message_ids: list[str] = field(default_factory=list)


async def _everything(client: Client) -> Customer:
    """A visitor browses, signs up (unsubscribing from email), joins an account, buys
    twice (entering a segment and a journey, which sends a message), answers a survey."""
    engine = client.server.engine
    engine.deploy(compiled_text(THANKS))
    segment = load_segment_text(BUYERS).compiled
    assert segment is not None
    engine.store.deploy_segment(segment)
    user, visitor, legacy = new_id("ada"), new_id("anon"), new_id("legacy")
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    times = iter(base + timedelta(seconds=n) for n in range(100))
    customer = Customer(user, visitor, legacy, first=base, last=base)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("/v1/page", {"anonymousId": visitor, "name": "Pricing", "properties": {"path": "/p"}}),
        (
            "/v1/identify",
            {
                "userId": user,
                "anonymousId": visitor,
                "traits": {
                    "email": "ada.lovelace@example.com",
                    "name": "Ada Lovelace",
                    "plan": "pro",
                    "subscriptions": {"email": False},
                },
            },
        ),
        ("/v1/group", {"userId": user, "groupId": "acme", "traits": {"plan": "team"}}),
        ("/v1/alias", {"userId": user, "previousId": legacy}),
        ("/v1/track", {"userId": user, "event": "order.completed", "properties": {"total": 20.5}}),
        ("/v1/track", {"userId": user, "event": "order.completed", "properties": {"total": 30}}),
        (
            "/v1/track",
            {
                "userId": user,
                "event": "survey.responded",
                "properties": {"survey": "nps", "score": 9, "comment": "Great"},
            },
        ),
        ("/v1/track", {"userId": user, "event": "cart.updated", "properties": {"items": 2}}),
    ]
    for path, body in calls:
        customer.last = next(times)
        customer.message_ids.append(await client.call(path, timestamp=_iso(customer.last), **body))
    engine.store.assign_variant("hero-test", user, "b")
    await eventually(
        lambda: (
            [(r.status, r.current_step) for r in engine.store.get_runs(customer_id=user)]
            == [("running", "wait-review")]
            and [m.status for m in engine.store.messages_for(user)] == ["sent"]
        )
    )
    return customer


async def _json(client: Client, path: str, **params: Any) -> Any:
    answer = await client.read(path, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_profile_has_every_field(backend: Client) -> None:
    client = backend
    customer = await _everything(client)

    profile = await _json(client, f"/v1/customers/{customer.id}")

    assert profile["id"] == customer.id
    assert profile["traits"] == {
        "email": "ada.lovelace@example.com",
        "name": "Ada Lovelace",
        "plan": "pro",
    }
    assert [(i["id"], i["kind"]) for i in profile["identities"]] == [
        (customer.id, "user"),
        *sorted([(customer.legacy, "merged"), (customer.visitor, "merged")]),
    ]
    assert [(g["id"], g["traits"]) for g in profile["groups"]] == [("acme", {"plan": "team"})]
    assert [s["segment"] for s in profile["segments"]] == ["buyers"]
    assert [(c["channel"], c["subscribed"], c["source"]) for c in profile["consents"]] == [
        ("email", False, "identify")
    ]
    assert [(e["experiment"], e["variant"]) for e in profile["experiments"]] == [("hero-test", "b")]
    assert [
        (j["journey_id"], j["workflow_id"], j["status"], j["current_step"])
        for j in profile["journeys"]
    ] == [("order-thanks", workflow_id_for("order-thanks", customer.id), "running", "wait-review")]
    assert [(s["survey"], s["score"], s["comment"]) for s in profile["surveys"]] == [
        ("nps", 9.0, "Great")
    ]
    assert sorted((m["from_id"], m["cause"], m["status"]) for m in profile["merges"]) == sorted(
        [(customer.visitor, "identify", "merged"), (customer.legacy, "alias", "merged")]
    )
    lifetime = profile["lifetime"]
    assert {k: v for k, v in lifetime.items() if k not in ("first_seen", "last_seen")} == {
        "events": 8,
        "page_views": 1,
        "orders": 2,
        "revenue": 50.5,
        "messages_sent": 1,
    }
    assert (_at(lifetime["first_seen"]), _at(lifetime["last_seen"])) == (
        customer.first,
        customer.last,
    )
    assert _at(profile["created_at"]) == customer.first
    # Any id merged into the customer answers the same profile.
    assert (await _json(client, f"/v1/customers/{customer.visitor}"))["id"] == customer.id


EVERY_KIND = {
    "event",
    "page",
    "identify",
    "group",
    "alias",
    "message",
    "journey",
    "segment",
    "consent",
    "survey",
    "merge",
}


def _order(entries: list[dict[str, Any]]) -> list[tuple[datetime, str]]:
    return [(_at(e["at"]), e["id"]) for e in entries]


async def test_the_timeline_has_every_kind_of_entry_newest_first(backend: Client) -> None:
    client = backend
    customer = await _everything(client)

    page = await _json(client, f"/v1/customers/{customer.visitor}/timeline", limit=200)

    assert page["customer_id"] == customer.id and page["next_cursor"] is None
    entries = page["entries"]
    assert {e["kind"] for e in entries} == EVERY_KIND
    assert _order(entries) == sorted(_order(entries), reverse=True)
    events = [e for e in entries if e["id"].startswith("event:")]
    assert [e["data"]["message_id"] for e in events] == list(reversed(customer.message_ids))
    assert [e["kind"] for e in events] == [
        "event",
        "survey",
        "event",
        "event",
        "alias",
        "group",
        "identify",
        "page",
    ]
    titles = {e["kind"]: e["title"] for e in entries if e["kind"] not in ("event", "journey")}
    assert titles == {
        "page": "viewed page Pricing",
        "identify": "profile updated: email, name, plan, subscriptions",
        "group": "joined group acme",
        "alias": f"alias of {customer.legacy}",
        "survey": "answered survey nps",
        "message": "console message sent (step thanks)",
        "segment": "entered segment buyers",
        "consent": "unsubscribed from email (identify)",
        "merge": titles["merge"],  # two of them: below
    }
    merges = sorted(e["title"] for e in entries if e["kind"] == "merge")
    assert merges == sorted(
        [
            f"{customer.visitor} joined with {customer.id} (identify)",
            f"{customer.legacy} joined with {customer.id} (alias)",
        ]
    )
    journey = [e["title"] for e in entries if e["kind"] == "journey"]
    assert sorted(journey) == [
        "entered journey order-thanks",
        "reached step thanks of order-thanks",
        "reached step wait-review of order-thanks",
    ]
    [message] = [e for e in entries if e["kind"] == "message"]
    assert (message["channel"], message["journey_id"], message["data"]["status"]) == (
        "console",
        "order-thanks",
        "sent",
    )


PINGED = """\
journey: pinged
name: Pinged
trigger: { event: ping }
entry: { reentry: always }
steps:
  - id: done
    exit: {}
"""


async def test_timeline_pages_lose_and_repeat_no_entry(backend: Client) -> None:
    client = backend
    customer = await _everything(client)
    client.server.engine.deploy(compiled_text(PINGED))
    for n in range(1, 4):  # more runs than a page holds entries
        await client.call("/v1/track", userId=customer.id, event="ping")
        await eventually(
            lambda n=n: (
                [r.status for r in client.server.engine.store.get_runs("pinged")]
                == ["completed"] * n
            )
        )
    # A batch without timestamps: its calls share one time (the batch's arrival).
    batch = [
        {
            "type": "track",
            "userId": customer.id,
            "event": "item.viewed",
            "properties": {"n": n},
            "messageId": str(uuid.uuid4()),
        }
        for n in range(12)
    ]
    answer = await client.send("/v1/batch", {"batch": batch})
    assert answer.status_code == 200, answer.text
    path = f"/v1/customers/{customer.id}/timeline"
    whole = (await _json(client, path, limit=200))["entries"]
    items = [e for e in whole if e["data"].get("name") == "item.viewed"]
    assert len(items) == 12 and len({e["at"] for e in items}) == 1
    pinged = [e for e in whole if e["kind"] == "journey" and e["journey_id"] == "pinged"]
    assert len(pinged) == 9  # entered, reached the step, left: three times
    # 8 calls, 3 pings, 12 items; a message; 3 + 9 journey entries; a segment entry,
    # a consent change, 2 merges.
    assert len({e["id"] for e in whole}) == len(whole) == 8 + 3 + 12 + 1 + 12 + 1 + 1 + 2

    for limit in (1, 4, 7):
        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            page = await _json(client, path, **params)
            assert len(page["entries"]) <= limit
            seen += page["entries"]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert len(page["entries"]) == limit
        assert [e["id"] for e in seen] == [e["id"] for e in whole], limit
        assert pages == -(-len(whole) // limit)


async def test_the_timeline_filters_by_kind_and_channel(backend: Client) -> None:
    client = backend
    customer = await _everything(client)
    path = f"/v1/customers/{customer.id}/timeline"

    kinds = await _json(client, path, kind=["consent", "merge"])
    assert sorted(e["kind"] for e in kinds["entries"]) == ["consent", "merge", "merge"]
    surveys = await _json(client, path, kind="survey")
    assert [e["data"]["message_id"] for e in surveys["entries"]] == [customer.message_ids[6]]
    pages = await _json(client, path, kind="page")
    assert [e["data"]["message_id"] for e in pages["entries"]] == [customer.message_ids[0]]
    console = await _json(client, path, channel="console")
    assert [(e["kind"], e["channel"]) for e in console["entries"]] == [("message", "console")]
    email = await _json(client, path, channel="email")
    assert [(e["kind"], e["channel"]) for e in email["entries"]] == [("consent", "email")]
    assert (await _json(client, path, channel="sms"))["entries"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "not-a-cursor"}, "cursor_invalid"),
        # A time without its zone is no time this API wrote.
        (
            {"cursor": base64.urlsafe_b64encode(b'["2024-01-01T00:00:00", "x"]').decode()},
            "cursor_invalid",
        ),
        ({"cursor": base64.urlsafe_b64encode(b'{"at": 1}').decode()}, "cursor_invalid"),
        ({"kind": "purchase"}, "timeline_kind_invalid"),
        ({"kind": ["event", "tweet"]}, "timeline_kind_invalid"),
    ],
)
async def test_a_bad_cursor_or_kind_is_a_400(
    client: Client, params: dict[str, Any], code: str
) -> None:
    customer = new_id("c")
    await client.call("/v1/track", userId=customer, event="x")

    answer = await client.read(f"/v1/customers/{customer}/timeline", **params)

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == code


async def test_search_finds_by_id_prefix_email_part_and_trait(backend: Client) -> None:
    client = backend
    ada, adam, bob = new_id("ada"), new_id("adam"), new_id("bob")
    await client.call(
        "/v1/identify", userId=ada, traits={"email": "Ada.Lovelace@Example.com", "plan": "pro"}
    )
    await client.call(
        "/v1/identify", userId=adam, traits={"email": "adam@example.org", "plan": "free"}
    )
    await client.call("/v1/identify", userId=bob, traits={"email": "bob@example.com", "seats": 3})

    async def found(query: str) -> list[str]:
        body = await _json(client, "/v1/customers", query=query)
        return sorted(c["id"] for c in body["customers"])

    assert await found(ada[:7]) == [ada]  # "ada-" and the first hex digits
    assert await found("ada") == sorted([ada, adam])
    assert await found(bob) == [bob]
    assert await found("lovelace") == [ada]
    assert await found("EXAMPLE.COM") == sorted([ada, bob])
    assert await found("plan=pro") == [ada]
    assert await found("plan = free") == [adam]
    assert await found("seats=3") == [bob]
    assert await found("plan=team") == []
    assert await found("100%") == []
    [match] = (await _json(client, "/v1/customers", query="lovelace"))["customers"]
    assert (match["email"], match["name"]) == ("Ada.Lovelace@Example.com", None)
    # A customer known only from track calls (no identify yet) has a profile: found by id.
    tracked = new_id("tracked")
    await client.call("/v1/track", userId=tracked, event="order.completed")
    assert (await client.read(f"/v1/customers/{tracked}")).status_code == 200
    [only] = (await _json(client, "/v1/customers", query=tracked))["customers"]
    assert (only["id"], only["email"], only["name"]) == (tracked, None, None)
    assert await found(f"{tracked}x") == []
    assert await found(f"email={tracked}") == []


async def test_the_export_holds_every_event_message_and_change(backend: Client) -> None:
    client = backend
    customer = await _everything(client)

    answer = await client.read(f"/v1/customers/{customer.legacy}/export")

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"] == 'attachment; filename="customer-export.json"'
    export = answer.json()
    assert export["format"] == "cxflow-customer-export/1"
    assert export["profile"]["id"] == customer.id
    assert [e["message_id"] for e in export["events"]] == customer.message_ids
    [page] = [e for e in export["events"] if e["call_type"] == "page"]
    assert (page["anonymous_id"], page["user_id"], page["name"]) == (
        customer.visitor,
        None,
        "page.viewed",
    )
    assert [(m["channel"], m["status"], m["step_id"]) for m in export["messages"]] == [
        ("console", "sent", "thanks")
    ]
    assert [(c["segment"], c["change"]) for c in export["segment_changes"]] == [
        ("buyers", "entered")
    ]
    assert [(c["channel"], c["subscribed"], c["source"]) for c in export["consent_changes"]] == [
        ("email", False, "identify")
    ]


@pytest.mark.parametrize("suffix", ["", "/timeline", "/export"])
async def test_an_unknown_customer_is_a_404(client: Client, suffix: str) -> None:
    answer = await client.read(f"/v1/customers/{new_id('nobody')}{suffix}")

    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "customer_not_found"


CUSTOMER_PATHS = ["", "/{id}", "/{id}/timeline", "/{id}/export"]


@pytest.mark.parametrize("path", CUSTOMER_PATHS)
async def test_personal_data_needs_a_read_key(client: Client, path: str) -> None:
    customer = new_id("c")
    await client.call("/v1/identify", userId=customer, traits={"email": "c@example.com"})
    url = "/v1/customers" + path.format(id=customer)
    params = {"query": customer} if path == "" else {}
    write_key = client.server.headers
    unknown = {"Authorization": "Bearer cxk_" + "a" * 32}

    for headers in (write_key, unknown, {}):
        answer = await client.http.get(url, params=params, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.json()["code"] == "unauthorized"
        assert customer not in answer.text
    assert (await client.read(url, **params)).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/track", {"event": "x"}),
        ("/v1/identify", {"traits": {"plan": "pro"}}),
        ("/v1/batch", {"batch": [{"type": "track", "event": "x"}]}),
    ],
)
async def test_a_read_key_cannot_send_events(
    client: Client, path: str, body: dict[str, Any]
) -> None:
    customer = new_id("c")
    if path == "/v1/batch":
        body["batch"][0]["userId"] = customer
    else:
        body["userId"] = customer
    headers = {"Authorization": f"Bearer {client.read_key}"}

    answer = await client.http.post(path, json=body, headers=headers)

    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "unauthorized"
    assert client.server.engine.store.events_for(customer) == []
