"""Segment's official Node SDK (@segment/analytics-node 3.1.0, from npm, unchanged) stores with cxflow.

tests/sdks/js/node_client.mjs makes one of each call (page, track, alias, identify,
track, screen, group) and closeAndFlush()es; it exits non-zero on any error the SDK
reports. It runs once with the SDK's defaults (one request to /v1/batch with all
seven calls) and once with flushAt / maxEventsInBatch 1 (one request per call, as
users configure "sync" sending). The SDK's wire format: /tmp/js-sdk-findings.md when
it was written, and the docstring of tests/sdks/js/node_client.mjs.

The package comes from tests/sdks/js/package-lock.json (`npm ci`, run by
`make install-test`); nothing is downloaded while the tests run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ApiServer
from tests.runtime.conftest import compiled_text
from workflows.ids import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

JS_DIR = Path(__file__).parent / "js"
CLIENT = JS_DIR / "node_client.mjs"
SDK_PACKAGE = JS_DIR / "node_modules" / "@segment" / "analytics-node" / "package.json"
SDK_VERSION = "3.1.0"
RUN_TIMEOUT = 60.0

# What cxflow stores each Segment call as.
STORED_NAME = {
    "page": "page.viewed",
    "screen": "screen.viewed",
    "group": "group",
    "alias": "alias",
    "identify": "identify",
}


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the SDK tests need Node.js 20+ on PATH")
    if not SDK_PACKAGE.exists():
        pytest.fail(
            f"{SDK_PACKAGE.relative_to(JS_DIR.parent.parent.parent)} is missing: "
            "run `make install-test` (it runs `npm ci` in tests/sdks/js)"
        )
    version = json.loads(SDK_PACKAGE.read_text())["version"]
    assert version == SDK_VERSION, f"tests/sdks/js has analytics-node {version}, not {SDK_VERSION}"
    return node


async def _run_client(api: ApiServer, mode: str, user_id: str, anonymous_id: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "SDK_API_URL": api.url,
        "SDK_WRITE_KEY": api.key,
        "SDK_USER_ID": user_id,
        "SDK_ANONYMOUS_ID": anonymous_id,
        "SDK_MODE": mode,
    }
    process = await asyncio.create_subprocess_exec(
        _node(),
        str(CLIENT),
        cwd=JS_DIR,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"node_client.mjs did not finish within {RUN_TIMEOUT:.0f} s")
    out, err = stdout.decode(), stderr.decode()
    assert process.returncode == 0, (
        f"node_client.mjs exited {process.returncode}\nstdout: {out}\nstderr: {err}"
    )
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def _stored(api: ApiServer, *customer_ids: str) -> dict[str, str]:
    """message id -> event name, of the events stored under any of ``customer_ids``.

    An alias moves (or will move) the anonymous visitor's events to the user: which
    of the two ids holds them is not asserted here, only that each call is stored once.
    """
    stored: dict[str, str] = {}
    for customer_id in customer_ids:
        for event in api.engine.store.events_for(customer_id):
            stored[event.message_id] = event.name
    return stored


CART = """\
journey: cart-nudge
name: Cart nudge
trigger: { event: cart.updated }
steps:
  - id: nudge
    send: { channel: console, body: "{{ event.properties.item_count }} items for {{ customer.email }}" }
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["batch", "single"])
async def test_segments_node_sdk_stores_every_call(api: ApiServer, mode: str) -> None:
    api.engine.deploy(compiled_text(CART))
    user_id = f"node-{mode}-{uuid.uuid4()}"
    anonymous_id = f"anon-{uuid.uuid4()}"
    report = await _run_client(api, mode, user_id, anonymous_id)

    assert report["errors"] == []
    assert {r["url"] for r in report["requests"]} == {f"{api.url}/v1/batch"}
    sizes = [r["events"] for r in report["requests"]]
    assert sizes == ([7] if mode == "batch" else [1] * 7)
    assert all(200 <= r["status"] < 300 for r in report["responses"]), report["responses"]

    sent = {m["messageId"]: m["event"] or STORED_NAME[m["type"]] for m in report["messages"]}
    assert sorted(sent.values()) == sorted(
        [
            "page.viewed",
            "signup.started",
            "alias",
            "identify",
            "cart.updated",
            "screen.viewed",
            "group",
        ]
    )
    assert _stored(api, user_id, anonymous_id) == sent
    assert _stored(api, user_id) == sent  # the visitor's calls joined the user's profile

    customer = api.engine.store.get_customer(user_id)
    assert customer is not None
    assert customer.traits == {"email": "ada@example.com", "plan": "pro"}
    outcome = await api.engine.outcome(workflow_id_for("cart-nudge", user_id))  # started
    assert outcome.status == "completed"
    assert [m["body"] for m in api.engine.outbox_messages()] == ["2 items for ada@example.com"]
