"""Sign-in with an OIDC provider: the console and a small provider (tests/support) each served over HTTP on
127.0.0.1, a client that follows redirects like a browser; refusals show the sign-in page, never a 500."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.console import store
from services.console.app import build
from services.console.clients import FLOW_COOKIE
from services.console.domain.accounts import Account, AccountError
from services.console.web.pages import LOGIN_COOKIE, SESSION_COOKIE
from shared.db import utcnow
from shared.service import Service
from shared.settings import Settings
from shared.testing import running
from tests.console_world import PASSWORD, sign_in
from tests.support.oidc_provider import OFFICER_79, TestProvider, console_with_provider


@contextlib.asynccontextmanager
async def signing_in(settings_factory: Callable[..., Settings], provider: TestProvider, **overrides: Any
                     ) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    """The provider and the console over HTTP; a browser-like client on the console that follows redirects."""
    async with console_with_provider(settings_factory, provider, **overrides) as (service, base), \
            httpx.AsyncClient(base_url=base, follow_redirects=True) as browser:
        yield service, browser


async def accounts_of(service: Service) -> dict[str, dict[str, Any]]:
    async with service.db.read() as session:
        rows = (await session.execute(store.accounts.select())).mappings().all()
    return {r["username"]: dict(r) for r in rows}


def has_session(browser: httpx.AsyncClient) -> bool:
    return any(c.name == SESSION_COOKIE for c in browser.cookies.jar)


def flow_cookie(browser: httpx.AsyncClient) -> Any:
    return next(c for c in browser.cookies.jar if c.name == FLOW_COOKIE)


@pytest.mark.parametrize("secret", [None, "a confidential client's secret"], ids=["public", "confidential"])
async def test_a_person_of_the_provider_signs_in_and_gets_a_session_on_a_row_keyed_by_their_subject(
        settings_factory: Callable[..., Settings], secret: str | None) -> None:
    provider = TestProvider(client_secret=secret)
    async with signing_in(settings_factory, provider) as (service, browser):
        page = await browser.get("/login")
        assert "Đăng nhập bằng tài khoản của Bộ" in page.text and 'name="password"' in page.text

        done = await browser.get("/oidc/login")
        assert done.status_code == 200 and 'http-equiv="refresh" content="0;url=/"' in done.text
        assert [str(r.url.path) for r in done.history] == ["/oidc/login", "/authorize"]
        assert provider.token_requests == [(200, "")] and not provider.codes  # the code was spent
        assert has_session(browser) and FLOW_COOKIE not in {c.name for c in browser.cookies.jar}
        home = await browser.get("/", follow_redirects=False)
        assert (home.status_code, home.headers["location"]) == (303, "/tips")

        username = "oidc:" + OFFICER_79["sub"]
        row = (await accounts_of(service))[username]
        assert (row["role"], row["area"], row["unit"], row["level"], row["password_hash"]) == (
            "officer", "79", None, None, "!")

        # The next sign-in takes the provider's present claims; no password opens the provider's row.
        provider.user = {**OFFICER_79, "realm_access": {"roles": ["antq-leader"]}, "level": "province"}
        await browser.get("/oidc/login")
        row = (await accounts_of(service))[username]
        assert (row["role"], row["area"], row["level"]) == ("leader", "79", "province")
        async with httpx.AsyncClient(base_url=str(browser.base_url)) as other:
            assert (await sign_in(other, username, "!")).status_code == 401
        accounts = service.app.state.ctx.accounts
        with pytest.raises(AccountError, match="no password"):
            await accounts.set_password(username, PASSWORD, now=utcnow())

        # Disabled in the console: the session ends, and the provider cannot sign the person in again.
        await accounts.disable(username, now=utcnow())
        assert (await browser.get("/", follow_redirects=False)).headers["location"] == "/login"
        refused = await browser.get("/oidc/login")
        assert refused.status_code == 403 and "đã bị khoá" in refused.text
        assert (await browser.get("/", follow_redirects=False)).headers["location"] == "/login"
        assert (await accounts_of(service))[username]["disabled"]


async def test_a_callback_with_another_state_than_the_browsers_is_refused_before_any_code_exchange(
        settings_factory: Callable[..., Settings]) -> None:
    provider = TestProvider()
    async with signing_in(settings_factory, provider) as (_, browser):
        to_provider = await browser.get("/oidc/login", follow_redirects=False)
        back = await browser.get(to_provider.headers["location"], follow_redirects=False)
        callback = httpx.URL(back.headers["location"])
        forged = callback.copy_set_param("state", "a-state-this-browser-never-started")
        r = await browser.get(forged)
        assert r.status_code == 400 and "Phiên đăng nhập không khớp" in r.text and 'id="login-error"' in r.text
        async with httpx.AsyncClient() as stranger:  # the right state, but not the browser that started it
            r = await stranger.get(callback)
            assert r.status_code == 400 and "Phiên đăng nhập không khớp" in r.text
        assert provider.token_requests == [] and not has_session(browser)


async def test_a_wrong_pkce_verifier_is_refused_by_the_provider_and_the_page_says_so(
        settings_factory: Callable[..., Settings]) -> None:
    provider = TestProvider()
    async with signing_in(settings_factory, provider) as (service, browser):
        to_provider = await browser.get("/oidc/login", follow_redirects=False)
        cookie = flow_cookie(browser)
        state, nonce, _verifier, started, lang = cookie.value.split(".")
        browser.cookies.jar.clear()
        browser.cookies.set(FLOW_COOKIE, ".".join((state, nonce, "x" * 64, started, lang)), domain=cookie.domain,
                            path=cookie.path)
        r = await browser.get(to_provider.headers["location"])
        assert r.status_code == 401 and "từ chối yêu cầu đăng nhập" in r.text
        assert provider.token_requests == [(400, "invalid_grant")]
        assert not has_session(browser) and await accounts_of(service) == {}


async def test_a_person_whose_role_the_role_map_does_not_know_is_refused_and_gets_no_account(
        settings_factory: Callable[..., Settings]) -> None:
    provider = TestProvider(user={**OFFICER_79, "realm_access": {"roles": ["offline_access", "uma_authorization"]}})
    async with signing_in(settings_factory, provider) as (service, browser):
        r = await browser.get("/oidc/login?lang=en")
        assert r.status_code == 403 and "has no role or area in antq" in r.text
        assert not has_session(browser) and await accounts_of(service) == {}
        provider.user = {**OFFICER_79, "area": None}  # an officer without an area: no nationwide reach
        r = await browser.get("/oidc/login?lang=en")
        assert r.status_code == 403 and "has no role or area in antq" in r.text


@pytest.mark.parametrize(("change", "status", "message"), [
    ({"authorize_error": "access_denied"}, 401, "did not confirm the sign-in"),
    ({"nonce_override": "a-nonce-of-another-sign-in"}, 401, "could not be verified"),
    ({"id_token_ttl": -120}, 401, "could not be verified"),
], ids=["provider-error", "nonce", "expired-id-token"])
async def test_a_refusal_along_the_way_shows_a_readable_message_on_the_sign_in_page(
        settings_factory: Callable[..., Settings], change: dict[str, Any], status: int, message: str) -> None:
    provider = TestProvider(**change)
    async with signing_in(settings_factory, provider) as (_, browser):
        r = await browser.get("/oidc/login?lang=en")
        assert (r.status_code, r.url.path) == (status, "/oidc/callback")
        assert message in r.text and 'name="password"' in r.text and not has_session(browser)


async def test_a_sign_in_that_took_longer_than_ten_minutes_at_the_provider_is_refused(
        settings_factory: Callable[..., Settings]) -> None:
    provider = TestProvider()
    async with signing_in(settings_factory, provider) as (service, browser):
        to_provider = await browser.get("/oidc/login", follow_redirects=False)
        service.clock = lambda: utcnow() + timedelta(minutes=11)
        r = await browser.get(to_provider.headers["location"])
        assert r.status_code == 400 and "Quá thời gian đăng nhập" in r.text and not has_session(browser)
        assert provider.token_requests == []


async def test_with_password_sign_in_off_only_the_providers_button_is_offered(
        settings_factory: Callable[..., Settings]) -> None:
    async with signing_in(settings_factory, TestProvider(), console_password_sign_in=False) as (service, browser):
        await service.app.state.ctx.accounts.add(Account("o79", "officer", area="79"), PASSWORD, now=utcnow())
        page = await browser.get("/login?lang=en")
        assert 'id="sign-in-oidc"' in page.text and 'name="password"' not in page.text
        # A script posting the password form anyway, with a valid sign-in CSRF value, is refused.
        csrf = next(c.value for c in browser.cookies.jar if c.name == LOGIN_COOKIE)
        r = await browser.post("/login", data={"username": "o79", "password": PASSWORD, "csrf": csrf, "lang": "en"})
        assert r.status_code == 403 and "Sign-in with a password is turned off" in r.text
        assert not has_session(browser)
        assert (await browser.get("/oidc/login")).status_code == 200 and has_session(browser)


def test_password_sign_in_off_without_a_provider_stops_the_start(settings_factory: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="nobody could sign in"):
        build(settings_factory(console_password_sign_in=False))


async def test_a_provider_that_cannot_be_reached_is_a_message_on_the_sign_in_page(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(oidc_issuer="http://127.0.0.1:9", oidc_audience="antq-api",
                                oidc_jwks_url="http://127.0.0.1:9/jwks", console_oidc_client_id="antq-console",
                                console_public_url="http://test")
    async with running(build(settings)) as client:
        r = await client.get("/oidc/login?lang=en")
        assert r.status_code == 503 and "cannot be reached now" in r.text and 'name="password"' in r.text
        flows = [h for h in r.headers.get_list("set-cookie") if h.startswith(FLOW_COOKIE + "=")]
        assert all("Max-Age=0" in h for h in flows)  # no flow started
