"""A real SMTP server on 127.0.0.1 (aiosmtpd), for the email connector's tests and journeys.

It speaks SMTP over a socket exactly as a mail server does: EHLO, STARTTLS with
a certificate made in the test (trustme), AUTH PLAIN/LOGIN checked against a
user table, MAIL/RCPT/DATA. It keeps every accepted message, and can refuse the
next commands with a chosen reply (``451 4.3.0 Try again later``) to test how
the connector maps replies to retries.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message, with how it came: over TLS? logged in as whom?"""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls: bool
    login: str | None

    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def text(self) -> str:
        part = self.message().get_body(("plain",))
        return "" if part is None else _lines(part.get_content())  # type: ignore[attr-defined]

    def html(self) -> str:
        part = self.message().get_body(("html",))
        return "" if part is None else _lines(part.get_content())  # type: ignore[attr-defined]


def _lines(content: object) -> str:
    """A body as written, with SMTP's CRLF line ends back to \\n."""
    return str(content).replace("\r\n", "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class SmtpPeer:
    """``with SmtpPeer(...) as smtp:`` then send to ``smtp.port``; read ``smtp.messages``.

    ``starttls``: a server-side SSL context, offered through STARTTLS.
    ``implicit_tls``: the context wraps the connection from the first byte (SMTPS).
    ``users``: AUTH is offered (after TLS only) and required, checked against these.
    """

    def __init__(
        self,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.messages: list[ReceivedMail] = []
        self.sessions = 0
        self.logins: list[tuple[str, bool]] = []
        self.users = users
        self._failures: deque[tuple[str, str]] = deque()
        self._lock = threading.Lock()
        kwargs: dict[str, Any] = {}
        if starttls is not None:
            kwargs["tls_context"] = starttls
            kwargs["require_starttls"] = True
        if users is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=implicit_tls,
            server_hostname="mail.test",
            **kwargs,
        )

    def fail_next(self, command: str, reply: str, times: int = 1) -> None:
        """Answer the next ``times`` ``command`` (MAIL, RCPT or DATA) with ``reply``."""
        with self._lock:
            self._failures.extend((command.upper(), reply) for _ in range(times))

    def _failure(self, command: str) -> str | None:
        with self._lock:
            for index, (name, reply) in enumerate(self._failures):
                if name == command:
                    del self._failures[index]
                    return reply
        return None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        ok = self.users is not None and self.users.get(login) == password
        with self._lock:
            self.logins.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    def start(self) -> SmtpPeer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpPeer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _Handler:
    """aiosmtpd's hooks (``handle_<COMMAND>``): the names are its API."""

    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_EHLO(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> Any:
        with self.peer._lock:
            self.peer.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if (reply := self.peer._failure("MAIL")) is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if (reply := self.peer._failure("RCPT")) is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if (reply := self.peer._failure("DATA")) is not None:
            return reply
        content = envelope.original_content or b""
        login = session.auth_data if isinstance(session.auth_data, str) else None
        mail = ReceivedMail(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=content,
            tls=server.transport is not None
            and server.transport.get_extra_info("ssl_object") is not None,
            login=login,
        )
        with self.peer._lock:
            self.peer.messages.append(mail)
        return "250 2.0.0 Message accepted for delivery"
