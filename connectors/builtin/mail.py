"""Email messages from a rendered send: what the ``smtp`` and ``postmark`` connectors deliver.

Both connectors build the same message from a :class:`~connectors.models.SendRequest`:

* **From / Reply-To** from the connector's settings; **To** from the customer's
  ``email`` trait, with their ``name`` (or ``first_name`` and ``last_name``) as the
  display name.
* **Subject** on one line (a template's line breaks become spaces: a header
  cannot hold them); **text** and **HTML** bodies as rendered, sent as
  ``multipart/alternative`` when there are both.
* **Unsubscribe**: the customer's signed link goes into ``List-Unsubscribe`` with
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058, which Gmail and
  Yahoo require of bulk senders), and into each body that does not already show it,
  as a last line, so no message goes out without a visible way to unsubscribe.
* **Message-ID** made from the step's idempotency key: every retry of a step
  carries the same one, so a copy sent twice (the provider took the first but the
  answer was lost) is recognisable as one message by mail clients and by support.
"""

from __future__ import annotations

import hashlib
import html
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

from pydantic import Field

from connectors.errors import PermanentConnectorError
from connectors.models import ConnectorModel, SendRequest

ONE_CLICK = "List-Unsubscribe=One-Click"
MESSAGE_ID_HASH_CHARS = 32
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


class EmailContent(ConnectorModel):
    """One email, ready for a provider; header values are single lines."""

    sender: str = Field(description="The From header, like `Shop <news@shop.example>`.")
    to: str = Field(description="The To header, with the customer's name when known.")
    to_address: str = Field(description="The bare recipient address (the SMTP envelope).")
    reply_to: str | None = None
    subject: str
    text: str | None = None
    html: str | None = None
    message_id: str = Field(description="`<hash.cxflow@domain>`, the same on every retry.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="List-Unsubscribe and the others, as a provider's custom headers.",
    )


def check_sender(value: str, variable: str, connector: str) -> str:
    """A From or Reply-To setting: an address, optionally with a name (`Shop <a@b.c>`)."""
    _name, address = parseaddr(value)
    if not _EMAIL.match(address) or "\n" in value or "\r" in value:
        raise PermanentConnectorError(
            f"{connector}: {variable} must be an email address such as news@shop.example or "
            f"'Shop <news@shop.example>', not {value!r}",
            connector=connector,
        )
    return value.strip()


def message_id(idempotency_key: str, sender: str) -> str:
    """``<hash.cxflow@domain>``: one per step of one run, in the sender's domain."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:MESSAGE_ID_HASH_CHARS]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "cxflow.invalid"
    return f"<{digest}.cxflow@{domain}>"


def compose(
    request: SendRequest, *, sender: str, reply_to: str | None, connector: str
) -> EmailContent:
    """The email of one send; a permanent error says what the step or the profile lacks."""
    address = request.recipient.email
    if address is None or not _EMAIL.match(address.strip()):
        raise PermanentConnectorError(
            f"{connector}: the customer's `email` trait is not an email address",
            connector=connector,
        )
    address = address.strip()
    subject = " ".join((request.subject or "").split())
    if not subject:
        raise PermanentConnectorError(
            f"{connector}: the step '{request.step_id}' sends an email without a subject: "
            "give it `subject:` (or a template with one)",
            connector=connector,
        )
    if not (request.body or "").strip() and not (request.html or "").strip():
        raise PermanentConnectorError(
            f"{connector}: the step '{request.step_id}' sends an email without a body: "
            "give it `body:` or `html:` (or a template with them)",
            connector=connector,
        )
    headers = {"X-Cxflow-Journey": f"{request.journey_id}/{request.step_id}"}
    text, markup = request.body or None, request.html or None
    url = request.unsubscribe_url
    if url:
        headers["List-Unsubscribe"] = f"<{url}>"
        headers["List-Unsubscribe-Post"] = ONE_CLICK
        text = _with_text_link(text, url) if text is not None else None
        markup = _with_html_link(markup, url) if markup is not None else None
    return EmailContent(
        sender=sender,
        to=formataddr((_display_name(request), address)),
        to_address=address,
        reply_to=reply_to,
        subject=subject,
        text=text,
        html=markup,
        message_id=message_id(request.idempotency_key, sender),
        headers=headers,
    )


def to_mime(content: EmailContent) -> EmailMessage:
    """The message as SMTP sends it: text, HTML, or both as alternatives."""
    message = EmailMessage()
    message["From"] = content.sender
    message["To"] = content.to
    if content.reply_to:
        message["Reply-To"] = content.reply_to
    message["Subject"] = content.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = content.message_id
    for name, value in content.headers.items():
        message[name] = value
    if content.text is not None:
        message.set_content(content.text)
        if content.html is not None:
            message.add_alternative(content.html, subtype="html")
    else:
        assert content.html is not None
        message.set_content(content.html, subtype="html")
    return message


def _display_name(request: SendRequest) -> str:
    traits = request.recipient.traits
    name = traits.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [traits.get("first_name"), traits.get("last_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    name = " ".join(name.split())
    try:  # a name that cannot be a header (control characters) is left out, not sent broken
        Address(display_name=name, addr_spec="x@example.com")
    except (ValueError, IndexError):
        return ""
    return name


def _with_text_link(text: str, url: str) -> str:
    if url in text:
        return text
    return f"{text.rstrip()}\n\nUnsubscribe: {url}\n"


def _with_html_link(markup: str, url: str) -> str:
    escaped = html.escape(url, quote=True)
    if url in markup or escaped in markup:
        return markup
    footer = f'<p><a href="{escaped}">Unsubscribe</a></p>'
    closing = markup.lower().rfind("</body>")
    if closing == -1:
        return f"{markup.rstrip()}\n{footer}\n"
    return f"{markup[:closing]}{footer}\n{markup[closing:]}"
