"""Property-based tests of the customer operations, from the API's own OpenAPI document.

Like tests/api/test_schemathesis.py, for the operations the tracking spec and the
customer pages added: the read-key ``GET /v1/customers*`` (with a read key), and the
write-key page, screen, group and alias calls and journey starts (with the write key).
Generated requests, valid and invalid, never get a 5xx, and every answer has a
documented status, content type and schema.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from tests.api.test_schemathesis import _ids_fit_in_bytes, _numbers_fit, _times_fit
from tests.customers.conftest import Client
from tests.runtime.conftest import compiled_text

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

EXAMPLES = 25
READ = {
    "GET /v1/customers",
    "GET /v1/customers/{customer_id}",
    "GET /v1/customers/{customer_id}/timeline",
    "GET /v1/customers/{customer_id}/export",
}
WRITE = {
    "POST /v1/page",
    "POST /v1/screen",
    "POST /v1/group",
    "POST /v1/alias",
    "POST /v1/journeys/{journey_id}/start",
    "GET /v1/projects/{write_key}/settings",
}
# The example journey id of the docs (JourneyId's `examples`), startable here.
STARTABLE = """\
journey: abandoned-cart
name: Started by the API
trigger: { api: {} }
steps:
  - id: done
    exit: {}
"""


def fuzz(url: str, read: dict[str, str], write: dict[str, str], mode: GenerationMode) -> set[str]:
    """Run the generated cases of the operations in READ and WRITE; the ones tested."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    # Documented: no text may hold NUL (PostgreSQL cannot store it).
    schema.config.generation.update(allow_x00=False)
    tested = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in READ | WRITE:
            headers = read if operation.label in READ else write
            _check(operation, url, headers, mode)
            tested.add(operation.label)
    return tested


def _check(operation: Any, url: str, headers: dict[str, str], mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        if mode is GenerationMode.POSITIVE:
            assume(
                _ids_fit_in_bytes(case.body) and _numbers_fit(case.body) and _times_fit(case.body)
            )
        query = case.query if isinstance(case.query, dict) else {}
        excluded = []
        if query.get("cursor") is not None:
            # A cursor is the state of a paging the API began: a made-up one is refused
            # (400, documented), though the schema can only say "a string".
            excluded.append(positive_data_acceptance)
        if any(isinstance(v, list) for k, v in query.items() if k != "kind"):
            # A parameter given twice: FastAPI reads the last one, as most servers do.
            excluded.append(negative_data_rejection)
        case.call_and_validate(base_url=url, headers=headers, excluded_checks=excluded)

    check()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
async def test_generated_customer_requests_get_documented_answers(
    client: Client, mode: GenerationMode
) -> None:
    client.server.engine.deploy(compiled_text(STARTABLE))
    await client.call("/v1/identify", userId="ada", traits={"email": "ada@example.com"})
    await client.call("/v1/track", userId="ada", event="order.completed", properties={"total": 9})
    read = {"Authorization": f"Bearer {client.read_key}"}

    tested = await asyncio.to_thread(fuzz, client.server.url, read, client.server.headers, mode)

    assert tested == READ | WRITE
