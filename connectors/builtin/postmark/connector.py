"""The ``postmark`` connector: the ``email`` channel through Postmark's Email API.

Settings (``CXFLOW_POSTMARK_<KEY>``): ``SERVER_TOKEN`` (required, secret: a
server's API token, sent as ``X-Postmark-Server-Token``), ``FROM`` (required: an
address of a confirmed sender signature or domain), ``MESSAGE_STREAM``
(default ``broadcast``: journeys send marketing, which Postmark wants on a
broadcast stream; set ``outbound`` for a transactional one), ``REPLY_TO``,
``API_URL`` (default https://api.postmarkapp.com) and ``RATE_LIMIT``; and for
the webhooks that report what happened to each message (:mod:`.webhooks`),
``WEBHOOK_USERNAME`` (default ``postmark``) and ``WEBHOOK_PASSWORD`` (secret).

One message is one ``POST /email`` with the same content the ``smtp`` connector
sends (:mod:`connectors.builtin.mail`): subject, text and HTML bodies, the
List-Unsubscribe headers and the Message-ID made from the step's idempotency
key, under ``Headers``, and ``Metadata.cxflow_key``: the message's ref (the
SHA-256 of the key, as Postmark's metadata values hold at most 80 characters),
which Postmark sends back in every webhook about the message, and which finds it
in Postmark's activity. Postmark has no idempotency key: a retry after a lost
answer can send twice, with the same Message-ID.

Postmark's errors carry an ``ErrorCode`` (https://postmarkapp.com/developer/api/overview#error-codes):

=====================  ===========================================================
HTTP 401, code 10      permanent: the token is wrong (check ``SERVER_TOKEN``)
code 400, 401          permanent: ``FROM`` is not a confirmed sender signature
code 406               the recipient is inactive (bounced, complained or suppressed):
                       the send is *skipped* with reason ``inactive_recipient``
code 1235              permanent: no such ``MESSAGE_STREAM``
other 422 codes        permanent, with Postmark's message
HTTP 429, 500, 503     retryable (rate limited, failing, in maintenance)
=====================  ===========================================================
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from connectors.builtin.mail import check_sender, compose
from connectors.errors import ConnectorError, PermanentConnectorError, error_for_status
from connectors.http import HttpConnector, retry_after_seconds
from connectors.models import SendRequest, SendResult, Setting

DEFAULT_API_URL = "https://api.postmarkapp.com"
DEFAULT_STREAM = "broadcast"
INACTIVE_RECIPIENT = 406
_HINTS = {
    10: "check CXFLOW_POSTMARK_SERVER_TOKEN: it must be a server API token",
    400: "CXFLOW_POSTMARK_FROM must be a confirmed sender signature or domain in Postmark",
    401: "confirm the sender signature of CXFLOW_POSTMARK_FROM in Postmark first",
    405: "the Postmark account cannot send (out of credits?)",
    412: "the Postmark account is pending approval: it can only send to its own domain",
    1235: "CXFLOW_POSTMARK_MESSAGE_STREAM must name a stream of the server",
}


class PostmarkConnector(HttpConnector):
    """Email through Postmark's ``POST /email`` (see the module's docstring)."""

    name = "postmark"
    description = "Email through Postmark's Email API (List-Unsubscribe, error codes mapped)."
    channels = ("email",)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            key="SERVER_TOKEN",
            description="A Postmark server API token",
            required=True,
            secret=True,
        ),
        Setting(
            key="FROM",
            description="The sender, a confirmed sender signature: 'Shop <news@shop.example>'",
            required=True,
        ),
        Setting(
            key="MESSAGE_STREAM",
            description="The message stream (default broadcast)",
            default=DEFAULT_STREAM,
        ),
        Setting(key="REPLY_TO", description="Where replies go, if not to FROM"),
        Setting(key="API_URL", description="The API's URL", default=DEFAULT_API_URL),
        Setting(
            key="WEBHOOK_USERNAME",
            description="The HTTP Basic user name of Postmark's webhooks (default postmark)",
            default="postmark",
        ),
        Setting(
            key="WEBHOOK_PASSWORD",
            description="The HTTP Basic password set on Postmark's webhooks (HttpAuth): "
            "delivery, bounce, complaint, open and click reports are refused without it",
            secret=True,
        ),
    )

    async def send(self, request: SendRequest) -> SendResult:
        if not request.recipient.email:
            return SendResult(status="skipped", detail={"reason": "no_email_address"})
        sender = check_sender(self.require_setting("FROM"), self.config.variable("FROM"), self.name)
        reply_to = self.setting("REPLY_TO")
        if reply_to:
            reply_to = check_sender(reply_to, self.config.variable("REPLY_TO"), self.name)
        content = compose(request, sender=sender, reply_to=reply_to, connector=self.name)
        body: dict[str, Any] = {
            "From": content.sender,
            "To": content.to,
            "Subject": content.subject,
            "MessageStream": self.setting("MESSAGE_STREAM") or DEFAULT_STREAM,
            "Headers": [
                {"Name": "Message-ID", "Value": content.message_id},
                *({"Name": name, "Value": value} for name, value in content.headers.items()),
            ],
            "Metadata": {
                "cxflow_key": request.message_ref,
                "journey": request.journey_id[:80],
                "step": request.step_id[:80],
            },
        }
        if content.text is not None:
            body["TextBody"] = content.text
        if content.html is not None:
            body["HtmlBody"] = content.html
        if content.reply_to:
            body["ReplyTo"] = content.reply_to
        response = await self.http.request(
            "POST",
            f"{self._api_url()}/email",
            idempotency_key=request.idempotency_key,
            headers={
                "Accept": "application/json",
                "X-Postmark-Server-Token": self.require_setting("SERVER_TOKEN"),
            },
            json=body,
            check=False,
        )
        answer = _json_object(response)
        code = answer.get("ErrorCode")
        if response.is_success and code in (0, None):
            message_id = answer.get("MessageID")
            return SendResult(
                status="sent",
                provider_message_id=str(message_id) if message_id else None,
                detail={"message_id_header": content.message_id},
            )
        if code == INACTIVE_RECIPIENT:
            return SendResult(
                status="skipped",
                detail={
                    "reason": "inactive_recipient",
                    "provider": "postmark: the address bounced, complained or was suppressed",
                },
            )
        raise self._error(response, code, answer.get("Message"))

    def _error(self, response: httpx.Response, code: Any, message: Any) -> ConnectorError:
        said = " ".join(str(message or response.text).split())[:500]
        status = response.status_code
        if status in (408, 429) or status >= 500:
            return error_for_status(
                status,
                said,
                self.name,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        hint = _HINTS.get(code) if isinstance(code, int) else None
        detail = f"Postmark error {code}: {said}" if code is not None else said
        if hint is None:
            hint = (
                "the step's message or the settings need fixing"
                if status == 422
                else "check CXFLOW_POSTMARK_API_URL and the settings"
            )
        return PermanentConnectorError(
            f"postmark: HTTP {status}, {detail} ({hint})",
            connector=self.name,
            status_code=status,
        )

    def _api_url(self) -> str:
        url = (self.setting("API_URL") or DEFAULT_API_URL).strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise PermanentConnectorError(
                f"postmark: {self.config.variable('API_URL')} must be a URL like "
                f"{DEFAULT_API_URL}, not {url!r}",
                connector=self.name,
            )
        return url


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
