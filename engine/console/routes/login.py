"""Logging in and out of the console.

A login is checked against the account's argon2id hash (:mod:`engine.store.users`); a
success opens a session (:mod:`engine.store.console_sessions`) and goes back to the page
asked for, a failure says only that the address or the password is wrong, and too many
failures are throttled (:mod:`engine.console.security`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from engine.console.context import ContextDep
from engine.console.security import (
    COOKIE_PATH,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    FormDep,
    OptionalViewerDep,
    ViewerDep,
    check_login_csrf,
    login_attempt,
    login_csrf,
    set_cookie,
)
from engine.console.templating import render
from engine.errors import ConsoleError

router = APIRouter()


def _local(target: str) -> str:
    """Where to go after the login: a console path of this site, never another site."""
    path = target.split("?", 1)[0]
    if (
        target.startswith("/console")
        and not target.startswith("//")
        and "\\" not in target
        and ".." not in path.split("/")
        and "%2e" not in path.lower()
    ):
        return target
    return "/console/"


def _login_page(
    request: Request,
    context: ContextDep,
    *,
    next_: str,
    email: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    token = login_csrf(request)
    response = render(
        request,
        "login.html",
        status=status,
        csrf=token,
        next=_local(next_),
        email=email,
        error=error,
    )
    set_cookie(response, request, context, LOGIN_CSRF_COOKIE, token)
    return response


@router.get("/login")
async def login_form(
    request: Request,
    context: ContextDep,
    viewer: OptionalViewerDep,
    next_: Annotated[str, Query(alias="next")] = "/console/",
) -> Response:
    if viewer is not None:
        return RedirectResponse(_local(next_), status_code=303)
    return _login_page(request, context, next_=next_)


@router.post("/login")
async def login(
    request: Request,
    context: ContextDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next_: Annotated[str, Form(alias="next", max_length=2000)] = "/console/",
) -> Response:
    check_login_csrf(request, csrf)
    if not login_attempt(request, email):
        raise ConsoleError(
            "too many failed logins from here: wait a minute, then try again (an admin can "
            "set a new password with `cxflow users password EMAIL`)",
            code="login_throttled",
            status=429,
        )
    users = context.store.users
    user = await asyncio.to_thread(users.authenticate, email, password)
    if user is None:
        return _login_page(
            request,
            context,
            next_=next_,
            email=email,
            status=401,
            error="That email and password do not match an active account. Check both and "
            "try again.",
        )
    earlier = request.cookies.get(SESSION_COOKIE)
    if earlier:  # a new login replaces the browser's old session, not adds to it
        await asyncio.to_thread(context.store.console_sessions.close, earlier)
    lifetime = timedelta(hours=context.settings.console_session_hours)
    token, _session = await asyncio.to_thread(
        context.store.console_sessions.open, user.id, lifetime
    )
    response = RedirectResponse(_local(next_), status_code=303)
    set_cookie(response, request, context, SESSION_COOKIE, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/logout")
async def logout(
    request: Request, context: ContextDep, viewer: ViewerDep, _form: FormDep
) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    await asyncio.to_thread(context.store.console_sessions.close, token)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response
