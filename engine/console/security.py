"""Who is logged in, what their role lets them do, and the checks on every form.

- **Sessions**: the cookie ``cxflow_console`` holds a random token (HttpOnly,
  SameSite=Lax, path ``/console``, ``Secure`` whenever the console is reached over
  HTTPS, directly or behind a proxy that says so, or ``CXFLOW_PUBLIC_URL`` is https); the
  store keeps its hash (:mod:`engine.store.console_sessions`).
- **CSRF**: every form carries the session's token in a hidden ``csrf`` field, compared in
  constant time; a post whose ``Origin`` is another site is refused before that. The login
  form, which has no session yet, uses a double-submit cookie.
- **Roles**: viewer < operator < admin; a page or action names the least it needs.
- **Login throttling**: at most 5 logins a minute per address and client, 20 per client,
  10 per address from anywhere, with the ``limits`` library's moving window (per API
  process), counted before the password is checked.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from engine.console.context import ConsoleContext, ContextDep
from engine.errors import ConsoleError
from engine.store.records import ConsoleSessionRecord, ConsoleUserRecord

SESSION_COOKIE = "cxflow_console"
LOGIN_CSRF_COOKIE = "cxflow_console_login"
COOKIE_PATH = "/console"
RANKS = {"viewer": 0, "operator": 1, "admin": 2}

_limiter = MovingWindowRateLimiter(MemoryStorage())
_PER_ADDRESS = RateLimitItemPerMinute(5)
_PER_CLIENT = RateLimitItemPerMinute(20)
_PER_ACCOUNT = RateLimitItemPerMinute(10)


class Viewer:
    """The logged-in person of a request: their account and their session."""

    def __init__(self, user: ConsoleUserRecord, session: ConsoleSessionRecord) -> None:
        self.user = user
        self.session = session

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    def may(self, role: str) -> bool:
        return RANKS[self.user.role] >= RANKS[role]


def secure_cookies(request: Request, context: ConsoleContext) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return (
        request.url.scheme == "https"
        or forwarded == "https"
        or context.settings.public_url.lower().startswith("https://")
    )


def set_cookie(
    response: Response, request: Request, context: ConsoleContext, name: str, value: str
) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, context),
        path=COOKIE_PATH,
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def login_attempt(request: Request, email: str) -> bool:
    """Count a login attempt and say whether it may be checked.

    Counted before the password is (argon2 takes a moment; attempts sent at once must not
    all pass a count that only failures raise), per client and address, per client, and
    per address whatever the client (many clients, one account)."""
    client = client_address(request)
    address = email.strip().lower()
    return all(
        [
            _limiter.hit(_PER_ADDRESS, client, address),
            _limiter.hit(_PER_CLIENT, client),
            _limiter.hit(_PER_ACCOUNT, address),
        ]
    )


def reset_login_limits() -> None:
    """Forget every counted failure (tests start from zero)."""
    _limiter.storage.reset()


def _viewer(request: Request, context: ContextDep) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        settings = context.settings
        found = context.store.console_sessions.resume(
            token, timedelta(minutes=settings.console_idle_minutes)
        )
        if found is not None:
            session, user = found
            viewer = Viewer(user, session)
            request.state.viewer = viewer
            return viewer
    raise ConsoleError("log in to see this page", code="login_required", status=401)


def _optional_viewer(request: Request, context: ContextDep) -> Viewer | None:
    try:
        return _viewer(request, context)
    except ConsoleError:
        return None


ViewerDep = Annotated[Viewer, Depends(_viewer)]
OptionalViewerDep = Annotated[Viewer | None, Depends(_optional_viewer)]


def require(role: str) -> Any:
    """A dependency: the viewer, if their role is at least ``role``; declared as
    ``viewer: Annotated[Viewer, require("operator")]``."""

    def check(viewer: ViewerDep) -> Viewer:
        if not viewer.may(role):
            raise ConsoleError(
                f"this needs the {role} role; you are a {viewer.user.role}: ask an admin "
                f"(`cxflow users role {viewer.user.email} {role}`)",
                code="role_required",
                status=403,
            )
        return viewer

    return Depends(check)


def same_origin(request: Request) -> None:
    """Refuse a post sent by a page of another site (the browser says so in ``Origin``)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        if origin == "null":
            raise _stale_form()
        return
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    if parts.netloc.lower() != host.lower():
        raise ConsoleError(
            "this form was sent from another site; open the console and use its own forms",
            code="csrf_invalid",
            status=403,
        )


def _stale_form() -> ConsoleError:
    return ConsoleError(
        "this form has expired or was not sent by the console: reload the page and try again",
        code="csrf_invalid",
        status=403,
    )


async def checked_form(request: Request, viewer: ViewerDep) -> dict[str, str]:
    """The posted form's fields, once its CSRF token is the viewer's session's."""
    same_origin(request)
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not _same(sent, viewer.csrf):
        raise _stale_form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


FormDep = Annotated[dict[str, str], Depends(checked_form)]


def _same(sent: str, expected: str) -> bool:
    """Constant-time equality of two tokens (as bytes: any text a form sends compares)."""
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def login_csrf(request: Request) -> str:
    """The login form's token: the cookie's if the browser has one, else a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def check_login_csrf(request: Request, sent: str | None) -> None:
    same_origin(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not sent or not _same(cookie, sent):
        raise _stale_form()
