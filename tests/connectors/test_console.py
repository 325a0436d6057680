"""The console connector: an outbox file written once per idempotency key, a line on stderr."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors import PermanentConnectorError, Recipient
from connectors.builtin.console import ConsoleConnector
from connectors.builtin.smtp import SmtpConnector
from tests.connectors.support import send_request

pytestmark = pytest.mark.asyncio


def read_outbox(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def console(outbox: Path, stream: io.StringIO | None = None) -> ConsoleConnector:
    return ConsoleConnector(environ={"CXFLOW_CONSOLE_OUTBOX": str(outbox)}, stream=stream)


async def test_a_message_is_written_to_the_outbox_and_stderr(tmp_path: Path) -> None:
    outbox = tmp_path / "deep" / "outbox.jsonl"
    stream = io.StringIO()
    result = await console(outbox, stream).send(send_request())
    assert result.status == "sent"
    assert result.provider_message_id is not None
    assert result.provider_message_id.startswith("console-")
    assert result.detail == {"outbox": str(outbox), "duplicate": False}
    [line] = read_outbox(outbox)
    assert line["id"] == result.provider_message_id
    assert line["idempotency_key"] == "run-1/hello"
    assert line["channel"] == "email"
    assert line["recipient"] == {
        "customer_id": "c-1",
        "email": "jane@example.com",
        "phone": "+15550100",
        "handle": None,
        "traits": {},
    }
    assert line["body"] == "Hi Jane,\nthanks for signing up."
    assert isinstance(line["at"], str) and line["at"].endswith("+00:00")
    # The line on stderr names the customer and the step, never the text or the address.
    assert stream.getvalue() == f"[console] email to c-1 (welcome/hello): in {outbox}\n"


async def test_a_repeated_key_is_written_once(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    stream = io.StringIO()
    connector = console(outbox, stream)
    first = await connector.send(send_request())
    again = await connector.send(send_request())
    other = await connector.send(send_request(key="run-1/next"))
    assert first.provider_message_id == again.provider_message_id != other.provider_message_id
    assert again.detail["duplicate"] is True
    assert [m["idempotency_key"] for m in read_outbox(outbox)] == ["run-1/hello", "run-1/next"]
    assert len(stream.getvalue().splitlines()) == 2


async def test_a_new_process_finds_the_keys_already_written(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    await console(outbox, io.StringIO()).send(send_request())
    # A worker restarted (or a second worker) with its own, empty index.
    restarted = console(outbox, io.StringIO())
    assert (await restarted.send(send_request())).detail["duplicate"] is True
    # And one instance notices lines another wrote since it last looked.
    first, second = console(outbox, io.StringIO()), console(outbox, io.StringIO())
    await first.send(send_request(key="k-2"))
    await second.send(send_request(key="k-3"))
    assert (await first.send(send_request(key="k-3"))).detail["duplicate"] is True
    assert [m["idempotency_key"] for m in read_outbox(outbox)] == ["run-1/hello", "k-2", "k-3"]


async def test_concurrent_sends_of_one_key_write_once(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    connectors = [console(outbox, io.StringIO()) for _ in range(3)]
    results = await asyncio.gather(*(c.send(send_request()) for c in connectors for _ in range(4)))
    assert sum(not r.detail["duplicate"] for r in results) == 1
    assert len(read_outbox(outbox)) == 1


SEND_FROM_ANOTHER_PROCESS = """
import asyncio, io, sys
from connectors.builtin.console import ConsoleConnector
from connectors.builtin.smtp import SmtpConnector
from tests.connectors.support import send_request
connector = ConsoleConnector(environ={"CXFLOW_CONSOLE_OUTBOX": sys.argv[1]}, stream=io.StringIO())
for _ in range(5):
    asyncio.run(connector.send(send_request(key=sys.argv[2])))
"""


async def test_processes_sharing_an_outbox_write_a_key_once(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    repo = Path(__file__).resolve().parents[2]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", SEND_FROM_ANOTHER_PROCESS, str(outbox), f"k-{i % 2}", cwd=repo
        )
        for i in range(4)
    ]
    assert [await asyncio.wait_for(w.wait(), timeout=60) for w in workers] == [0, 0, 0, 0]
    assert sorted(m["idempotency_key"] for m in read_outbox(outbox)) == ["k-0", "k-1"]


async def test_a_cleared_outbox_starts_again(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    connector = console(outbox, io.StringIO())
    await connector.send(send_request())
    outbox.unlink()
    assert (await connector.send(send_request())).detail["duplicate"] is False
    outbox.write_text("")
    assert (await connector.send(send_request())).detail["duplicate"] is False
    assert len(read_outbox(outbox)) == 1


async def test_a_damaged_line_is_skipped(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    outbox.write_text(
        'not json\n[1, 2]\n{"idempotency_key": "old"}\n{"idempotency_key": "cut', encoding="utf-8"
    )
    connector = console(outbox, io.StringIO())
    assert (await connector.send(send_request(key="old"))).detail["duplicate"] is True
    assert (await connector.send(send_request())).detail["duplicate"] is False
    lines = outbox.read_text(encoding="utf-8").splitlines()
    assert lines[3] == '{"idempotency_key": "cut'  # the cut line stays on a line of its own
    assert json.loads(lines[4])["idempotency_key"] == "run-1/hello"


async def test_the_default_outbox_is_in_dot_cxflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CXFLOW_CONSOLE_OUTBOX", raising=False)
    connector = ConsoleConnector()
    assert connector.outbox == Path(".cxflow/outbox.jsonl")
    request = send_request(
        channel="sms",
        subject=None,
        body="Your code is 123456. It expires in 10 minutes, so please use it soon. Thanks for storeping!",
    )
    await connector.send(request)
    assert len(read_outbox(tmp_path / ".cxflow" / "outbox.jsonl")) == 1
    err = capsys.readouterr().err
    assert err == "[console] sms to c-1 (welcome/hello): in .cxflow/outbox.jsonl\n"
    assert "123456" not in err and "+15550100" not in err


async def test_recipients_without_an_address_show_their_id(tmp_path: Path) -> None:
    stream = io.StringIO()
    request = send_request(channel="push", recipient=Recipient(customer_id="c-9"))
    await console(tmp_path / "o.jsonl", stream).send(request)
    assert stream.getvalue().startswith("[console] push to c-9 (welcome/hello)")


async def test_an_unwritable_outbox_is_a_permanent_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PermanentConnectorError) as raised:
        await console(blocker / "outbox.jsonl").send(send_request())
    assert "set CXFLOW_CONSOLE_OUTBOX to a writable file" in str(raised.value)


async def test_console_is_the_fallback_for_every_message_channel() -> None:
    connector = ConsoleConnector()
    assert connector.fallback
    assert set(connector.channels) == {"email", "sms", "push", "social", "console"}
    assert connector.actions == {}
    assert connector.missing_settings() == []


@pytest.mark.parametrize(
    ("channel", "recipient", "reason"),
    [
        ("email", Recipient(customer_id="c-9", phone="+15550100"), "no_email_address"),
        ("email", Recipient(customer_id="c-9", email="  "), "no_email_address"),
        ("sms", Recipient(customer_id="c-9", email="jane@example.com"), "no_phone_number"),
    ],
)
async def test_a_message_without_its_address_is_skipped_like_smtp_does(
    tmp_path: Path, channel: str, recipient: Recipient, reason: str
) -> None:
    outbox = tmp_path / "outbox.jsonl"
    stream = io.StringIO()
    request = send_request(channel=channel, recipient=recipient)
    result = await console(outbox, stream).send(request)
    assert (result.status, result.detail) == ("skipped", {"reason": reason})
    assert result.provider_message_id is None
    assert not outbox.exists() and stream.getvalue() == ""  # nothing "delivered"


async def test_the_skip_reason_is_the_one_smtp_gives(tmp_path: Path) -> None:
    request = send_request(recipient=Recipient(customer_id="c-9"))
    smtp = SmtpConnector(environ={"CXFLOW_SMTP_HOST": "mail.invalid", "CXFLOW_SMTP_FROM": "a@b.c"})
    assert await console(tmp_path / "o.jsonl").send(request) == await smtp.send(request)


async def test_channels_without_an_address_of_their_own_still_reach_the_outbox(
    tmp_path: Path,
) -> None:
    outbox = tmp_path / "outbox.jsonl"
    for channel in ("push", "social", "console"):
        request = send_request(
            key=f"k-{channel}", channel=channel, recipient=Recipient(customer_id="c-9")
        )
        assert (await console(outbox).send(request)).status == "sent"
    assert [line["channel"] for line in read_outbox(outbox)] == ["push", "social", "console"]


async def test_forgetting_a_customer_removes_their_messages_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    outbox = tmp_path / "outbox.jsonl"
    connector = console(outbox, io.StringIO())
    ada = Recipient(customer_id="ada", email="ada@example.com")
    bob = Recipient(customer_id="bob", email="bob@example.com")
    await connector.send(send_request("run-a/1", recipient=ada, body="Ada's secret offer"))
    await connector.send(send_request("run-b/1", recipient=bob))
    await connector.send(send_request("run-a/2", recipient=ada))

    assert await connector.forget("ada") == 2
    assert [line["recipient"]["customer_id"] for line in read_outbox(outbox)] == ["bob"]
    assert "Ada" not in outbox.read_text(encoding="utf-8")
    assert await connector.forget("ada") == 0  # safe to run again
    # The outbox still works, and still writes a key once.
    again = await connector.send(send_request("run-b/1", recipient=bob))
    assert again.detail["duplicate"] is True
    await connector.send(send_request("run-b/2", recipient=bob))
    assert len(read_outbox(outbox)) == 2
