"""Signed links: one token format for every link cxflow (or a plugin) puts in a message.

An unsubscribe link, a survey link, a plugin's action button or click-tracking link
all carry a token that says who and what, and that nobody without the secret can
make or change. :class:`LinkSigner` makes and checks them, on itsdangerous
(https://itsdangerous.palletsprojects.com), so the hard parts (constant-time
comparison, key derivation, URL-safe encoding, timestamps) are a well-kept
library's, written once::

    signer = LinkSigner(secret, purpose="ntfy-action")
    token = signer.sign({"c": "ada", "a": "confirm"})  # URL-safe: put it in a path or query
    signer.verify(token)  # {"c": "ada", "a": "confirm"}
    signer.verify(token, max_age=3600)  # ExpiredLinkError an hour after signing

The ``purpose`` is the signature's salt: a token made for one purpose never verifies
for another (an unsubscribe token is no survey token, even under the same secret).
A token is ``<payload>.<timestamp>.<signature>`` (HMAC-SHA256); the payload is
JSON, compressed when that is shorter, signed but **not encrypted**: put ids in it,
never an address, a name or a secret.

:meth:`LinkSigner.verify` raises :class:`InvalidLinkError` for anything it did not
sign (cut short, altered, non-ASCII, overlong, another secret or purpose) and
:class:`ExpiredLinkError` past ``max_age``; both are :class:`dsl.errors.InputError`,
so a route answers them with a 4xx page or body, never a traceback.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from dsl.errors import ConfigurationError, InputError

MAX_TOKEN_CHARS = 4096


class InvalidLinkError(InputError):
    """Not a link this server signed for this purpose: cut short, altered, or another secret."""

    code = "link_invalid"


class ExpiredLinkError(InvalidLinkError):
    """A genuine link, signed longer ago than it may be used (``max_age``)."""

    code = "link_expired"

    def __init__(self, message: str, *, signed_at: datetime | None = None) -> None:
        super().__init__(message)
        self.signed_at = signed_at


class LinkSigner:
    """Signs and verifies the tokens of one kind of link (``purpose``) under one secret."""

    def __init__(self, secret: str, purpose: str) -> None:
        if not secret:
            raise ConfigurationError(f"cannot sign {purpose or 'these'} links without a secret")
        if not purpose or not purpose.isascii() or not purpose.strip():
            raise ValueError(f"a link's purpose is a short name like 'survey', not {purpose!r}")
        self.purpose = purpose
        self._serializer = URLSafeTimedSerializer(
            secret,
            salt=f"cxflow.{purpose}",
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    def sign(self, payload: dict[str, Any]) -> str:
        """The URL-safe token of ``payload`` (JSON values only), signed now."""
        if not isinstance(payload, dict):
            raise TypeError(f"a link's payload is a dict, not {type(payload).__name__}")
        token = self._serializer.dumps(payload)
        assert isinstance(token, str)
        return token

    def verify(self, token: str, max_age: int | None = None) -> dict[str, Any]:
        """The payload of a token this signer made (at most ``max_age`` seconds ago).

        :raises InvalidLinkError: not one of this signer's tokens.
        :raises ExpiredLinkError: one of its tokens, older than ``max_age``.
        """
        # Non-ASCII text (or a lone surrogate) is no token of ours: refuse it before
        # anything tries to encode it; overlong text before anything decodes it.
        if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_CHARS:
            raise InvalidLinkError(f"this {self.purpose} link is not valid")
        try:
            payload: Any = self._serializer.loads(token, max_age=max_age)
        except SignatureExpired as error:
            raise ExpiredLinkError(
                f"this {self.purpose} link has expired", signed_at=error.date_signed
            ) from None
        except BadData:
            raise InvalidLinkError(f"this {self.purpose} link is not valid") from None
        if not isinstance(payload, dict):
            raise InvalidLinkError(f"this {self.purpose} link is not valid")
        return payload
