"""Fault tests: real processes killed with SIGKILL, a real Temporal server restarted.

Each test counts what a customer would notice, at a real peer (an HTTP receiver on
loopback, the SMTP server), and the runs in the store: a 200 from the API must end
as exactly one run per trigger and one delivery per message.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import CXFLOW
from tests.peers.http_receiver import HttpReceiver
from tests.runtime.conftest import dev_engine, receiver  # noqa: F401

FAULT_SECRET = "fault-test-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ApiProcess:
    """``cxflow api`` in a subprocess, its output in a log file."""

    env: Mapping[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **extra: str) -> ApiProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CXFLOW), "api", "--port", str(self.port)],
                env={**self.env, **extra},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, self.log()
            time.sleep(0.1)
        raise AssertionError(f"cxflow api did not start\n{self.log()}")

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def api_process(tmp_path: Path) -> Iterator[ApiProcess]:
    """An ``cxflow api`` the test starts with the engine's settings (and stops at the end)."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("CXFLOW_")}
    process = ApiProcess(
        env={**base, "CXFLOW_SECRET_KEY": FAULT_SECRET}, log_path=tmp_path / "api.log"
    )
    yield process
    process.stop()


__all__ = ["ApiProcess", "HttpReceiver", "free_port"]
