"""The console on the API's app: its pages under ``/console``, its files, its error pages.

Errors of console pages are pages too: a refused request (not logged in, a role too low,
a stale form) says what to do in the console's look, a request that is not logged in goes
to the login page and back, and no traceback or JSON body reaches a person.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from engine.console.context import ConsoleContext
from engine.console.routes import ROUTERS
from engine.console.templating import STATIC, STATIC_URL, render
from engine.errors import ConsoleError
from engine.runtime.outages import is_outage

log = logging.getLogger("cxflow.console")

PREFIX = "/console"
# Pages are the console's own: scripts and styles from here only, no framing by other sites.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)

Handler = Callable[[Request, Exception], Awaitable[Response]]


def install_console(app: FastAPI, context: ConsoleContext) -> None:
    """Mount the console on ``app``."""
    app.state.console = context
    app.mount(STATIC_URL, StaticFiles(directory=STATIC), name="console-static")
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX, include_in_schema=False)

    @app.middleware("http")
    async def console_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path.startswith(PREFIX) and not request.url.path.startswith(STATIC_URL):
            _page_headers(response)
        return response

    _page_errors(app)


def _page_headers(response: Response) -> Response:
    """The console's policy and no caching, on pages and on error pages (a 500 page is made
    outside the middleware, and carries the viewer's CSRF token like any page)."""
    response.headers.setdefault("Content-Security-Policy", POLICY)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _page_errors(app: FastAPI) -> None:
    """Console requests' errors as pages; every other request's as before (JSON)."""
    handlers: dict[type[Exception], Handler] = {
        kind: cast(Handler, app.exception_handlers[kind])
        for kind in (Exception, HTTPException, RequestValidationError)
        if kind in app.exception_handlers
    }

    def dispatch(kind: type[Exception]) -> Handler:
        fallback = handlers.get(kind)

        async def handle(request: Request, error: Exception) -> Response:
            if request.url.path.startswith(PREFIX) or fallback is None:
                return _page_headers(_error_page(request, error))
            return await fallback(request, error)

        return handle

    for kind in handlers:
        app.add_exception_handler(kind, dispatch(kind))
    app.add_exception_handler(ConsoleError, dispatch(ConsoleError))


def _error_page(request: Request, error: Exception) -> Response:
    if isinstance(error, ConsoleError):
        if error.code == "login_required":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{PREFIX}/login?next={quote(target)}", status_code=303)
        headings = {403: "Not allowed", 429: "Too many attempts", 404: "Not found"}
        return render(
            request,
            "error.html",
            status=error.status,
            heading=headings.get(error.status, "This cannot be done"),
            message=error.message,
        )
    if isinstance(error, HTTPException):
        if error.status_code == 404:
            message = "There is no such page in the console: use the navigation above."
        elif error.status_code == 405:
            message = "This address takes no such request: use the console's links and forms."
        else:
            message = str(error.detail)
        return render(
            request,
            "error.html",
            status=error.status_code,
            heading="Not found" if error.status_code == 404 else "Refused",
            message=message,
        )
    if isinstance(error, RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
            for e in error.errors()
        )
        return render(
            request,
            "error.html",
            status=400,
            heading="This request has a problem",
            message=f"{problems}. Go back, correct it and try again.",
        )
    if is_outage(error):
        log.warning("store unavailable on %s %s", request.method, request.url.path)
        return render(
            request,
            "error.html",
            status=503,
            heading="Unavailable for a moment",
            message="The store cannot be reached right now; reload the page in a few seconds.",
        )
    log.error("console error on %s %s", request.method, request.url.path, exc_info=error)
    return render(
        request,
        "error.html",
        status=500,
        heading="Something went wrong",
        message="The page could not be made. The error is in the API's log; reload "
        "the page, and if it happens again tell whoever runs cxflow.",
    )
