"""Logging in: sessions, CSRF on every form, roles, throttling, and pages as errors."""

from __future__ import annotations

import asyncio

import pytest

from tests.console.conftest import PASSWORD, Console, csrf_of

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_page_without_login_goes_to_the_login_and_back(console: Console) -> None:
    async with console.client() as client:
        answer = await client.get("/console/?days=30")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/login?next=/console/%3Fdays%3D30"
        form = await client.get(answer.headers["location"])
        assert 'value="/console/?days=30"' in form.text
        login = await client.post(
            "/console/login",
            data={
                "email": "ADMIN@shop.example",
                "password": PASSWORD,
                "csrf": csrf_of(form.text),
                "next": "/console/?days=30",
            },
        )
        assert login.status_code == 303
        assert login.headers["location"] == "/console/?days=30"
        cookie = login.headers["set-cookie"]
        assert "cxflow_console=" in cookie
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback
        page = await client.get("/console/")
        assert page.status_code == 200
        assert "Overview" in page.text and "admin@shop.example" in page.text


async def test_a_login_behind_tls_sets_a_secure_cookie(console: Console) -> None:
    async with console.client() as client:
        form = await client.get("/console/login")
        answer = await client.post(
            "/console/login",
            headers={"X-Forwarded-Proto": "https"},
            data={
                "email": console.accounts["viewer"],
                "password": PASSWORD,
                "csrf": csrf_of(form.text),
            },
        )
        assert answer.status_code == 303
        assert "Secure" in answer.headers["set-cookie"]


async def test_the_next_page_is_never_another_site(console: Console) -> None:
    async with console.client() as client:
        form = await client.get("/console/login")
        answer = await client.post(
            "/console/login",
            data={
                "email": console.accounts["viewer"],
                "password": PASSWORD,
                "csrf": csrf_of(form.text),
                "next": "//evil.example/console",
            },
        )
        assert answer.headers["location"] == "/console/"


async def test_a_wrong_password_says_so_without_telling_which(console: Console) -> None:
    async with console.client() as client:
        form = await client.get("/console/login")
        for email in (console.accounts["admin"], "nobody@shop.example"):
            answer = await client.post(
                "/console/login",
                data={"email": email, "password": "wrong password!!", "csrf": csrf_of(form.text)},
            )
            assert answer.status_code == 401
            assert "do not match an active account" in answer.text
            assert "cxflow_console=" not in answer.headers.get("set-cookie", "")


async def test_a_login_without_its_csrf_token_is_refused(console: Console) -> None:
    async with console.client() as client:
        await client.get("/console/login")
        answer = await client.post(
            "/console/login",
            data={"email": console.accounts["admin"], "password": PASSWORD, "csrf": "forged"},
        )
        assert answer.status_code == 403
        assert "reload the page" in answer.text
        assert "<html" in answer.text  # a page, not JSON


async def test_too_many_failed_logins_are_throttled(console: Console) -> None:
    async with console.client() as client:
        form = await client.get("/console/login")
        token = csrf_of(form.text)
        statuses = []
        for _ in range(6):
            answer = await client.post(
                "/console/login",
                data={
                    "email": console.accounts["viewer"],
                    "password": "not it at all",
                    "csrf": token,
                },
            )
            statuses.append(answer.status_code)
        assert statuses == [401] * 5 + [429]
        # Even the right password waits: the attempts are what is limited.
        answer = await client.post(
            "/console/login",
            data={"email": console.accounts["viewer"], "password": PASSWORD, "csrf": token},
        )
        assert answer.status_code == 429
        assert "wait a minute" in answer.text
        # Another account from the same client is not locked out by it.
        answer = await client.post(
            "/console/login",
            data={"email": console.accounts["admin"], "password": PASSWORD, "csrf": token},
        )
        assert answer.status_code == 303


async def test_logout_ends_the_session_on_the_server(console: Console) -> None:
    async with console.logged_in("viewer") as client:
        page = await client.get("/console/")
        stolen = dict(client.cookies)
        refused = await client.post("/console/logout", data={"csrf": "forged"})
        assert refused.status_code == 403
        answer = await client.post("/console/logout", data={"csrf": csrf_of(page.text)})
        assert answer.status_code == 303
    async with console.client() as replay:
        replay.cookies.update(stolen)
        assert (await replay.get("/console/")).status_code == 303


async def test_disabling_an_account_ends_its_sessions(console: Console) -> None:
    async with console.logged_in("operator") as client:
        assert (await client.get("/console/")).status_code == 200
        console.engine.store.users.set_disabled(console.accounts["operator"], True)
        assert (await client.get("/console/")).status_code == 303


async def test_a_post_from_another_site_is_refused(console: Console) -> None:
    async with console.logged_in("admin") as client:
        page = await client.get("/console/")
        answer = await client.post(
            "/console/logout",
            headers={"Origin": "https://evil.example"},
            data={"csrf": csrf_of(page.text)},
        )
        assert answer.status_code == 403
        assert "another site" in answer.text


async def test_console_pages_carry_a_strict_policy(console: Console) -> None:
    async with console.logged_in("viewer") as client:
        page = await client.get("/console/")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'self'" in policy
        assert page.headers["cache-control"] == "no-store"
        missing = await client.get("/console/no-such-page")
        assert missing.status_code == 404
        assert "no such page" in missing.text and "<html" in missing.text
        # The API's own errors stay JSON.
        api = await client.get("/v1/no-such-route")
        assert api.headers["content-type"].startswith("application/json")


async def test_logins_sent_at_once_are_counted_before_their_passwords(console: Console) -> None:
    async with console.client() as client:
        form = await client.get("/console/login")
        token = csrf_of(form.text)
        answers = await asyncio.gather(
            *(
                client.post(
                    "/console/login",
                    data={"email": console.accounts["viewer"], "password": f"guess {n:04d}!!",
                          "csrf": token},
                )
                for n in range(12)
            )
        )  # fmt: skip
        statuses = sorted(a.status_code for a in answers)
        assert statuses.count(401) <= 5 and statuses.count(429) >= 7, statuses


async def test_a_token_that_is_not_ascii_is_refused_not_an_error(console: Console) -> None:
    async with console.client() as client:
        await client.get("/console/login")
        answer = await client.post(
            "/console/login",
            data={"email": console.accounts["admin"], "password": PASSWORD, "csrf": "jeton-é"},
        )
        assert answer.status_code == 403 and "reload the page" in answer.text


@pytest.mark.parametrize(
    "target", ["/console/../v1/customers", "/console/%2e%2e/v1/customers", "https://evil.example"]
)
async def test_the_next_page_stays_in_the_console(console: Console, target: str) -> None:
    async with console.client() as client:
        form = await client.get("/console/login")
        answer = await client.post(
            "/console/login",
            data={"email": console.accounts["viewer"], "password": PASSWORD,
                  "csrf": csrf_of(form.text), "next": target},
        )  # fmt: skip
        assert answer.headers["location"] == "/console/"


async def test_logging_in_again_ends_the_earlier_session(console: Console) -> None:
    async with console.logged_in("viewer") as client:
        first = dict(client.cookies)
        form = await client.get("/console/login?next=/console/")
        assert form.status_code == 303  # already logged in: straight on
        client.cookies.clear()
        client.cookies.update(first)
        login = await client.get("/console/login")
        assert login.status_code == 303
        # A second login through the form, with the first cookie still sent:
        async with console.client() as other:
            page = await other.get("/console/login")
            other.cookies.update(first)
            answer = await other.post(
                "/console/login",
                data={"email": console.accounts["viewer"], "password": PASSWORD,
                      "csrf": csrf_of(page.text)},
            )  # fmt: skip
            assert answer.status_code == 303
    async with console.client() as replay:
        replay.cookies.update(first)
        assert (await replay.get("/console/")).status_code == 303
