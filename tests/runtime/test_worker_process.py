"""The worker process: graceful stop on SIGTERM, clear messages for bad configuration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

pytestmark = pytest.mark.slow


def worker_env(address: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CXFLOW_TEMPORAL_ADDRESS": address,
        "CXFLOW_TASK_QUEUE": f"proc-{uuid.uuid4()}",
        "CXFLOW_SECRET_KEY": "worker-test-secret",
        "CXFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "CXFLOW_SHUTDOWN_GRACE_SECONDS": "2",
        **extra,
    }


def test_sigterm_stops_the_worker_gracefully(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = dev_server.client.service_client.config.target_host
    process = subprocess.Popen(
        [sys.executable, "-m", "worker"],
        env=worker_env(address, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    ready = process.stderr.readline()  # the worker says when it polls
    assert ready.startswith("cxflow worker: polling proc-"), ready + process.communicate()[1]
    assert process.poll() is None
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert time.monotonic() - started < 10
    assert "Traceback" not in stderr
    assert (tmp_path / "store.db").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"CXFLOW_MAX_CONCURRENT_ACTIVITIES": "lots"},
            "bad setting: CXFLOW_MAX_CONCURRENT_ACTIVITIES",
        ),
        ({"CXFLOW_TEMPORAL_ADDRESS": "127.0.0.1:1"}, "cannot reach Temporal at 127.0.0.1:1"),
        ({"CXFLOW_DATABASE_URL": "mysql://x@localhost/db"}, "cannot open the store"),
        ({"CXFLOW_SECRET_KEY": ""}, "CXFLOW_SECRET_KEY is not set"),
        ({"CXFLOW_SECRET_KEY": "cxflow-dev-secret-change-me"}, "CXFLOW_SECRET_KEY is not set"),
    ],
)
def test_bad_configuration_is_one_clear_line(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worker"],
        env=worker_env("127.0.0.1:7233", tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
