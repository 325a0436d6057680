"""`cxflow keys` and `cxflow api` as a user runs them, in a subprocess."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import CXFLOW
from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import workflow_id_for

HELLO = """\
journey: hello
name: Hello
trigger: { event: signed.up }
steps:
  - id: hi
    send: { channel: email, body: "Hi" }
"""


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CXFLOW), *args], capture_output=True, text=True, env=env, timeout=60)


def test_keys_are_created_once_and_listed_without_the_key(tmp_path: Path) -> None:
    env = {**os.environ, "CXFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'cxflow.db'}"}
    created = run(env, "keys", "create", "--source", "web-shop")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("cxk_") and len(key) == 36
    assert "shown once" in created.stderr
    listed = run(env, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert "web-shop" in listed.stdout and key[:8] in listed.stdout
    assert key not in listed.stdout
    bad = run(env, "keys", "create", "--source", "no spaces")
    assert bad.returncode == 2
    assert "source name" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("secret", ["", "cxflow-dev-secret-change-me"])
def test_cxflow_api_refuses_to_start_without_a_secret_of_its_own(
    tmp_path: Path, secret: str
) -> None:
    env = {
        **os.environ,
        "CXFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'cxflow.db'}",
        "CXFLOW_SECRET_KEY": secret,
    }
    refused = run(env, "api", "--port", str(_free_port()))
    assert refused.returncode == 2
    assert "CXFLOW_SECRET_KEY is not set" in refused.stderr
    assert "Traceback" not in refused.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="session")
async def test_cxflow_api_serves_events_to_the_engine(engine: Engine) -> None:
    engine.deploy(compiled_text(HELLO))
    key = engine.store.create_write_key("backend")
    port = _free_port()
    env = {
        **os.environ,
        "CXFLOW_TEMPORAL_ADDRESS": engine.client.service_client.config.target_host,
        "CXFLOW_TASK_QUEUE": engine.task_queue,
        "CXFLOW_DATABASE_URL": engine.store.url,
        "CXFLOW_SECRET_KEY": "api-cli-test-secret",
    }
    server = subprocess.Popen(
        [str(CXFLOW), "api", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    customer = f"ada-{uuid.uuid4()}"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, server.communicate()[0]
                await asyncio.sleep(0.05)
            response = await client.post(
                "/v1/track", json={"userId": customer, "event": "signed.up"}, auth=(key, "")
            )
            assert response.status_code == 200, response.text
        outcome = await engine.outcome(workflow_id_for("hello", customer))
        assert outcome.status == "completed"
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it (exit status -15).
    assert server.returncode in (0, -15), output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
