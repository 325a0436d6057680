"""Engagement fixtures: the store on SQLite and PostgreSQL, the runtime engine on the
time-skipping Temporal server, the SMTP peer on loopback, and helpers that put a sent
message in the log the way a send does (claimed under its idempotency key, then sent)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from connectors.inbound import EngagementKind, EngagementSignal
from engine.api.app import create_app
from engine.store import MessageRecord, Store
from tests.messaging.conftest import peers, tls_ca  # noqa: F401
from tests.runtime.conftest import Engine, engine, receiver  # noqa: F401
from tests.store.conftest import postgres_admin, store  # noqa: F401
from workflows.ids import workflow_id_for

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def sent_message(
    db: Store,
    customer_id: str,
    step_id: str = "welcome",
    channel: str = "email",
    journey_id: str = "onboarding",
    visit: int = 1,
) -> MessageRecord:
    """A message sent to the customer by a journey's step, as the log holds it."""
    workflow_id = workflow_id_for(journey_id, customer_id)
    key = f"{workflow_id}/entry-1/{step_id}/{visit}"
    db.claim_message(key, workflow_id, step_id, channel, customer_id)
    record = db.complete_message(key, "sent", {"to": "someone"})
    assert record.ref is not None
    return record


def signal(
    message: MessageRecord | str,
    kind: EngagementKind,
    dedupe_key: str | None = None,
    **fields: Any,
) -> EngagementSignal:
    """A provider's signal about the message (its ref, or a ref of no message)."""
    ref = message if isinstance(message, str) else message.ref
    assert ref is not None
    return EngagementSignal.model_validate(
        {
            "message_ref": ref,
            "kind": kind,
            "dedupe_key": dedupe_key or f"test:{kind}:{ref[:12]}",
            "source": "postmark",
            **fields,
        }
    )


@pytest_asyncio.fixture(loop_scope="session")
async def tracking_api(
    engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over the engine's intake, called in process (httpx's ASGI transport) at
    the engine's public URL, so a message's tracked links are followed as they are. It
    checks them with the secret the test worker signs them with (the default)."""
    monkeypatch.delenv("CXFLOW_SECRET_KEY", raising=False)
    app = create_app(engine.intake)
    transport = httpx.ASGITransport(app=app)
    base = engine.runtime.settings.public_url
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        yield client
