"""`cxflow customers consent`, run as a user does: in a subprocess, on a store file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from engine.store import Store
from tests.cli.conftest import CXFLOW


def run(database: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CXFLOW), "customers", "consent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "CXFLOW_DATABASE_URL": f"sqlite:///{database}",
            "COLUMNS": "200",
            **env,
        },
    )


def test_consent_is_changed_and_shown_per_channel(tmp_path: Path) -> None:
    database = tmp_path / "cxflow.db"
    off = run(database, "ada", "--channel", "Email", "--off")
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() == "ada unsubscribed from email"
    again = run(database, "ada", "--channel", "email", "--off")
    assert again.stdout.strip() == "ada unsubscribed from email (already)"
    on = run(database, "ada", "--channel", "sms", "--on")
    assert on.stdout.strip() == "ada subscribed to sms"

    shown = run(database, "ada", CXFLOW_CONSENT_POLICY="sms=opt-in,webhook=none,*=opt-out")
    assert shown.returncode == 0, shown.stderr
    rows = {
        cells[0]: cells[1:4]
        for line in shown.stdout.splitlines()
        if len(cells := [c.strip() for c in line.split("│")[1:-1]]) >= 4
    }
    assert rows["email"] == ["opt-out", "no", "cli"]
    assert rows["sms"] == ["opt-in", "yes", "cli"]
    assert rows["social"] == ["opt-out", "yes", ""]
    assert rows["webhook"] == ["none", "yes", ""]

    store = Store.open(f"sqlite:///{database}")
    try:
        assert [(c.channel, c.subscribed, c.source) for c in store.consents("ada")] == [
            ("email", False, "cli"),
            ("sms", True, "cli"),
        ]
    finally:
        store.dispose()


def test_all_means_every_channel(tmp_path: Path) -> None:
    database = tmp_path / "cxflow.db"
    assert run(database, "bo", "--channel", "all", "--off").stdout.strip() == (
        "bo unsubscribed from every channel"
    )
    shown = run(database, "bo")
    assert "cli (every channel)" in shown.stdout


def test_mistakes_get_a_usage_message(tmp_path: Path) -> None:
    database = tmp_path / "cxflow.db"
    no_channel = run(database, "ada", "--off")
    assert no_channel.returncode == 2
    assert "say which channel: --channel email" in no_channel.stderr
    no_change = run(database, "ada", "--channel", "email")
    assert no_change.returncode == 2 and "add --on or --off" in no_change.stderr
    bad_policy = run(database, "ada", CXFLOW_CONSENT_POLICY="sms=maybe")
    assert bad_policy.returncode == 2
    assert "CXFLOW_CONSENT_POLICY" in bad_policy.stderr and "Traceback" not in bad_policy.stderr
    assert not database.exists() or Store.open(f"sqlite:///{database}").consents("ada") == []


def test_a_channel_no_connector_provides_is_refused_with_the_nearest_name(
    tmp_path: Path,
) -> None:
    database = tmp_path / "cxflow.db"
    typo = run(database, "ada", "--channel", "emial", "--off")
    assert typo.returncode == 2
    assert "no installed connector has a channel 'emial'" in typo.stderr
    assert "did you mean 'email'?" in typo.stderr
    assert "Traceback" not in typo.stderr
    shown = run(database, "ada")
    assert shown.returncode == 0
    [email] = [line for line in shown.stdout.splitlines() if " email " in line]
    assert "yes" in email  # still subscribed: nothing was changed
