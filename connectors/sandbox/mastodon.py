"""A local Mastodon server: ``POST /api/v1/statuses``, as Mastodon documents it.

(https://docs.joinmastodon.org/methods/statuses/#create)

* ``Authorization: Bearer <token>`` must be the account's token: otherwise 401
  ``{"error": "The access token is invalid"}``;
* the parameters come as JSON or as a form: ``status`` (required, at most 500
  characters, the default limit), ``visibility`` (``public``, ``unlisted``,
  ``private``, ``direct``), ``language``; invalid ones are 422 ``{"error":
  "Validation failed: ..."}``;
* ``Idempotency-Key`` is honoured: a repeat gets the first answer and posts nothing;
* a status is 200 with Mastodon's Status entity (``id``, ``url``, ``visibility``,
  ``content`` as HTML, ``mentions`` of the accounts it names, ...).

Mentions are resolved against :attr:`MastodonSandbox.accounts` (``@user`` on this
server, ``@user@domain`` elsewhere: every remote handle is taken to exist), and
:meth:`MastodonSandbox.direct_messages_to` is what an account's inbox would show.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from connectors.sandbox.base import JsonSandbox, Reply, Request

MAX_CHARACTERS = 500
VISIBILITIES = ("public", "unlisted", "private", "direct")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]+)(?:@([A-Za-z0-9.-]+(?::\d+)?))?")


@dataclass(frozen=True)
class Status:
    """One posted status."""

    id: str
    text: str
    visibility: str
    mentions: tuple[str, ...]
    language: str | None
    idempotency_key: str | None


class MastodonSandbox(JsonSandbox):
    """Set ``CXFLOW_MASTODON_BASE_URL`` to :attr:`url` and the token to :attr:`access_token`."""

    name = "mastodon"

    def __init__(
        self,
        *,
        log: Path | None = None,
        access_token: str | None = None,
        account: str = "shop",
        accounts: tuple[str, ...] = (),
    ) -> None:
        super().__init__(log=log)
        self.access_token = access_token or secrets.token_urlsafe(32)
        self.account = account
        self.accounts = {account, *accounts}
        self.statuses: list[Status] = []
        self._replies: dict[str, tuple[str, Reply]] = {}
        self._next_id = 110_000_000_000_000_000

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def direct_messages_to(self, acct: str) -> list[Status]:
        """The direct statuses that mention ``acct`` (``user`` or ``user@domain``)."""
        wanted = acct.lstrip("@")
        return [s for s in self.statuses if s.visibility == "direct" and wanted in s.mentions]

    def fail_next(
        self, status: int, message: str, *, times: int = 1, reset_in: float | None = None
    ) -> None:
        """Answer the next ``times`` requests with ``{"error": message}`` (429: with a reset)."""
        headers: dict[str, str] = {}
        if status == 429:
            reset = datetime.now(UTC).timestamp() + (1.0 if reset_in is None else reset_in)
            headers = {
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": datetime.fromtimestamp(reset, UTC).isoformat(),
            }
        self.force(Reply(status, {"error": message}, headers), times=times)

    # --- serving ---------------------------------------------------------------------------

    def replayed(self, request: Request) -> Reply | None:
        key = request.header("idempotency-key")
        if request.method != "POST" or key is None or key not in self._replies:
            return None
        token, reply = self._replies[key]
        if token != request.header("authorization"):
            return None  # keys are per account
        return Reply(reply.status, reply.body, {**reply.headers, "Idempotent-Replayed": "true"})

    def route(self, request: Request) -> Reply:
        if request.path.rstrip("/") != "/api/v1/statuses" or request.method != "POST":
            return Reply(404, {"error": "Record not found"})
        authorization = request.header("authorization") or ""
        if authorization != f"Bearer {self.access_token}":
            return Reply(401, {"error": "The access token is invalid"})
        params = _params(request)
        if params is None:
            return Reply(400, {"error": "The request body could not be parsed"})
        reply = self._post(params, request.header("idempotency-key"))
        key = request.header("idempotency-key")
        if key is not None and reply.status == 200:
            self._replies[key] = (authorization, reply)
        return reply

    def _post(self, params: dict[str, Any], key: str | None) -> Reply:
        text = params.get("status")
        if not isinstance(text, str) or not text.strip():
            return Reply(422, {"error": "Validation failed: Text can't be blank"})
        if len(text) > MAX_CHARACTERS:
            return Reply(
                422,
                {"error": f"Validation failed: Text character limit of {MAX_CHARACTERS} exceeded"},
            )
        visibility = params.get("visibility") or "public"
        if visibility not in VISIBILITIES:
            return Reply(
                422, {"error": "Validation failed: Visibility is not included in the list"}
            )
        mentions = []
        for user, domain in _MENTION.findall(text):
            if domain and domain != self.domain:
                mentions.append(f"{user}@{domain}")
            elif user in self.accounts:
                mentions.append(user)
        self._next_id += 1
        status_id = str(self._next_id)
        language = params.get("language") if isinstance(params.get("language"), str) else None
        self.statuses.append(Status(status_id, text, visibility, tuple(mentions), language, key))
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        account_url = f"http://{self.domain}/@{self.account}"
        return Reply(
            200,
            {
                "id": status_id,
                "created_at": now,
                "in_reply_to_id": None,
                "in_reply_to_account_id": None,
                "sensitive": False,
                "spoiler_text": "",
                "visibility": visibility,
                "language": language,
                "uri": f"http://{self.domain}/users/{self.account}/statuses/{status_id}",
                "url": f"{account_url}/{status_id}",
                "replies_count": 0,
                "reblogs_count": 0,
                "favourites_count": 0,
                "content": f"<p>{html.escape(text)}</p>",
                "account": {"id": "1", "username": self.account, "acct": self.account},
                "media_attachments": [],
                "mentions": [
                    {"id": str(n), "username": m.split("@")[0], "acct": m, "url": ""}
                    for n, m in enumerate(mentions, start=2)
                ],
                "tags": [],
                "emojis": [],
            },
        )


def _params(request: Request) -> dict[str, Any] | None:
    content_type = request.header("content-type") or ""
    if "application/json" in content_type:
        try:
            data = json.loads(request.body) if request.body else {}
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
    return dict(parse_qsl(request.body.decode(errors="replace")))
