"""A local Postmark: the ``POST /email`` endpoint of Postmark's Email API.

It answers the way Postmark documents it (https://postmarkapp.com/developer/api/email-api,
.../api/overview#error-codes):

* ``X-Postmark-Server-Token`` must be the server's token: otherwise HTTP 401 with
  ``ErrorCode`` 10;
* the body is JSON with ``From``, ``To``, ``Subject``, ``TextBody`` and/or
  ``HtmlBody``, ``ReplyTo``, ``Headers`` (``[{"Name", "Value"}]``), ``Metadata``,
  ``MessageStream``; a missing or wrong field is HTTP 422 with ``ErrorCode`` 300
  (invalid email request), a From outside the confirmed sender domains 400, an
  inactive (bounced) recipient 406, an unknown message stream 1235;
* a sent message is HTTP 200 ``{"To", "SubmittedAt", "MessageID", "ErrorCode": 0,
  "Message": "OK"}``.

Like Postmark, it has no idempotency key: a request sent twice is two messages.
The connector's ``Message-ID`` header (made from the step's idempotency key) is
kept with each message, so tests can see a repeat for what it is.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from connectors.sandbox.base import JsonSandbox, Reply, Request

STREAMS = ("outbound", "broadcast")


@dataclass(frozen=True)
class PostmarkMessage:
    """One accepted message, as Postmark would deliver it."""

    message_id: str
    sender: str
    to: str
    subject: str
    text: str | None
    html: str | None
    reply_to: str | None
    headers: dict[str, str]
    metadata: dict[str, str]
    stream: str


def error(code: int, message: str, status: int = 422) -> Reply:
    return Reply(status, {"ErrorCode": code, "Message": message})


class PostmarkSandbox(JsonSandbox):
    """Set ``CXFLOW_POSTMARK_API_URL`` to :attr:`url` and the token to :attr:`server_token`."""

    name = "postmark"

    def __init__(
        self,
        *,
        log: Path | None = None,
        server_token: str | None = None,
        sender_domains: tuple[str, ...] = ("shop.example",),
    ) -> None:
        super().__init__(log=log)
        self.server_token = server_token or str(uuid.UUID(bytes=secrets.token_bytes(16)))
        self.sender_domains = sender_domains
        self.inactive: set[str] = set()
        self.messages: list[PostmarkMessage] = []

    def fail_next(self, status: int, code: int, message: str, *, times: int = 1) -> None:
        """Answer the next ``times`` requests with Postmark's error body."""
        self.force(error(code, message, status), times=times)

    def route(self, request: Request) -> Reply:
        if request.method != "POST" or request.path.rstrip("/") != "/email":
            return Reply(404, {"ErrorCode": 404, "Message": "Not found"})
        token = request.header("x-postmark-server-token")
        if not token:
            return error(
                10,
                "No Account or Server API tokens were supplied in the HTTP headers. Please add "
                "a header for either X-Postmark-Server-Token or X-Postmark-Account-Token.",
                401,
            )
        if token != self.server_token:
            return error(10, "Request does not contain a valid Server token.", 401)
        if "application/json" not in (request.header("content-type") or ""):
            return error(409, "JSON required: send Content-Type: application/json.")
        try:
            body = json.loads(request.body)
        except ValueError:
            return error(402, "Received invalid JSON input.")
        if not isinstance(body, dict):
            return error(300, "Invalid email request: the body must be a JSON object.")
        return self._send(body)

    def _send(self, body: dict[str, Any]) -> Reply:
        sender, to = str(body.get("From") or ""), str(body.get("To") or "")
        from_address = parseaddr(sender)[1]
        if "@" not in from_address:
            return error(300, f"Invalid 'From' address: '{sender}'.")
        if not to:
            return error(300, "Zero recipients specified")
        to_address = parseaddr(to)[1]
        if "@" not in to_address:
            return error(300, f"Error parsing 'To': Illegal email address '{to}'.")
        if not body.get("TextBody") and not body.get("HtmlBody"):
            return error(300, "Provide either email TextBody or HtmlBody or both.")
        if from_address.rpartition("@")[2].lower() not in self.sender_domains:
            return error(
                400,
                f"The 'From' address you supplied ({sender}) is not a Sender Signature on your "
                "account. Please add and confirm this address in order to be able to use it "
                "in the 'From' field of your messages.",
            )
        stream = str(body.get("MessageStream") or "outbound")
        if stream not in STREAMS:
            return error(1235, f"The message stream for the provided 'ID' was not found: {stream}")
        if to_address.lower() in self.inactive:
            return error(
                406,
                "You tried to send to recipient(s) that have been marked as inactive. Found "
                "inactive addresses: "
                f"{to_address}. Inactive recipients are ones that have generated a hard bounce, "
                "a spam complaint, or a manual suppression.",
            )
        headers = {
            str(item.get("Name")): str(item.get("Value"))
            for item in body.get("Headers") or []
            if isinstance(item, dict)
        }
        metadata = body.get("Metadata") or {}
        message = PostmarkMessage(
            message_id=str(uuid.uuid4()),
            sender=sender,
            to=to,
            subject=str(body.get("Subject") or ""),
            text=body.get("TextBody"),
            html=body.get("HtmlBody"),
            reply_to=body.get("ReplyTo"),
            headers=headers,
            metadata={str(k): str(v) for k, v in metadata.items()},
            stream=stream,
        )
        self.messages.append(message)
        return Reply(
            200,
            {
                "To": to,
                "SubmittedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "MessageID": message.message_id,
                "ErrorCode": 0,
                "Message": "OK",
            },
        )
