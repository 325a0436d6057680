"""The ``smtp`` connector: the ``email`` channel through any SMTP server.

Settings (``CXFLOW_SMTP_<KEY>``):

``HOST`` (required), ``FROM`` (required: ``news@shop.example`` or ``Shop <news@shop.example>``)
    The server and the sender.
``SECURITY``
    ``starttls`` (default: connect in plain text, then upgrade with STARTTLS before
    anything else is said; a server that does not offer it is an error, never a
    silent downgrade), ``tls`` (TLS from the first byte, "SMTPS", usually port 465)
    or ``none`` (plain text: only for a relay on the same host or network).
``PORT``
    Default 587 for ``starttls``, 465 for ``tls``, 25 for ``none``.
``USERNAME`` and ``PASSWORD`` (secret)
    Log in with AUTH when set. cxflow never sends them over an unencrypted
    connection: with ``SECURITY=none`` they are an error.
``CA_FILE``
    A PEM file of certificate authorities to trust instead of the system's, for a
    server with a private CA. Certificates and host names are always checked.
``REPLY_TO``, ``TIMEOUT`` (seconds, default 30), ``RATE_LIMIT`` (messages per second)

Each message is one SMTP session (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT,
DATA, QUIT) in a worker thread. SMTP has no idempotency key: if the server took
a message but the answer was lost, the activity's retry sends it again with the
same ``Message-ID`` (made from the idempotency key), which mail clients show as
one message. Replies in the 4xx range, dropped connections and timeouts are
retryable; 5xx replies, refused credentials and certificate problems are
permanent, with a message naming the setting to check. Recipient addresses are
never put in error messages (they travel through Temporal's history).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from typing import ClassVar, Literal

from connectors.base import Connector
from connectors.builtin.mail import EmailContent, check_sender, compose, to_mime
from connectors.errors import ConnectorError, PermanentConnectorError, RetryableConnectorError
from connectors.models import SendRequest, SendResult, Setting
from connectors.ratelimit import TokenBucket

Security = Literal["starttls", "tls", "none"]
DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_TIMEOUT = 30.0


class SmtpConnector(Connector):
    """Email over SMTP with STARTTLS or TLS and AUTH (see the module's docstring)."""

    name = "smtp"
    description = "Email through an SMTP server (STARTTLS or TLS, AUTH, List-Unsubscribe)."
    channels = ("email",)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(key="HOST", description="The SMTP server's host name", required=True),
        Setting(
            key="FROM",
            description="The sender, like 'Shop <news@shop.example>'",
            required=True,
        ),
        Setting(
            key="SECURITY",
            description="starttls (default), tls (SMTPS) or none (plain text)",
            default="starttls",
        ),
        Setting(key="PORT", description="The port (default 587, 465 for tls, 25 for none)"),
        Setting(key="USERNAME", description="Log in with this user (AUTH)"),
        Setting(key="PASSWORD", description="The password of USERNAME", secret=True),
        Setting(key="CA_FILE", description="A PEM file of CAs to trust instead of the system's"),
        Setting(key="REPLY_TO", description="Where replies go, if not to FROM"),
        Setting(key="TIMEOUT", description="Seconds to wait for the server (default 30)"),
        Setting(key="RATE_LIMIT", description="At most this many messages per second"),
    )
    _bucket: TokenBucket | None = None
    _bucket_rate: float | None = None

    async def send(self, request: SendRequest) -> SendResult:
        if not request.recipient.email:
            return SendResult(status="skipped", detail={"reason": "no_email_address"})
        sender = check_sender(self.require_setting("FROM"), self._variable("FROM"), self.name)
        reply_to = self.setting("REPLY_TO")
        if reply_to:
            reply_to = check_sender(reply_to, self._variable("REPLY_TO"), self.name)
        content = compose(request, sender=sender, reply_to=reply_to, connector=self.name)
        host = self.require_setting("HOST").strip()
        security = self._security()
        port = int(self._positive("PORT", DEFAULT_PORTS[security], whole=True))
        timeout = self._positive("TIMEOUT", DEFAULT_TIMEOUT)
        username, password = self._credentials(security)
        context = self._tls_context() if security != "none" else None
        bucket = self._rate_bucket()
        if bucket is not None:
            await bucket.acquire()
        await asyncio.to_thread(
            self._deliver, content, host, port, security, timeout, context, username, password
        )
        return SendResult(
            status="sent",
            provider_message_id=content.message_id.strip("<>"),
            detail={"smtp_host": host},
        )

    # --- one SMTP session ------------------------------------------------------------------

    def _deliver(
        self,
        content: EmailContent,
        host: str,
        port: int,
        security: Security,
        timeout: float,
        context: ssl.SSLContext | None,
        username: str | None,
        password: str | None,
    ) -> None:
        where = f"{host}:{port}"
        try:
            client: smtplib.SMTP
            if security == "tls":
                client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            else:
                client = smtplib.SMTP(host, port, timeout=timeout)
            with client:
                client.ehlo()
                if security == "starttls":
                    if not client.has_extn("starttls"):
                        raise PermanentConnectorError(
                            f"smtp: {where} does not offer STARTTLS, and cxflow does not send "
                            f"in plain text unless told to: use a server that does, set "
                            f"{self._variable('SECURITY')}=tls for a TLS port, or =none for a "
                            "trusted relay",
                            connector=self.name,
                        )
                    client.starttls(context=context)
                    client.ehlo()
                if username is not None and password is not None:
                    if not client.has_extn("auth"):
                        raise PermanentConnectorError(
                            f"smtp: {where} does not offer AUTH: unset "
                            f"{self._variable('USERNAME')} if it needs no login",
                            connector=self.name,
                        )
                    client.login(username, password)
                refused = client.send_message(
                    to_mime(content), from_addr=None, to_addrs=[content.to_address]
                )
                if refused:  # only when some of several recipients fail; we send to one
                    raise _reply_error(self, "refused the recipient's address", *_first(refused))
        except ConnectorError:
            raise
        except smtplib.SMTPAuthenticationError as error:
            raise PermanentConnectorError(
                f"smtp: {where} refused the login ({error.smtp_code} {_said(error.smtp_error)}): "
                f"check {self._variable('USERNAME')} and {self._variable('PASSWORD')}",
                connector=self.name,
                status_code=error.smtp_code,
            ) from None
        except smtplib.SMTPRecipientsRefused as error:
            raise _reply_error(
                self, "refused the recipient's address", *_first(error.recipients)
            ) from None
        except smtplib.SMTPSenderRefused as error:
            raise _reply_error(
                self,
                f"refused the sender (check {self._variable('FROM')})",
                error.smtp_code,
                error.smtp_error,
            ) from None
        except smtplib.SMTPConnectError as error:  # the greeting was a refusal (421, 554)
            raise _reply_error(
                self, "refused the connection", error.smtp_code, error.smtp_error
            ) from None
        except smtplib.SMTPResponseException as error:  # DATA, HELO, STARTTLS, ... replies
            raise _reply_error(
                self, "refused the message", error.smtp_code, error.smtp_error
            ) from None
        except smtplib.SMTPNotSupportedError as error:
            raise PermanentConnectorError(
                f"smtp: {where} does not support what the message needs ({error})",
                connector=self.name,
            ) from None
        except ssl.SSLCertVerificationError as error:
            raise PermanentConnectorError(
                f"smtp: the certificate of {host} is not trusted ({error.verify_message}): "
                f"check {self._variable('HOST')} is the name on the certificate, or set "
                f"{self._variable('CA_FILE')} to the PEM file of its authority",
                connector=self.name,
            ) from None
        except ssl.SSLError as error:
            raise PermanentConnectorError(
                f"smtp: TLS with {where} failed ({error.reason or error}): with "
                f"{self._variable('SECURITY')}={security}, is {port} the right port "
                "(587 for starttls, 465 for tls)?",
                connector=self.name,
            ) from None
        except smtplib.SMTPServerDisconnected as error:
            raise RetryableConnectorError(
                f"smtp: {where} closed the connection ({error}); it will be retried",
                connector=self.name,
            ) from None
        except TimeoutError:
            raise RetryableConnectorError(
                f"smtp: {where} did not answer within {timeout:g}s; it will be retried",
                connector=self.name,
            ) from None
        except OSError as error:  # refused, unreachable, unknown host
            raise RetryableConnectorError(
                f"smtp: could not reach {where} ({error.strerror or error}); it will be "
                f"retried (check {self._variable('HOST')} and {self._variable('PORT')})",
                connector=self.name,
            ) from None

    # --- settings --------------------------------------------------------------------------

    def _variable(self, key: str) -> str:
        return self.config.variable(key)

    def _security(self) -> Security:
        value = (self.setting("SECURITY") or "starttls").strip().lower()
        if value == "starttls":
            return "starttls"
        if value == "tls":
            return "tls"
        if value == "none":
            return "none"
        raise PermanentConnectorError(
            f"smtp: {self._variable('SECURITY')} must be starttls, tls or none, not {value!r}",
            connector=self.name,
        )

    def _positive(self, key: str, default: float, *, whole: bool = False) -> float:
        value = self.setting(key)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = 0.0
        if not number > 0 or number == float("inf") or (whole and not number.is_integer()):
            kind = "a positive whole number" if whole else "a positive number"
            raise PermanentConnectorError(
                f"smtp: {self._variable(key)} must be {kind}, not {value!r}",
                connector=self.name,
            )
        return number

    def _credentials(self, security: Security) -> tuple[str | None, str | None]:
        username, password = self.setting("USERNAME"), self.setting("PASSWORD")
        if username is None and password is None:
            return None, None
        if username is None or password is None:
            missing = "PASSWORD" if password is None else "USERNAME"
            raise PermanentConnectorError(
                f"smtp: set {self._variable(missing)} too, or neither USERNAME nor PASSWORD",
                connector=self.name,
            )
        if security == "none":
            raise PermanentConnectorError(
                f"smtp: cxflow does not send a password over an unencrypted connection: set "
                f"{self._variable('SECURITY')}=starttls or tls, or unset "
                f"{self._variable('USERNAME')} and {self._variable('PASSWORD')}",
                connector=self.name,
            )
        return username, password

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self.setting("CA_FILE")
        try:
            return ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as error:
            raise PermanentConnectorError(
                f"smtp: cannot read {self._variable('CA_FILE')}={ca_file} "
                f"({getattr(error, 'strerror', None) or error}): point it at a PEM file",
                connector=self.name,
            ) from None

    def _rate_bucket(self) -> TokenBucket | None:
        value = self.setting("RATE_LIMIT")
        if value is None:
            return None
        rate = self._positive("RATE_LIMIT", 1.0)
        if self._bucket is None or self._bucket_rate != rate:
            self._bucket, self._bucket_rate = TokenBucket(rate), rate
        return self._bucket


def _first(refused: dict[str, tuple[int, bytes]]) -> tuple[int, bytes]:
    return next(iter(refused.values()))


def _said(reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:300]


def _reply_error(
    connector: SmtpConnector, what: str, code: int, reply: bytes | str
) -> ConnectorError:
    """4xx replies are "try again later"; 5xx ones will not change on a retry."""
    said = f"{code} {_said(reply)}"
    if 400 <= code <= 499:
        return RetryableConnectorError(
            f"smtp: the server {what} for now ({said}); it will be retried",
            connector=connector.name,
            status_code=code,
        )
    return PermanentConnectorError(
        f"smtp: the server {what} ({said})", connector=connector.name, status_code=code
    )
