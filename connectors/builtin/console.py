"""The console connector: `cxflow dev` delivers every message to a local outbox.

Nothing leaves the machine. Each message becomes one JSON line in the outbox
file (for tests and tools to read) and one short line on stderr for the person
watching, which names the customer and the step but holds neither the message nor
the address (logs outlive an erasure; the outbox forgets the customer). Like a real
provider it is idempotent: a retried send with the same
key is found in the outbox and never written twice, even by another process.

Like the real connectors, it does not "deliver" what could not be delivered: an
email to a customer without an ``email`` trait is *skipped* with reason
``no_email_address`` (as ``smtp`` and ``postmark`` skip it), an SMS to one without a
``phone`` with ``no_phone_number``; nothing is written to the outbox for them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TextIO

from connectors.base import Connector
from connectors.errors import PermanentConnectorError
from connectors.models import SendRequest, SendResult, Setting

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per outbox
    fcntl = None  # type: ignore[assignment]

DEFAULT_OUTBOX = ".cxflow/outbox.jsonl"
SKIP_WITHOUT_ADDRESS = {"email": ("email", "no_email_address"), "sms": ("phone", "no_phone_number")}
"""channel: (the recipient's field it needs, the skip reason without it)."""


@dataclass
class _OutboxIndex:
    """The keys found in an outbox so far, and how far it has been read."""

    file_id: tuple[int, int] = (0, 0)
    offset: int = 0
    keys: set[str] = field(default_factory=set)


class ConsoleConnector(Connector):
    """Every channel, delivered to a file: the default when nothing else provides one."""

    name = "console"
    description = "Writes messages to a local outbox file and stderr instead of sending them."
    channels = ("email", "sms", "push", "social", "console")
    fallback = True
    settings = (
        Setting(
            key="OUTBOX",
            description="The JSON Lines file messages are appended to",
            default=DEFAULT_OUTBOX,
        ),
        Setting(
            key="ECHO",
            description="Also print a line per message to stderr: true (default) or false",
            default="true",
        ),
    )

    def __init__(
        self, *, environ: Mapping[str, str] | None = None, stream: TextIO | None = None
    ) -> None:
        super().__init__(environ=environ)
        self._stream = stream
        self._indexes: dict[Path, _OutboxIndex] = {}
        self._lock = threading.Lock()

    @property
    def outbox(self) -> Path:
        return Path(self.setting("OUTBOX") or DEFAULT_OUTBOX)

    async def send(self, request: SendRequest) -> SendResult:
        needed = SKIP_WITHOUT_ADDRESS.get(request.channel)
        if needed is not None:
            field_name, reason = needed
            if not (getattr(request.recipient, field_name) or "").strip():
                return SendResult(status="skipped", detail={"reason": reason})
        outbox = self.outbox
        message_id = "console-" + hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:20]
        try:
            written = await asyncio.to_thread(self._append_once, outbox, message_id, request)
        except OSError as error:
            raise PermanentConnectorError(
                f"console: cannot write the outbox {outbox} ({error.strerror or error}): "
                f"set {self.config.variable('OUTBOX')} to a writable file",
                connector=self.name,
            ) from error
        if written and (self.setting("ECHO") or "true").strip().lower() != "false":
            stream = self._stream or sys.stderr
            stream.write(_summary(request, outbox) + "\n")
            stream.flush()
        return SendResult(
            status="sent",
            provider_message_id=message_id,
            detail={"outbox": str(outbox), "duplicate": not written},
        )

    def _append_once(self, outbox: Path, message_id: str, request: SendRequest) -> bool:
        """Append the message unless its key is already in the outbox; True if appended."""
        record = {
            "id": message_id,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            **request.model_dump(mode="json"),
        }
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            outbox.parent.mkdir(parents=True, exist_ok=True)
            with outbox.open("a+b") as file:
                if fcntl is not None:
                    fcntl.flock(file.fileno(), fcntl.LOCK_EX)
                try:
                    index = self._catch_up(outbox, file)
                    if request.idempotency_key in index.keys:
                        return False
                    end = file.seek(0, os.SEEK_END)
                    if end > 0:
                        file.seek(end - 1)
                        if file.read(1) != b"\n":  # a line cut short by a crash
                            line = b"\n" + line
                    file.write(line)
                    file.flush()
                    index.keys.add(request.idempotency_key)
                    index.offset = end + len(line)
                    return True
                finally:
                    if fcntl is not None:
                        fcntl.flock(file.fileno(), fcntl.LOCK_UN)

    async def forget(self, customer_id: str) -> int:
        """Rewrite the outbox without the customer's messages (``cxflow customers erase``)."""
        outbox = self.outbox
        if not outbox.exists():
            return 0
        return await asyncio.to_thread(self._rewrite_without, outbox, customer_id)

    def _rewrite_without(self, outbox: Path, customer_id: str) -> int:
        """Drop the customer's lines, under the outbox's lock; the file is replaced whole."""
        with self._lock, outbox.open("r+b") as file:
            if fcntl is not None:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            try:
                kept: list[bytes] = []
                removed = 0
                for raw in file.read().splitlines(keepends=True):
                    try:
                        recipient = json.loads(raw).get("recipient") or {}
                    except (ValueError, AttributeError):
                        recipient = {}
                    if isinstance(recipient, dict) and recipient.get("customer_id") == customer_id:
                        removed += 1
                    else:
                        kept.append(raw)
                if removed:
                    file.seek(0)
                    file.write(b"".join(kept))
                    file.truncate()
                    file.flush()
                    os.fsync(file.fileno())
                    self._indexes.pop(outbox.resolve(), None)  # offsets changed: read again
                return removed
            finally:
                if fcntl is not None:
                    fcntl.flock(file.fileno(), fcntl.LOCK_UN)

    def _catch_up(self, outbox: Path, file: IO[bytes]) -> _OutboxIndex:
        """Read the lines written since last time (by anyone) into the index of keys."""
        stat = os.fstat(file.fileno())
        file_id = (stat.st_dev, stat.st_ino)
        index = self._indexes.get(outbox.resolve())
        if index is None or index.file_id != file_id or stat.st_size < index.offset:
            index = _OutboxIndex(file_id=file_id)  # new, replaced or truncated outbox
            self._indexes[outbox.resolve()] = index
        file.seek(index.offset)
        data = file.read()
        complete = data[: data.rfind(b"\n") + 1]
        index.offset += len(complete)
        for raw in complete.splitlines():
            try:
                key = json.loads(raw).get("idempotency_key")
            except (ValueError, AttributeError):
                continue  # not a message line: skip it rather than stop delivering
            if isinstance(key, str):
                index.keys.add(key)
        return index


def _summary(request: SendRequest, outbox: Path) -> str:
    """The line for the person watching: who and where, never the text or the address.

    Logs outlive an erasure (the outbox does not: :meth:`ConsoleConnector.forget`), so
    the message itself is read in the outbox.
    """
    return (
        f"[console] {request.channel} to {request.recipient.customer_id} "
        f"({request.journey_id}/{request.step_id}): in {outbox}"
    )
