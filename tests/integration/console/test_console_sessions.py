"""Sign-in, sessions, CSRF and lockout of the console over HTTP, on its real database (no other service needed)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.console.app import build
from services.console.domain.accounts import Account
from services.console.web.pages import SESSION_COOKIE
from shared.service import Service
from shared.settings import Settings
from shared.testing import running
from tests.console_world import PASSWORD, csrf_of, sign_in

START = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
PAGES = ["/", "/tips", "/tips/some-tip", "/inbox", "/me/preferences"]
FORMS = ["/logout", "/logout/everywhere", "/tips/some-tip/message", "/tips/some-tip/reveal", "/inbox/n-1/read",
         "/me/preferences"]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@contextlib.asynccontextmanager
async def console(settings_factory: Callable[..., Settings], **overrides: Any) -> AsyncIterator[
        tuple[Service, httpx.AsyncClient, Clock]]:
    settings = settings_factory(console_argon2_profile="fast", console_tips_url="http://127.0.0.1:9",
                                console_notify_url="http://127.0.0.1:9", **overrides)
    service = build(settings)
    clock = Clock()
    service.clock = clock
    async with running(service) as client:
        await service.app.state.ctx.accounts.add(Account("o79", "officer", area="79"), PASSWORD, now=START)
        yield service, client, clock


def session_cookie(response: httpx.Response) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))


async def test_every_page_and_form_needs_a_session_and_redirects_to_the_sign_in_form(
        settings_factory: Callable[..., Settings]) -> None:
    async with console(settings_factory) as (_, client, _):
        for path in PAGES:
            r = await client.get(path)
            assert (r.status_code, r.headers["location"]) == (303, "/login"), path
        for path in FORMS:
            r = await client.post(path, data={"csrf": "x"})
            assert (r.status_code, r.headers["location"]) == (303, "/login"), path
        form = await client.get("/login")
        assert 'name="username"' in form.text and 'name="password"' in form.text
        assert form.headers["content-security-policy"].startswith("default-src 'self'")


async def test_a_successful_sign_in_redirects_to_the_main_page_with_a_strict_http_only_cookie(
        settings_factory: Callable[..., Settings]) -> None:
    async with console(settings_factory) as (service, client, _):
        r = await sign_in(client, "O79 ")
        assert (r.status_code, r.headers["location"]) == (303, "/")
        cookie = session_cookie(r)
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        assert (await client.get("/")).headers["location"] == "/tips"
        # Only a hash of the cookie is stored.
        value = cookie.split(";", 1)[0].split("=", 1)[1]
        from services.console import store

        async with service.db.read() as session:
            stored = (await session.execute(store.sessions.select())).mappings().all()
        assert len(stored) == 1 and value not in str(dict(stored[0]))


async def test_cookies_are_secure_when_the_public_url_is_https(settings_factory: Callable[..., Settings]) -> None:
    # Behind the site's TLS proxy: a browser sends Secure cookies back over https only.
    async with console(settings_factory, console_public_url="https://console.example.gov.vn") as (_, client, _), \
            httpx.AsyncClient(transport=client._transport, base_url="https://test") as browser:
        assert "Secure" in session_cookie(await sign_in(browser, "o79"))


async def test_sign_in_without_the_forms_csrf_value_is_refused(settings_factory: Callable[..., Settings]) -> None:
    async with console(settings_factory) as (_, client, _):
        await client.get("/login")
        r = await client.post("/login", data={"username": "o79", "password": PASSWORD, "csrf": "forged"})
        assert r.status_code == 403 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
        fresh = httpx.AsyncClient(transport=client._transport, base_url="http://test")  # no CSRF cookie at all
        async with fresh:
            r = await fresh.post("/login", data={"username": "o79", "password": PASSWORD, "csrf": ""})
            assert r.status_code == 403


async def test_a_form_without_the_sessions_csrf_token_changes_nothing(
        settings_factory: Callable[..., Settings]) -> None:
    async with console(settings_factory) as (_, client, _):
        await sign_in(client, "o79")
        assert (await client.post("/logout", data={"csrf": "forged"})).status_code == 403
        assert (await client.post("/logout")).status_code == 403
        assert (await client.get("/")).status_code == 303 and (await client.get("/")).headers["location"] == "/tips"


async def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(
        settings_factory: Callable[..., Settings]) -> None:
    async with console(settings_factory) as (_, client, clock):
        for _ in range(5):
            r = await sign_in(client, "o79", "wrong password 123")
            assert r.status_code == 401
        locked = await sign_in(client, "o79")
        assert locked.status_code == 401 and "khoá tạm thời" in locked.text
        unknown = await sign_in(client, "nobody")
        assert unknown.text.count("login-error") == locked.text.count("login-error")  # one answer for all
        clock.now += timedelta(minutes=15)
        assert (await sign_in(client, "o79")).status_code == 303


async def test_a_session_ends_after_the_idle_time_and_after_the_absolute_time(
        settings_factory: Callable[..., Settings]) -> None:
    async with console(settings_factory) as (_, client, clock):
        await sign_in(client, "o79")
        clock.now += timedelta(minutes=29)
        assert (await client.get("/")).headers["location"] == "/tips"
        clock.now += timedelta(minutes=29)  # 58 minutes after sign-in, 29 after the last page
        assert (await client.get("/")).headers["location"] == "/tips"
        clock.now += timedelta(minutes=31)
        assert (await client.get("/")).headers["location"] == "/login"

        signed_at = clock.now
        await sign_in(client, "o79")
        while clock.now + timedelta(minutes=15) < signed_at + timedelta(hours=12):
            clock.now += timedelta(minutes=15)  # busy all day: a page every quarter of an hour
            assert (await client.get("/")).headers["location"] == "/tips"
        clock.now = signed_at + timedelta(hours=12)
        assert (await client.get("/")).headers["location"] == "/login"


async def test_sign_out_ends_this_session_and_sign_out_everywhere_ends_every_session(
        settings_factory: Callable[..., Settings]) -> None:
    async with console(settings_factory) as (_, first, _):
        second = httpx.AsyncClient(transport=first._transport, base_url="http://test")
        third = httpx.AsyncClient(transport=first._transport, base_url="http://test")
        async with second, third:
            for client in (first, second, third):
                await sign_in(client, "o79")
            page = await first.get("/tips/any")  # any signed-in page carries the token (tips is unreachable here)
            r = await first.post("/logout", data={"csrf": csrf_of(page.text)})
            assert (r.status_code, r.headers["location"]) == (303, "/login?out=1")
            assert (await first.get("/")).headers["location"] == "/login"
            assert (await second.get("/")).headers["location"] == "/tips"
            page = await second.get("/tips/any")
            await second.post("/logout/everywhere", data={"csrf": csrf_of(page.text)})
            assert (await third.get("/")).headers["location"] == "/login"


async def test_disabling_an_account_or_changing_its_password_ends_its_sessions(
        settings_factory: Callable[..., Settings]) -> None:
    async with console(settings_factory) as (service, client, clock):
        accounts = service.app.state.ctx.accounts
        await sign_in(client, "o79")
        await accounts.set_password("o79", "một mật khẩu mới 2027", now=clock.now)
        assert (await client.get("/")).headers["location"] == "/login"
        assert (await sign_in(client, "o79", "một mật khẩu mới 2027")).status_code == 303
        await accounts.disable("o79", now=clock.now)
        assert (await client.get("/")).headers["location"] == "/login"
        assert (await sign_in(client, "o79", "một mật khẩu mới 2027")).status_code == 401


async def test_a_role_without_the_tip_desk_is_refused_the_queue(settings_factory: Callable[..., Settings]) -> None:
    async with console(settings_factory) as (service, client, clock):
        await service.app.state.ctx.accounts.add(Account("unit-staff", "unit", unit="u-1"), PASSWORD,
                                                     now=clock.now)
        await sign_in(client, "unit-staff")
        assert (await client.get("/")).headers["location"] == "/me"  # unit staff land on their unit desk
        r = await client.get("/tips")
        assert r.status_code == 403 and 'id="error"' in r.text


def test_a_leaders_pages_call_the_services_with_a_leader_token_carrying_the_level(
        settings_factory: Callable[..., Settings]) -> None:
    from services.console.clients import token_for
    from shared.auth import TokenAuthority, load_or_create_key

    settings = settings_factory()
    authority = TokenAuthority(load_or_create_key(settings.auth_key_path()))
    token = token_for(authority, Account("ld79", "leader", area="79", level="province"), ttl=300)
    principal = authority.verify(token)
    assert (principal.role, principal.area, principal.level) == ("leader", "79", "province")
