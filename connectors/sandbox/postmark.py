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

**Webhooks.** Given a webhook (:meth:`PostmarkSandbox.webhook`: a URL and its HTTP
Basic credentials, as Postmark's ``HttpAuth``), it reports what happens to a message
the way Postmark does (https://postmarkapp.com/developer/webhooks/webhooks-overview):
one JSON record per POST, ``RecordType`` ``Delivery``, ``Bounce``, ``SpamComplaint``,
``Open`` or ``Click``, with the message's ``MessageID``, ``MessageStream``, ``Tag``
and the ``Metadata`` it was sent with. :meth:`deliver`, :meth:`bounce`,
:meth:`complain`, :meth:`open` and :meth:`click` post them; a hard bounce or a
complaint makes the address inactive, so a later send to it is refused with 406, as
Postmark does.
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

import httpx

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
    tag: str = ""


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
        self.server_id = 23
        self._webhook: tuple[str, str, str] | None = None
        self._record_ids = 0

    # --- webhooks ------------------------------------------------------------------------

    def webhook(self, url: str, username: str, password: str) -> None:
        """Report to ``url`` with these HTTP Basic credentials (a webhook's ``HttpAuth``)."""
        self._webhook = (url, username, password)

    def deliver(self, message: PostmarkMessage) -> httpx.Response:
        """The receiving server accepted the message."""
        return self._report(
            message,
            {
                "RecordType": "Delivery",
                "ServerID": self.server_id,
                "Recipient": parseaddr(message.to)[1],
                "DeliveredAt": _now(),
                "Details": "Test delivery webhook details",
            },
        )

    def bounce(
        self, message: PostmarkMessage, bounce_type: str = "HardBounce", type_code: int = 1
    ) -> httpx.Response:
        """The receiving server refused it; a hard bounce makes the address inactive."""
        inactive = bounce_type == "HardBounce"
        if inactive:
            self.inactive.add(parseaddr(message.to)[1].lower())
        return self._report(
            message, self._bounce_record("Bounce", message, bounce_type, type_code, inactive)
        )

    def complain(self, message: PostmarkMessage) -> httpx.Response:
        """The recipient marked it as spam; the address becomes inactive."""
        self.inactive.add(parseaddr(message.to)[1].lower())
        return self._report(
            message, self._bounce_record("SpamComplaint", message, "SpamComplaint", 512, True)
        )

    def open(self, message: PostmarkMessage, *, first: bool = True) -> httpx.Response:
        """The recipient opened it (Postmark's tracking pixel)."""
        return self._report(
            message,
            {
                "RecordType": "Open",
                "FirstOpen": first,
                "Recipient": parseaddr(message.to)[1],
                "ReceivedAt": _now(),
                "Platform": "WebMail",
                "ReadSeconds": 5,
                "UserAgent": "Mozilla/5.0",
                "OS": {"Name": "Linux", "Family": "Linux", "Company": ""},
                "Client": {"Name": "Firefox", "Family": "Firefox", "Company": "Mozilla"},
                "Geo": {},
            },
        )

    def click(self, message: PostmarkMessage, link: str) -> httpx.Response:
        """The recipient clicked a tracked link (Postmark's link tracking)."""
        return self._report(
            message,
            {
                "RecordType": "Click",
                "Recipient": parseaddr(message.to)[1],
                "ReceivedAt": _now(),
                "Platform": "Desktop",
                "ClickLocation": "HTML",
                "OriginalLink": link,
                "UserAgent": "Mozilla/5.0",
                "OS": {"Name": "Linux", "Family": "Linux", "Company": ""},
                "Client": {"Name": "Firefox", "Family": "Firefox", "Company": "Mozilla"},
                "Geo": {},
            },
        )

    def _bounce_record(
        self,
        record_type: str,
        message: PostmarkMessage,
        bounce_type: str,
        type_code: int,
        inactive: bool,
    ) -> dict[str, Any]:
        self._record_ids += 1
        return {
            "RecordType": record_type,
            "ID": 4_000_000_000 + self._record_ids,
            "Type": bounce_type,
            "TypeCode": type_code,
            "Name": bounce_type,
            "ServerID": self.server_id,
            "Description": "The server was unable to deliver your message.",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
            "Email": parseaddr(message.to)[1],
            "From": parseaddr(message.sender)[1],
            "BouncedAt": _now(),
            "DumpAvailable": False,
            "Inactive": inactive,
            "CanActivate": True,
            "Subject": message.subject,
        }

    def _report(self, message: PostmarkMessage, record: dict[str, Any]) -> httpx.Response:
        if self._webhook is None:
            raise RuntimeError("no webhook: call PostmarkSandbox.webhook(url, user, password)")
        url, username, password = self._webhook
        body = {
            **record,
            "MessageID": message.message_id,
            "MessageStream": message.stream,
            "Tag": message.tag,
            "Metadata": dict(message.metadata),
        }
        return httpx.post(url, json=body, auth=(username, password), timeout=10)

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
            tag=str(body.get("Tag") or ""),
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


def _now() -> str:
    """A time as Postmark writes them: ISO 8601 with seven fractional digits."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}0Z"
