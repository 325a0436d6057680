"""Workflow ids stay within Temporal's 255 bytes for every journey and customer id accepted.

Journey ids are at most 64 characters and customer ids at most 200 bytes of UTF-8, so
``journey:<journey>:<customer>`` can reach 273 bytes: past 255, the id keeps a readable
prefix and ends with a hash of the whole customer id. Ids that fit are unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import pytest

from engine.ingest.calls import MAX_CUSTOMER_ID
from tests.runtime.conftest import Engine, compiled_text
from workflows.ids import MAX_WORKFLOW_ID_BYTES, journey_of, workflow_id_for
from workflows.models import RunStatus

LONG_JOURNEY = "j" * 63 + "x"  # 64 characters, the most a journey id may have
WIDE = "é" * (MAX_CUSTOMER_ID // 2)  # 200 bytes in UTF-8, 100 characters


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def test_ids_that_fit_are_as_they_always_were() -> None:
    assert workflow_id_for("abandoned-cart", "ada") == "journey:abandoned-cart:ada"
    assert workflow_id_for("abandoned-cart", "ada:1") == "journey:abandoned-cart:ada:1"
    exactly = "c" * (MAX_WORKFLOW_ID_BYTES - len("journey:abandoned-cart:"))
    assert workflow_id_for("abandoned-cart", exactly) == f"journey:abandoned-cart:{exactly}"


@pytest.mark.parametrize(
    "customer",
    [
        "c" * MAX_CUSTOMER_ID,
        WIDE,
        "a" + "€" * 66,  # 199 bytes: three-byte characters across the cut
        "😀" * 50,  # four-byte characters
    ],
    ids=["ascii", "two-byte", "three-byte", "four-byte"],
)
def test_the_longest_ids_are_cut_with_a_hash_of_the_customer(customer: str) -> None:
    assert size(customer) <= MAX_CUSTOMER_ID
    workflow_id = workflow_id_for(LONG_JOURNEY, customer)
    assert MAX_WORKFLOW_ID_BYTES - 3 <= size(workflow_id) <= MAX_WORKFLOW_ID_BYTES
    head = f"journey:{LONG_JOURNEY}:"
    digest = hashlib.sha256(customer.encode()).hexdigest()[:16]
    assert workflow_id.startswith(head) and workflow_id.endswith(f"~{digest}")
    readable = workflow_id[len(head) : -len(digest) - 1]
    assert readable and customer.startswith(readable)  # whole characters only
    assert workflow_id_for(LONG_JOURNEY, customer) == workflow_id  # deterministic
    assert journey_of(workflow_id) == LONG_JOURNEY


def test_customers_sharing_the_readable_prefix_get_different_ids() -> None:
    first, second = "c" * 199 + "1", "c" * 199 + "2"
    assert workflow_id_for(LONG_JOURNEY, first) != workflow_id_for(LONG_JOURNEY, second)


def test_no_customer_id_can_spell_out_another_customers_hashed_id() -> None:
    victim = "v" * MAX_CUSTOMER_ID
    hashed = workflow_id_for(LONG_JOURNEY, victim)
    forged = hashed.removeprefix(f"journey:{LONG_JOURNEY}:")
    assert size(forged) <= MAX_CUSTOMER_ID  # a customer id the API would accept
    assert workflow_id_for(LONG_JOURNEY, forged) != hashed
    assert size(workflow_id_for(LONG_JOURNEY, forged)) <= MAX_WORKFLOW_ID_BYTES


def test_journey_of_reads_the_journey_back() -> None:
    assert journey_of("journey:abandoned-cart:ada:1") == "abandoned-cart"
    assert journey_of("schedule:abandoned-cart") is None
    assert journey_of("journey:") is None


WAITS = f"""\
journey: {LONG_JOURNEY}
name: Long ids
trigger: {{ event: start }}
steps:
  - id: listen
    wait_for: {{ event: ping, timeout: 1d }}
    save_as: ping
    on_timeout: done
  - id: remember
    update_profile: {{ set: {{ pinged: "{{{{ ping.properties.n }}}}" }} }}
  - id: done
    exit: {{}}
"""


@pytest.mark.asyncio(loop_scope="session")
async def test_a_run_with_the_longest_ids_starts_and_receives_its_events(engine: Engine) -> None:
    engine.deploy(compiled_text(WAITS))
    customer = f"{uuid.uuid4()}-" + "é" * 81 + "x"  # 200 bytes
    assert size(customer) == MAX_CUSTOMER_ID
    started = await engine.send(customer, "start")
    workflow_id = workflow_id_for(LONG_JOURNEY, customer)
    assert size(workflow_id) <= MAX_WORKFLOW_ID_BYTES
    assert started.started == [workflow_id]
    handle = engine.client.get_workflow_handle(workflow_id)
    for _ in range(200):
        status = await handle.query("status", result_type=RunStatus)
        if status.waiting_for == "ping":
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the run never waited for ping")
    assert status.customer_id == customer
    routed = await engine.send(customer, "ping", n=7)
    assert routed.signalled == [workflow_id]
    outcome = await engine.outcome(workflow_id)
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None and profile.traits["pinged"] == 7
    [run] = engine.store.get_runs(customer_id=customer)
    assert run.workflow_id == workflow_id
