"""`cxflow dev`: the embedded default starts a real Temporal dev server and stops cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from connectors.registry import default_registry
from dsl.loader import load_file
from engine.cli.dev import dev_links_environment, dev_write_key
from engine.store import Store
from tests.cli.conftest import CXFLOW
from tests.conftest import JOURNEYS

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen += line
        if marker in line:
            return seen
        if not line and process.poll() is not None:
            break
    errors = process.stderr.read() if process.poll() is not None and process.stderr else ""
    raise AssertionError(f"{marker!r} not printed; output so far:\n{seen}\n{errors}")


def assert_console_login(api: str, email: str, password: str) -> None:
    """The printed login opens the console's overview."""
    with httpx.Client(base_url=api, timeout=30) as browser:
        form = browser.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        answer = browser.post(
            "/console/login",
            data={"email": email, "password": password, "csrf": csrf.group(1)},
        )
        assert answer.status_code == 303, answer.text
        assert "Overview" in browser.get("/console/").text


def test_dev_runs_temporal_with_ui_and_stops_on_sigterm(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    process = subprocess.Popen(
        [str(CXFLOW), "dev", "--journeys", str(JOURNEYS), "--data-dir", str(tmp_path / "state"),
         "--port", str(port), "--ui-port", str(ui_port), "--api-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        banner = read_until(process, "Press Ctrl-C", timeout=60)
        assert f"Temporal server  127.0.0.1:{port}" in banner
        assert f"Temporal UI      http://127.0.0.1:{ui_port}" in banner
        shipped = sorted(JOURNEYS.glob("*.yaml"))
        catalog = default_registry()
        deployable = [p for p in shipped if load_file(p, catalog=catalog).ok]
        assert f"{len(deployable)} deployed of {len(shipped)}" in banner
        for path in shipped:
            if path in deployable:
                assert f"    {path.stem} v" in banner
            else:
                assert f"not deployed {path}: needs " in banner

        async def system_info() -> str:
            client = await Client.connect(f"127.0.0.1:{port}")
            service = client.service_client.workflow_service
            info = await service.get_system_info(GetSystemInfoRequest())
            return str(info.server_version)

        assert asyncio.run(system_info())
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert "cxflow dev stopped" in stdout
        assert "Traceback" not in stderr
        assert (tmp_path / "state" / "temporal.db").exists()
    finally:
        if process.poll() is None:
            process.kill()


def test_dev_says_what_to_do_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(CXFLOW), "dev", "--journeys", str(JOURNEYS), "--data-dir", str(tmp_path),
             "--port", str(port), "--ui-port", "0", "--api-port", "0"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_dev_says_what_to_do_when_the_api_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        api_port = taken.getsockname()[1]
        result = subprocess.run(
            [str(CXFLOW), "dev", "--journeys", str(JOURNEYS), "--data-dir", str(tmp_path),
             "--port", str(free_port()), "--ui-port", "0", "--api-port", str(api_port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"port {api_port} for the event API is in use" in result.stderr
    assert "--api-port" in result.stderr
    assert "Traceback" not in result.stderr


HELLO = """\
journey: hello
name: Hello
trigger: { event: hello.requested }
steps:
  - id: greet
    send: { channel: email, subject: "Hello", body: "Hi {{ customer.id }}, from {{ journey.name }}" }
"""


def wait_for_messages(outbox: Path, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    messages: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        if outbox.exists():
            messages = [json.loads(line) for line in outbox.read_text().splitlines()]
            if len(messages) >= count:
                break
        time.sleep(0.2)
    return messages


def test_dev_runs_a_journey_from_the_event_api_and_from_send_event(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "hello.yaml").write_text(HELLO)
    port, ui_port, api_port = free_port(), free_port(), free_port()
    state = tmp_path / "state"
    env = {
        **os.environ,
        "CXFLOW_CONSOLE_OUTBOX": str(state / "outbox.jsonl"),
    }
    process = subprocess.Popen(
        [str(CXFLOW), "dev", "--journeys", str(journeys), "--data-dir", str(state),
         "--port", str(port), "--ui-port", str(ui_port), "--api-port", str(api_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        banner = read_until(process, "Press Ctrl-C", timeout=60)
        api = f"http://127.0.0.1:{api_port}"
        assert f"event API        {api}" in banner
        assert f"console          {api}/console/" in banner
        login = re.search(r"log in as (\S+) with password (\S+)", banner)
        assert login is not None, banner
        assert_console_login(api, login.group(1), login.group(2))
        assert (state / "console-login").stat().st_mode & 0o077 == 0
        key_file = state / "dev-write-key"
        assert f'curl -u "$(cat {key_file}):"' in banner
        key = key_file.read_text().strip()
        for customer in ("bob", "alice"):  # the emitting system gives each an address first
            identified = httpx.post(
                f"{api}/v1/identify",
                auth=(key, ""),
                json={"userId": customer, "traits": {"email": f"{customer}@example.com"}},
                timeout=30,
            )
            assert identified.status_code == 200, identified.text
        answer = httpx.post(
            f"{api}/v1/track",
            auth=(key, ""),
            json={"userId": "bob", "event": "hello.requested", "messageId": "m-0"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert wait_for_messages(state / "outbox.jsonl", 1)[0]["body"] == "Hi bob, from Hello"
        sent = subprocess.run(
            [str(CXFLOW), "send-event", "--customer", "alice", "--event", "hello.requested",
             "--message-id", "m-1"],
            capture_output=True, text=True, timeout=60,
            env={**env, "CXFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
                 "CXFLOW_DATABASE_URL": f"sqlite:///{state / 'cxflow.db'}"},
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert "accepted m-1" in sent.stdout
        assert "journey:hello:alice" in sent.stdout
        messages = wait_for_messages(state / "outbox.jsonl", 2)
        assert [(m["channel"], m["body"]) for m in messages] == [
            ("email", "Hi bob, from Hello"),
            ("email", "Hi alice, from Hello"),
        ]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_the_dev_server_does_not_outlive_a_killed_cxflow_dev(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(CXFLOW), "dev", "--journeys", str(tmp_path / "none"), "--data-dir", str(tmp_path),
         "--port", str(port), "--ui-port", "0", "--api-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        read_until(process, "Press Ctrl-C", timeout=60)
    finally:
        process.kill()
        process.communicate(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the Temporal dev server still listens on {port} after cxflow died")


def test_the_dev_write_key_is_kept_across_restarts_and_private(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'cxflow.db'}")
    try:
        key = dev_write_key(store, tmp_path)
        assert store.check_write_key(key) == "dev"
        assert dev_write_key(store, tmp_path) == key
        assert (tmp_path / "dev-write-key").stat().st_mode & 0o777 == 0o600
        (tmp_path / "dev-write-key").write_text("cxk_forgotten\n")
        replaced = dev_write_key(store, tmp_path)
        assert replaced != key
        assert store.check_write_key(replaced) == "dev"
    finally:
        store.dispose()


def test_dev_signs_links_with_a_kept_secret_and_points_them_at_its_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("CXFLOW_SECRET_KEY", "CXFLOW_SURVEY_SECRET", "CXFLOW_PUBLIC_URL",
             "CXFLOW_SURVEY_PUBLIC_URL")  # fmt: skip
    for name in names:
        monkeypatch.delenv(name, raising=False)
    dev_links_environment(tmp_path, 8123)
    secret = os.environ["CXFLOW_SURVEY_SECRET"]
    assert len(secret) >= 40 and os.environ["CXFLOW_SECRET_KEY"] == secret
    assert os.environ["CXFLOW_SURVEY_PUBLIC_URL"] == "http://127.0.0.1:8123"
    assert os.environ["CXFLOW_PUBLIC_URL"] == "http://127.0.0.1:8123"
    assert (tmp_path / "dev-secret").stat().st_mode & 0o777 == 0o600
    for name in names:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CXFLOW_SURVEY_SECRET", "from-the-operator")
    dev_links_environment(tmp_path, 8123)
    assert os.environ["CXFLOW_SURVEY_SECRET"] == "from-the-operator"
    assert os.environ["CXFLOW_SECRET_KEY"] == secret  # the same file, kept across restarts


def test_the_readme_walkthrough_puts_a_message_in_the_outbox_within_minutes(
    tmp_path: Path,
) -> None:
    """The shipped journeys, the hint's own trigger (with the properties their tests show to
    enter), then `cxflow runs skip` until abandoned-cart's reminder is in the outbox."""
    port, ui_port, api_port = free_port(), free_port(), free_port()
    state = tmp_path / "state"
    env = {**os.environ, "CXFLOW_CONSOLE_OUTBOX": str(state / "outbox.jsonl")}
    process = subprocess.Popen(
        [str(CXFLOW), "dev", "--journeys", str(JOURNEYS), "--data-dir", str(state),
         "--port", str(port), "--ui-port", str(ui_port), "--api-port", str(api_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    cli = {
        **env,
        "CXFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "CXFLOW_DATABASE_URL": f"sqlite:///{state / 'cxflow.db'}",
    }

    def cxflow(*args: str) -> str:
        done = subprocess.run(
            [str(CXFLOW), *args], capture_output=True, text=True, timeout=60, env=cli
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        banner = read_until(process, "Press Ctrl-C", timeout=90)
        track = re.search(
            r"-d '(\{\"userId\": \"alice\", \"event\": \"cart.updated\".*?\})'", banner
        )
        assert track is not None, banner
        assert json.loads(track.group(1))["properties"]["item_count"] > 0, banner
        assert "cxflow runs skip journey:abandoned-cart:alice" in banner
        key = (state / "dev-write-key").read_text().strip()
        api = f"http://127.0.0.1:{api_port}"
        for path, body in (
            (
                "identify",
                {"userId": "ada", "traits": {"email": "ada@example.com", "first_name": "Ada"}},
            ),
            ("track", {**json.loads(track.group(1)), "userId": "ada"}),
        ):
            answer = httpx.post(f"{api}/v1/{path}", auth=(key, ""), json=body, timeout=30)
            assert answer.status_code == 200, answer.text
        run = "journey:abandoned-cart:ada"
        deadline = time.monotonic() + 30
        while "at step pause: waiting for a timer" not in (shown := cxflow("runs", "show", run)):
            assert time.monotonic() < deadline, shown
            time.sleep(0.3)
        assert f"end the wait now: cxflow runs skip {run}" in shown
        # The hour's wait, then (at night) the quiet hours: each skipped in turn.
        for _ in range(3):
            skipped = cxflow("runs", "skip", run)
            if "at step wait-order" in skipped:
                break
        assert "at step wait-order: waiting for the event order.completed" in skipped
        [message] = wait_for_messages(state / "outbox.jsonl", 1)
        assert message["subject"] == "Ada, you left something in your cart"
        assert message["recipient"]["email"] == "ada@example.com"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
