"""Console fixtures: the store on SQLite and PostgreSQL, and a served console.

``console`` is the real thing: the API app the composition root builds (``Runtime.api``),
served by uvicorn on loopback, in front of an engine on Temporal's time-skipping server,
with three accounts (admin, operator, viewer) whose password is :data:`PASSWORD`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest_asyncio

from engine.console.security import reset_login_limits
from tests.api.conftest import serve
from tests.runtime.conftest import Engine, engine, receiver
from tests.store.conftest import postgres_admin, store

__all__ = ["engine", "postgres_admin", "receiver", "store"]

PASSWORD = "correct horse battery staple"
ACCOUNTS = {
    "admin": "admin@shop.example",
    "operator": "ops@shop.example",
    "viewer": "viewer@shop.example",
}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token of the first form on a console page."""
    found = _CSRF.search(page)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Console:
    """A served console: its base URL, the engine behind it, and its accounts."""

    url: str
    engine: Engine
    accounts: dict[str, str] = field(default_factory=lambda: dict(ACCOUNTS))

    def client(self) -> httpx.AsyncClient:
        """A client with a cookie jar, not logged in (redirects are not followed)."""
        return httpx.AsyncClient(base_url=self.url, timeout=30)

    @asynccontextmanager
    async def logged_in(self, role: str = "admin") -> AsyncIterator[httpx.AsyncClient]:
        """A client logged in as the account of ``role``."""
        async with self.client() as client:
            form = await client.get("/console/login")
            answer = await client.post(
                "/console/login",
                data={
                    "email": self.accounts[role],
                    "password": PASSWORD,
                    "csrf": csrf_of(form.text),
                    "next": "/console/",
                },
            )
            assert answer.status_code == 303, answer.text
            yield client


@pytest_asyncio.fixture(loop_scope="session")
async def console(engine: Engine) -> AsyncIterator[Console]:
    for role, email in ACCOUNTS.items():
        engine.store.users.create(email, PASSWORD, role, name=role.capitalize())
    reset_login_limits()
    async with serve(engine.runtime.api(reroute_interval=0.2)) as url:
        yield Console(url=url, engine=engine)
    reset_login_limits()
