"""Property-based tests of the live API from its own OpenAPI document (schemathesis).

Valid and invalid bodies generated from the schema must never cause a 5xx, and
every answer must match the documented status codes, content types and schemas.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from engine.ingest.calls import MAX_CUSTOMER_ID, MAX_SAFE_NUMBER
from tests.api.conftest import ApiServer

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

EXAMPLES = 50

# Event times must lie within 50 years back and 6 hours ahead of the server's clock (the
# API answers 400 otherwise: tests/ingest/test_bad_values.py), which JSON Schema cannot
# express. Generated times stay well within that window.
_NOW = datetime.now().replace(microsecond=0)
schemathesis.openapi.format(
    "date-time",
    st.datetimes(
        min_value=_NOW - timedelta(days=365 * 49),
        max_value=_NOW + timedelta(hours=4),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
    ).map(lambda moment: moment.isoformat()),
)


def _ids_fit_in_bytes(body: Any) -> bool:
    """Customer ids are limited to 200 UTF-8 bytes (documented); JSON Schema counts characters."""
    calls = body.get("batch", [body]) if isinstance(body, dict) else []
    return all(
        len(call.get(name).encode("utf-8", "surrogatepass")) <= MAX_CUSTOMER_ID
        for call in calls
        if isinstance(call, dict)
        for name in ("userId", "anonymousId")
        if isinstance(call.get(name), str)
    )


def _numbers_fit(body: Any) -> bool:
    """Numbers anywhere in a call are limited to +-(2^53 - 1) (documented); JSON Schema
    cannot say so of every nested value."""
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and abs(item) > MAX_SAFE_NUMBER
        ):
            return False
    return True


def _times_fit(body: Any) -> bool:
    """With sentAt, the stored time is receivedAt - (sentAt - timestamp) (documented), which
    must fall in the same window: sentAt may not precede the event by over 4 hours."""
    if not isinstance(body, dict):
        return True
    calls = body.get("batch", [body])
    batch_sent = body.get("sentAt")
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict):
            continue
        at = call.get("originalTimestamp") or call.get("timestamp")
        sent = call.get("sentAt") or batch_sent
        if isinstance(at, str) and isinstance(sent, str):
            lead = datetime.fromisoformat(sent) - datetime.fromisoformat(at)
            if not timedelta(hours=-4) <= lead <= timedelta(days=365 * 49):
                return False
    return True


def fuzz(url: str, headers: dict[str, str], mode: GenerationMode) -> list[str]:
    """Run every operation's generated cases; returns the operations tested."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    # Documented: no text may hold NUL (PostgreSQL cannot store it); JSON Schema cannot say so
    # of every nested string, so positive cases leave it out.
    schema.config.generation.update(allow_x00=False)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # /healthz has no input to get wrong

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            if mode is GenerationMode.POSITIVE:
                assume(
                    _ids_fit_in_bytes(case.body)
                    and _numbers_fit(case.body)
                    and _times_fit(case.body)
                )
            case.call_and_validate(base_url=url, headers=headers)

        check()
        tested.append(operation.label)
    return tested


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
async def test_generated_requests_get_documented_answers(
    api: ApiServer, mode: GenerationMode
) -> None:
    tested = await asyncio.to_thread(fuzz, api.url, api.headers, mode)
    assert "POST /v1/batch" in tested
