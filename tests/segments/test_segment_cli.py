"""`cxflow deploy` with segments, and `cxflow segments list|show`, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.segments.refresh import REFRESH_SCHEDULE_ID
from tests.cli.test_runtime_commands import ASYNC, cxflow, engine_env  # noqa: F401

VIP = """\
segment: vip
name: VIP customers
description: Big spenders.
match: { sum: total, of: order.completed, within: 90d, greater_than: 500 }
"""
JOURNEY = """\
journey: vip-hello
name: VIP hello
trigger: { segment: vip }
steps:
  - id: hello
    send: { channel: email, body: "Hello VIP" }
"""


@ASYNC
async def test_deploy_list_and_show_segments(
    engine_env: dict[str, str],  # noqa: F811
    dev_server: WorkflowEnvironment,
    tmp_path: Path,
) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "segments").mkdir()
    (tmp_path / "journeys" / "vip-hello.yaml").write_text(JOURNEY.replace("vip }", "vips }"))
    (tmp_path / "segments" / "vip.yaml").write_text(VIP)
    refused = await cxflow(
        engine_env, "deploy", str(tmp_path / "journeys"), str(tmp_path / "segments")
    )
    assert refused.returncode == 1
    assert "no segment file declares the segment 'vips'" in refused.stderr
    assert "did you mean 'vip'?" in refused.stderr
    assert "deployed" not in refused.stdout

    (tmp_path / "journeys" / "vip-hello.yaml").write_text(JOURNEY)
    done = await cxflow(
        engine_env, "deploy", str(tmp_path / "journeys"), str(tmp_path / "segments")
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("deployed segment vip v")
    assert "deployed vip-hello v" in done.stdout
    assert f"scheduled {REFRESH_SCHEDULE_ID} every 0:15:00" in done.stdout
    again = await cxflow(engine_env, "segments", "deploy", str(tmp_path / "segments" / "vip.yaml"))
    assert again.stdout.startswith("unchanged segment vip v"), again.stderr

    sent = await cxflow(engine_env, "send-event", "--customer", "ada", "--event", "order.completed",
                        "--properties", '{"total": 600}')  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert "started journey:vip-hello:ada" in sent.stdout

    listed = await cxflow(engine_env, "segments", "list")
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if " vip " in f" {line} "]
    assert "│ 1 " in row and "order.completed" in row

    shown = await cxflow(engine_env, "segments", "show", "vip", "--customer", "ada")
    assert shown.returncode == 0, shown.stderr
    for expected in (
        "vip v",
        "VIP customers",
        "depends on events order.completed; time (refreshed on a schedule)",
        "  sum: total\n  of: order.completed\n  within: 90d\n  greater_than: 500\n",
        "members: 1 (ada)",
        "entered ada",
        "  sum total of order.completed in the last 90d: 600.0",
        "  matches now: yes; member: yes",
    ):
        assert expected in shown.stdout, shown.stdout
    unknown = await cxflow(engine_env, "segments", "show", "vipp")
    assert unknown.returncode == 2
    assert "no segment 'vipp' is deployed (deployed: vip)" in unknown.stderr
    await dev_server.client.get_schedule_handle(REFRESH_SCHEDULE_ID).delete()


@pytest.mark.parametrize("command", [["segments", "list"], ["segments", "show", "x"]])
def test_an_unreadable_store_is_one_line(command: list[str], tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.cli.conftest import CXFLOW

    env = {**os.environ, "CXFLOW_DATABASE_URL": "mysql://nowhere/db"}
    done = subprocess.run(
        [str(CXFLOW), *command], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2
    assert "the 'mysql' backend is not supported" in done.stderr and "Traceback" not in done.stderr
