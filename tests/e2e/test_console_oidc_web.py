"""Sign-in with the ministry account in headless Chromium: the console on 127.0.0.1 and the OIDC provider on
localhost are different sites, as in production, and the person confirms on the provider's page; the console's
page after the redirect back must still carry the new SameSite=Strict session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.settings import Settings
from tests.e2e.test_console_web import chromium, look, new_page
from tests.support.oidc_provider import OFFICER_79, TestProvider, console_with_provider

pytestmark = pytest.mark.browser


async def test_an_officer_signs_in_with_the_ministry_account_and_lands_signed_in(
        settings_factory: Callable[..., Settings]) -> None:
    provider = TestProvider(login_page=True)
    async with console_with_provider(settings_factory, provider, host="localhost") as (_, console), \
            chromium() as browser:
        page = await new_page(browser)
        await page.goto(console + "/login")
        await look(page, "login-oidc")
        await page.click("#sign-in-oidc")
        await page.wait_for_url(provider.url + "/authorize?*")
        await page.click("#provider-sign-in")  # the navigation back starts on the provider's site
        # /tips answers 503 here (no tips service): what matters is that it is shown to the signed-in person.
        await page.wait_for_url(console + "/tips")
        assert await page.inner_text("#username") == "oidc:" + OFFICER_79["sub"]
        assert provider.token_requests == [(200, "")]
