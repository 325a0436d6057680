"""Identity resolution through the API: who is joined, who is not, and undoing a join.

The rules are engine.store.identities': an anonymous visitor joins the customer who
logs in; two known user ids are never joined by a call; an anonymous id stays with
the first customer it joined; an operator may merge and unmerge anyone.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.customers.conftest import Client, eventually, new_id
from tests.runtime.conftest import compiled_text
from workflows.ids import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _profile(client: Client, customer: str) -> dict[str, Any]:
    answer = await client.read(f"/v1/customers/{customer}")
    assert answer.status_code == 200, answer.text
    profile: dict[str, Any] = answer.json()
    return profile


def _consents(profile: dict[str, Any]) -> list[tuple[str, bool, str]]:
    return [(c["channel"], c["subscribed"], c["source"]) for c in profile["consents"]]


def _merges(client: Client, customer: str) -> list[tuple[str, str, str, str]]:
    return [
        (m.from_id, m.into_id, m.status, m.cause)
        for m in client.server.engine.store.identities.merges(customer)
    ]


async def test_a_visitor_who_logs_in_joins_the_customer_with_history_traits_segments_and_consent(
    client: Client,
) -> None:
    store = client.server.engine.store
    visitor, user = new_id("anon"), new_id("user")
    await client.call(
        "/v1/identify",
        userId=user,
        traits={"email": "ada@example.com", "plan": "pro", "subscriptions": {"email": True}},
    )
    store.set_segments(user, {"customers"})
    await client.call("/v1/page", anonymousId=visitor, name="Pricing", properties={"path": "/p"})
    await client.call("/v1/track", anonymousId=visitor, event="cart.updated")
    await client.call(
        "/v1/identify",
        anonymousId=visitor,
        traits={
            "email": "someone@example.com",
            "utm_source": "ads",
            "subscriptions": {"email": False},
        },
    )
    store.set_segments(visitor, {"browsers"})
    before = await _profile(client, visitor)
    assert (before["id"], before["lifetime"]["events"]) == (visitor, 3)

    await client.call("/v1/identify", userId=user, anonymousId=visitor)

    profile = await _profile(client, user)
    assert profile["id"] == user
    # The customer's own email wins; the visitor's other traits join (consent is no trait).
    assert profile["traits"] == {"email": "ada@example.com", "plan": "pro", "utm_source": "ads"}
    assert (profile["lifetime"]["events"], profile["lifetime"]["page_views"]) == (5, 1)
    assert [s["segment"] for s in profile["segments"]] == ["browsers", "customers"]
    assert _consents(profile) == [("email", False, "merge")]  # the most restrictive
    assert [(i["id"], i["kind"]) for i in profile["identities"]] == [
        (user, "user"),
        (visitor, "merged"),
    ]
    assert [(m["from_id"], m["into_id"], m["status"]) for m in profile["merges"]] == [
        (visitor, user, "merged")
    ]
    assert _merges(client, visitor) == [(visitor, user, "merged", "identify")]
    assert [(c.channel, c.subscribed) for c in store.consents(user)] == [("email", False)]
    assert store.consents(visitor) == store.consents(user)  # the visitor's id reads the user
    assert (await _profile(client, visitor))["id"] == user
    assert {e.name for e in store.events_for(user)} == {
        "identify",
        "page.viewed",
        "cart.updated",
    }


async def test_two_known_user_ids_are_never_joined_by_an_identify_or_an_alias(
    client: Client,
) -> None:
    store = client.server.engine.store
    ada, bob = new_id("ada"), new_id("bob")
    await client.call("/v1/identify", userId=ada, traits={"email": "ada@example.com"})
    await client.call("/v1/identify", userId=bob, traits={"email": "bob@example.com"})
    await client.call("/v1/track", userId=bob, event="cart.updated")

    # A shared computer: bob's id left in the browser's storage as the anonymous id.
    await client.call("/v1/identify", userId=ada, anonymousId=bob, traits={"plan": "pro"})
    await client.call("/v1/alias", userId=bob, previousId=ada)

    assert _merges(client, ada) == [
        (ada, bob, "refused", "alias"),
        (bob, ada, "refused", "identify"),
    ]
    [refusal, _] = store.identities.merges(ada)
    assert refusal.reason is not None and "known user ids" in refusal.reason
    ada_profile, bob_profile = await _profile(client, ada), await _profile(client, bob)
    assert (ada_profile["id"], ada_profile["traits"]) == (
        ada,
        {"email": "ada@example.com", "plan": "pro"},
    )
    assert (bob_profile["id"], bob_profile["traits"]) == (bob, {"email": "bob@example.com"})
    # Neither lists the other as one of its ids.
    assert [(i["id"], i["kind"]) for i in ada_profile["identities"]] == [(ada, "user")]
    assert [(i["id"], i["kind"]) for i in bob_profile["identities"]] == [(bob, "user")]
    assert sorted(e.name for e in store.events_for(ada)) == ["identify", "identify"]
    assert sorted(e.name for e in store.events_for(bob)) == ["alias", "cart.updated", "identify"]


async def test_an_alias_to_a_user_id_with_no_profile_yet_is_a_rename(client: Client) -> None:
    store = client.server.engine.store
    old, new = new_id("old"), new_id("new")
    await client.call("/v1/identify", userId=old, traits={"email": "ada@example.com"})
    await client.call("/v1/track", userId=old, event="cart.updated")

    await client.call("/v1/alias", userId=new, previousId=old)

    assert _merges(client, new) == [(old, new, "merged", "alias")]
    profile = await _profile(client, new)
    assert profile["traits"] == {"email": "ada@example.com"}
    assert profile["lifetime"]["events"] == 3
    assert [(i["id"], i["kind"]) for i in profile["identities"]] == [(new, "user"), (old, "merged")]
    assert (await _profile(client, old))["id"] == new
    await client.call("/v1/track", userId=old, event="late.call")  # an old id still sending
    assert [e.name for e in store.events_for(new, name="late.call")] == ["late.call"]


async def test_an_alias_to_a_user_id_known_from_its_events_is_no_rename(client: Client) -> None:
    """A user id that sent calls has a profile (its history), even with no identify yet."""
    ada, bob = new_id("ada"), new_id("bob")
    await client.call("/v1/identify", userId=ada, traits={"email": "ada@example.com"})
    await client.call("/v1/track", userId=bob, event="order.completed", properties={"total": 5})

    await client.call("/v1/alias", userId=bob, previousId=ada)

    assert _merges(client, ada) == [(ada, bob, "refused", "alias")]
    assert (await _profile(client, ada))["id"] == ada
    assert (await _profile(client, bob))["traits"] == {}


async def test_an_anonymous_id_joined_to_one_customer_stays_with_them(client: Client) -> None:
    store = client.server.engine.store
    visitor, ada, bob = new_id("anon"), new_id("ada"), new_id("bob")
    await client.call("/v1/track", anonymousId=visitor, event="product.viewed")
    await client.call("/v1/identify", userId=ada, anonymousId=visitor, traits={"name": "Ada"})
    await client.call("/v1/identify", userId=bob, traits={"name": "Bob"})

    await client.call("/v1/identify", userId=bob, anonymousId=visitor, traits={"plan": "pro"})

    assert _merges(client, visitor) == [
        (visitor, bob, "refused", "identify"),
        (visitor, ada, "merged", "identify"),
    ]
    [refusal, _] = store.identities.merges(visitor)
    assert refusal.reason is not None and "already joined" in refusal.reason
    assert (await _profile(client, visitor))["id"] == ada
    ada_profile, bob_profile = await _profile(client, ada), await _profile(client, bob)
    assert ada_profile["traits"] == {"name": "Ada"}
    assert bob_profile["traits"] == {"name": "Bob", "plan": "pro"}
    assert sorted(e.name for e in store.events_for(ada)) == ["identify", "product.viewed"]
    assert [e.name for e in store.events_for(bob)] == ["identify", "identify"]
    assert [(i["id"], i["kind"]) for i in bob_profile["identities"]] == [(bob, "user")]


async def test_an_operator_merge_of_two_known_ids_is_undone_by_unmerge(backend: Client) -> None:
    client = backend
    store = client.server.engine.store
    ada, bob = new_id("ada"), new_id("bob")
    await client.call(
        "/v1/identify",
        userId=ada,
        traits={"email": "ada@example.com", "plan": "pro", "subscriptions": {"email": True}},
    )
    await client.call("/v1/track", userId=ada, event="cart.updated")
    await client.call(
        "/v1/identify",
        userId=bob,
        traits={"email": "bob@example.com", "city": "Paris", "subscriptions": {"email": False}},
    )
    await client.call("/v1/page", userId=bob, name="Docs")
    ada_events = {e.message_id for e in store.events_for(ada)}
    bob_events = {e.message_id for e in store.events_for(bob)}
    ada_consents, bob_consents = store.consents(ada), store.consents(bob)

    merge = store.identities.merge(bob, ada)

    assert (merge.from_id, merge.into_id, merge.status, merge.cause) == (
        bob,
        ada,
        "merged",
        "operator",
    )
    merged = await _profile(client, bob)
    assert merged["id"] == ada
    assert merged["traits"] == {"email": "ada@example.com", "plan": "pro", "city": "Paris"}
    assert _consents(merged) == [("email", False, "merge")]
    assert {e.message_id for e in store.events_for(ada)} == ada_events | bob_events

    undone = store.identities.unmerge(merge.id)

    assert (undone.id, undone.status) == (merge.id, "reverted")
    assert undone.reverted_at is not None
    ada_profile, bob_profile = await _profile(client, ada), await _profile(client, bob)
    assert (ada_profile["id"], ada_profile["traits"]) == (
        ada,
        {"email": "ada@example.com", "plan": "pro"},
    )
    assert (bob_profile["id"], bob_profile["traits"]) == (
        bob,
        {"email": "bob@example.com", "city": "Paris"},
    )
    assert {e.message_id for e in store.events_for(ada)} == ada_events
    assert {e.message_id for e in store.events_for(bob)} == bob_events
    assert store.consents(ada) == ada_consents
    assert store.consents(bob) == bob_consents
    assert [(i["id"], i["kind"]) for i in ada_profile["identities"]] == [(ada, "user")]

    # Undone by an operator: a later call naming both does not join them again.
    await client.call("/v1/identify", userId=ada, anonymousId=bob)
    [refusal, reverted] = store.identities.merges(bob)
    assert (refusal.status, refusal.from_id, refusal.into_id) == ("refused", bob, ada)
    assert refusal.reason is not None and "operator separated" in refusal.reason
    assert reverted.id == merge.id
    assert (await _profile(client, bob))["id"] == bob


WAITING = """\
journey: checkout-thanks
name: Checkout thanks
trigger: { event: cart.started }
steps:
  - id: wait-checkout
    wait_for: { event: checkout.done, timeout: 1d }
    save_as: checkout
    on_timeout: done
%s  - id: thanks
    send:
      channel: console
      body: "Thanks {{ customer.traits.name }} <{{ customer.email }}> for {{ checkout.properties.order }}"
  - id: done
    exit: {}
"""
# A branch reads the profile again (workflows/journey.py), so the send after it does too.
KNOWN_NOW = """\
  - id: known
    branch:
      - when: has(customer.traits.name)
        next: thanks
      - else: done
"""


async def _run_under_the_visitor_id(client: Client, journey: str) -> tuple[str, str]:
    """A run entered under a visitor id; the visitor logs in; the awaited event comes under
    the user id. Returns the run's workflow id and the user id."""
    engine = client.server.engine
    engine.deploy(compiled_text(journey))
    visitor, user = new_id("anon"), new_id("user")
    await client.call("/v1/track", anonymousId=visitor, event="cart.started")
    await eventually(
        lambda: [r.status for r in engine.store.get_runs(customer_id=visitor)] == ["running"]
    )
    await client.call(
        "/v1/identify",
        userId=user,
        anonymousId=visitor,
        traits={"email": "ada@example.com", "name": "Ada"},
    )
    await client.call("/v1/track", userId=user, event="checkout.done", properties={"order": "A7"})
    return workflow_id_for("checkout-thanks", visitor), user


async def test_a_run_under_the_anonymous_id_gets_the_customers_events_and_profile(
    client: Client,
) -> None:
    engine = client.server.engine
    anonymous_run, user = await _run_under_the_visitor_id(client, WAITING % KNOWN_NOW)

    outcome = await engine.outcome(anonymous_run)

    assert outcome.status == "completed"
    assert [m["body"] for m in engine.outbox_messages()] == ["Thanks Ada <ada@example.com> for A7"]
    assert engine.store.get_runs(journey_id="checkout-thanks", customer_id=user) == []
    profile = await _profile(client, user)
    assert [(j["workflow_id"], j["status"]) for j in profile["journeys"]] == [
        (anonymous_run, "completed")
    ]


async def test_a_send_after_a_wait_for_renders_the_merged_profile(client: Client) -> None:
    engine = client.server.engine
    anonymous_run, _user = await _run_under_the_visitor_id(client, WAITING % "")

    await engine.outcome(anonymous_run)

    assert [m["body"] for m in engine.outbox_messages()] == ["Thanks Ada <ada@example.com> for A7"]


async def test_concurrent_logins_of_one_visitor_as_two_users_join_it_once_on_postgres(
    pg_client: Client,
) -> None:
    client = pg_client
    store = client.server.engine.store
    visitor, ada, bob = new_id("anon"), new_id("ada"), new_id("bob")
    await client.call("/v1/track", anonymousId=visitor, event="product.viewed")
    bodies = [
        {
            "userId": user,
            "anonymousId": visitor,
            "traits": {"n": n},
            "messageId": str(uuid.uuid4()),
        }
        for n in range(12)
        for user in (ada, bob)
    ]

    answers = await asyncio.gather(*(client.send("/v1/identify", body) for body in bodies))

    assert [a.status_code for a in answers] == [200] * len(bodies), [a.text for a in answers]
    merges = store.identities.merges(visitor)
    assert sorted(m.status for m in merges) == ["merged", "refused"]
    [merged] = [m for m in merges if m.status == "merged"]
    [refused] = [m for m in merges if m.status == "refused"]
    winner, loser = merged.into_id, refused.into_id
    assert {winner, loser} == {ada, bob} and refused.from_id == visitor
    assert (await _profile(client, visitor))["id"] == winner
    stored = {
        user: {e.message_id for e in store.events_for(user, name="identify")} for user in (ada, bob)
    }
    for user in (ada, bob):
        assert stored[user] == {b["messageId"] for b in bodies if b["userId"] == user}
    assert [e.name for e in store.events_for(winner, name="product.viewed")] == ["product.viewed"]
    assert store.events_for(loser, name="product.viewed") == []


async def test_a_visitor_never_identified_is_an_anonymous_identity(client: Client) -> None:
    visitor = new_id("anon")
    await client.call("/v1/page", anonymousId=visitor, name="Home")
    profile = (await client.read(f"/v1/customers/{visitor}")).json()
    assert profile["identities"] == [{"id": visitor, "kind": "anonymous"}]
    await client.call("/v1/identify", userId=visitor, traits={"plan": "free"})
    profile = (await client.read(f"/v1/customers/{visitor}")).json()
    assert profile["identities"] == [{"id": visitor, "kind": "user"}]


async def test_undoing_a_merge_takes_back_the_ids_merged_into_the_source(client: Client) -> None:
    store = client.server.engine.store
    visitor, bob, ada = new_id("anon"), new_id("bob"), new_id("ada")
    await client.call("/v1/page", anonymousId=visitor, name="Pricing")
    await client.call("/v1/identify", userId=bob, anonymousId=visitor, traits={"n": 1})
    await client.call("/v1/identify", userId=ada, traits={"n": 2})
    visitor_page = {e.message_id for e in store.events_for(bob) if e.name == "page.viewed"}

    merge = store.identities.merge(bob, ada)  # bob, and the visitor he was, join ada
    assert (await _profile(client, visitor))["id"] == ada
    store.identities.unmerge(merge.id)

    assert (await _profile(client, visitor))["id"] == bob  # the visitor is bob's again
    assert {e.message_id for e in store.events_for(bob) if e.name == "page.viewed"} == (
        visitor_page
    )
    assert [e.name for e in store.events_for(ada)] == ["identify"]
