"""A Python client for systems that emit customer events to the cxflow event API.

    with CxflowClient("https://cxflow.example.com", write_key) as cx:
        cx.identify("u-42", {"email": "ada@example.com", "timezone": "Europe/Paris"})
        cx.track("u-42", "cart.updated", {"total": 30})

Calls are queued and sent in batches (``batch_size`` calls, or every
``flush_interval`` seconds from a background thread); ``flush()`` sends now and
``close()`` (or leaving the ``with`` block) sends what is left. Each call gets its
messageId here, when it is made, so a batch sent again after a timeout or a 5xx
is deduplicated by the API: retries (exponential backoff with jitter, on 5xx,
429 and transport errors) never record an event twice.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx

from dsl.errors import CxflowError
from engine.api.models import MAX_BATCH_BYTES, MAX_BATCH_CALLS, MAX_CALL_BYTES

log = logging.getLogger("cxflow.client")

_BATCH_OVERHEAD = 64  # {"batch":[...]} and separators, generously


class CxflowClientError(CxflowError):
    """Calls could not be delivered; ``status`` is the HTTP status when there was one.

    ``code`` is the API's error code when it answered (``invalid_request``,
    ``unauthorized``, ...), else ``delivery_failed``.
    """

    code = "delivery_failed"

    def __init__(self, message: str, status: int | None = None, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status


class CxflowClient:
    """Queues track, identify, page, screen, group and alias calls and delivers them in
    batches; thread-safe."""

    def __init__(
        self,
        url: str,
        write_key: str,
        *,
        batch_size: int = MAX_BATCH_CALLS,
        flush_interval: float | None = 1.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        max_queue: int = 10_000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``flush_interval=None`` sends only on ``flush()``, ``close()`` or a full batch."""
        if not 1 <= batch_size <= MAX_BATCH_CALLS:
            raise ValueError(f"batch_size must be 1 to {MAX_BATCH_CALLS}, got {batch_size}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_queue = max_queue
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            auth=(write_key, ""),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "cxflow-python"},
        )
        self._queue: deque[tuple[dict[str, Any], int]] = deque()
        self._queue_lock = threading.Condition()
        self._send_lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        if flush_interval is not None:
            self._thread = threading.Thread(
                target=self._run, args=(flush_interval,), name="cxflow-client", daemon=True
            )
            self._thread.start()

    # --- calls ------------------------------------------------------------------------------

    def track(
        self,
        user_id: str,
        event: str,
        properties: dict[str, Any] | None = None,
        message_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Queue a track call; returns its messageId."""
        return self._enqueue(
            {"type": "track", "event": event, "properties": properties or {}},
            user_id,
            message_id,
            timestamp,
        )

    def identify(
        self,
        user_id: str,
        traits: dict[str, Any] | None = None,
        message_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Queue an identify call (traits merge into the profile); returns its messageId."""
        return self._enqueue(
            {"type": "identify", "traits": traits or {}}, user_id, message_id, timestamp
        )

    def page(
        self,
        user_id: str,
        name: str | None = None,
        properties: dict[str, Any] | None = None,
        message_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Queue a page call (stored as ``page.viewed``); returns its messageId."""
        return self._view("page", user_id, name, properties, message_id, timestamp)

    def screen(
        self,
        user_id: str,
        name: str | None = None,
        properties: dict[str, Any] | None = None,
        message_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Queue a screen call (stored as ``screen.viewed``); returns its messageId."""
        return self._view("screen", user_id, name, properties, message_id, timestamp)

    def _view(
        self,
        kind: str,
        user_id: str,
        name: str | None,
        properties: dict[str, Any] | None,
        message_id: str | None,
        timestamp: datetime | None,
    ) -> str:
        call: dict[str, Any] = {"type": kind, "properties": properties or {}}
        if name is not None:
            call["name"] = name
        return self._enqueue(call, user_id, message_id, timestamp)

    def group(
        self,
        user_id: str,
        group_id: str,
        traits: dict[str, Any] | None = None,
        message_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Queue a group call (the customer belongs to the group); returns its messageId."""
        call = {"type": "group", "groupId": group_id, "traits": traits or {}}
        return self._enqueue(call, user_id, message_id, timestamp)

    def alias(
        self,
        previous_id: str,
        user_id: str,
        message_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Queue an alias call: ``previous_id`` is ``user_id`` from now on."""
        call = {"type": "alias", "previousId": previous_id}
        return self._enqueue(call, user_id, message_id, timestamp)

    def _enqueue(
        self,
        call: dict[str, Any],
        user_id: str,
        message_id: str | None,
        timestamp: datetime | None,
    ) -> str:
        when = timestamp or datetime.now(UTC)
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(f"timestamp must be timezone-aware, got {when.isoformat()}")
        message_id = message_id or str(uuid.uuid4())
        call.update(userId=user_id, messageId=message_id, timestamp=when.isoformat())
        try:
            size = len(json.dumps(call, separators=(",", ":"), allow_nan=False).encode())
        except (TypeError, ValueError) as error:
            raise ValueError(f"the call is not JSON-serializable: {error}") from None
        if size > MAX_CALL_BYTES:
            raise ValueError(f"the call is {size} bytes; the API accepts at most {MAX_CALL_BYTES}")
        with self._queue_lock:
            if self._closed:
                raise CxflowClientError("the client is closed")
            if len(self._queue) >= self.max_queue:
                dropped, _ = self._queue.popleft()
                log.warning("queue full: dropped call %s", dropped["messageId"])
            self._queue.append((call, size))
            if len(self._queue) >= self.batch_size:
                self._queue_lock.notify()
        return message_id

    # --- delivery ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Calls queued and not yet delivered."""
        with self._queue_lock:
            return len(self._queue)

    def flush(self) -> None:
        """Send every queued call now; raises CxflowClientError when a batch failed.

        A batch the API rejected (a 4xx) is dropped; one that still failed after the
        retries stays queued, first in line for the next flush.
        """
        with self._send_lock:
            while True:
                batch = self._take()
                if not batch:
                    return
                try:
                    self._send(batch)
                except CxflowClientError as error:
                    if error.status is None or error.status >= 500 or error.status == 429:
                        with self._queue_lock:
                            self._queue.extendleft(reversed(batch))
                    raise

    def _take(self) -> list[tuple[dict[str, Any], int]]:
        batch: list[tuple[dict[str, Any], int]] = []
        size = _BATCH_OVERHEAD
        with self._queue_lock:
            while self._queue and len(batch) < self.batch_size:
                _, call_size = self._queue[0]
                if batch and size + call_size + 1 > MAX_BATCH_BYTES:
                    break
                batch.append(self._queue.popleft())
                size += call_size + 1
        return batch

    def _send(self, batch: list[tuple[dict[str, Any], int]]) -> None:
        body: dict[str, Any] = {"batch": [call for call, _ in batch]}
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            # sentAt at each attempt: the API corrects the clock of this machine with it.
            body["sentAt"] = datetime.now(UTC).isoformat()
            try:
                response = self._http.post("/v1/batch", json=body)
            except httpx.TransportError as error:
                if last:
                    raise CxflowClientError(
                        f"cannot reach the cxflow API ({type(error).__name__}: {error}); "
                        f"gave up after {attempt + 1} attempts"
                    ) from None
                self._sleep(attempt, None)
                continue
            if response.is_success:
                return
            status = response.status_code
            if status == 429 or status >= 500:
                if last:
                    raise CxflowClientError(
                        f"the cxflow API answered {status} {_error_text(response)}; gave up "
                        f"after {attempt + 1} attempts",
                        status,
                    )
                self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            raise CxflowClientError(
                f"the cxflow API refused {len(batch)} call(s): {status} {_error_text(response)}",
                status,
                code=_error_code(response),
            )

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = min(self.max_backoff, self.backoff * 2**attempt)
        delay *= 0.5 + random.random() / 2  # jitter: spread retries of many clients
        if retry_after is not None and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), self.max_backoff))
        time.sleep(delay)

    def _run(self, interval: float) -> None:
        failed = False
        while True:
            with self._queue_lock:
                if not self._closed and (failed or len(self._queue) < self.batch_size):
                    self._queue_lock.wait(interval)
                if self._closed:
                    return
            try:
                self.flush()
                failed = False
            except CxflowClientError as error:
                log.warning("cxflow: %s", error)
                failed = True  # wait a full interval before trying again

    # --- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the background thread, send what is queued, close the connections."""
        with self._queue_lock:
            if self._closed:
                return
            self._closed = True
            self._queue_lock.notify_all()
        if self._thread is not None:
            self._thread.join()
        try:
            self.flush()
        finally:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        fields = body.get("fields") or []
        details = "; ".join(
            f"{f.get('path')}: {f.get('message')}" for f in fields if isinstance(f, dict)
        )
        return error + (f" ({details})" if details else "")
    return response.text[:200]


def _error_code(response: httpx.Response) -> str | None:
    """The API's machine-readable ``code`` of a refusal, when it sent one."""
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None
