"""The staff console in headless Chromium (Playwright driving Debian's /usr/bin/chromium): an officer signs in,
sees a tip from the public form arrive without reloading, replies, is refused a reveal without a reason, and
signs out; an officer of another area never sees the tip. Every page is screenshotted at 1280 and 390 pixels
wide into build/screenshots/ and checked with axe-core (vendored in tests/e2e/vendor/) for serious or critical
accessibility violations.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import Settings
from shared.testing import missing_tool
from tests.console_world import PASSWORD, World, console_world

CHROMIUM = os.environ.get("ANTQ_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("ANTQ_SCREENSHOTS", ROOT / "build" / "screenshots"))
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
WIDTHS = (1280, 390)
ARRIVAL_TIMEOUT_MS = 3_000  # the live queue's promise: a new tip shows within 3 s, without a reload
REPLY = "Cảm ơn anh, công an phường đang xác minh."

pytestmark = pytest.mark.browser


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests (make tools installs it)")
        missing_tool(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM,
                                           args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Any) -> Any:
    # bypass_csp lets the test inject axe-core into pages whose policy allows only the console's own scripts.
    context = await browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, bypass_csp=True,
                                        locale="vi-VN")
    return await context.new_page()


async def look(page: Any, name: str) -> None:
    """Screenshots at both widths, and no serious or critical axe-core violation on the page as it is."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(SCREENSHOTS / f"console-{name}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {bad}"


async def sign_in(page: Any, world: World, username: str, *, lands: str = "/tips") -> None:
    await page.goto(world.urls["console"] + "/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#sign-in")
    await page.wait_for_url(world.urls["console"] + lands)


async def submit_on_public_form(page: Any, world: World) -> str:
    """A reporter with a name uses the tips service's public page; returns the receipt shown once."""
    await page.goto(world.urls["tips"] + "/")
    await page.select_option("#category", "theft")
    await page.fill("#description", "Mất trộm hai máy tính ở phòng kế toán")
    await page.fill("#location", "Tầng 2, trụ sở công ty")
    await page.select_option("#province", label="Thành phố Hồ Chí Minh")
    await page.wait_for_selector("#commune option:text-is('Phường Bến Thành')", state="attached")
    await page.select_option("#commune", label="Phường Bến Thành")
    await page.check("#who-identified")
    await page.fill("#name", "Trần Thị Bình")
    await page.click("#send")
    return str(await page.inner_text("#receipt")).strip()


async def test_an_officer_works_a_tip_in_the_console_from_arrival_to_reply_and_signs_out(
        settings_factory: Callable[..., Settings]) -> None:
    async with console_world(settings_factory) as world, chromium() as browser:
        await world.add("officer79", area="79")
        await world.add("officer01", area="01")
        console = world.urls["console"]
        page = await new_page(browser)

        await page.goto(console + "/tips")
        assert page.url == console + "/login"  # every page needs a session
        assert await page.evaluate("document.documentElement.lang") == "vi"
        await look(page, "login")
        await sign_in(page, world, "officer79")
        assert await page.inner_text("#empty")

        # The queue is open; a reporter submits on the public form; the row appears without a reload.
        await page.evaluate("window.__sameDocument = true")
        reporter = await new_page(browser)
        receipt = await submit_on_public_form(reporter, world)
        row = await page.wait_for_selector("#queue tbody tr", timeout=ARRIVAL_TIMEOUT_MS)
        assert await page.evaluate("window.__sameDocument === true")
        async with httpx.AsyncClient() as public:
            categories = (await public.get(world.urls["tips"] + "/categories")).json()["categories"]
        theft = next(c["label_vi"] for c in categories if c["code"] == "theft")
        assert theft in await row.inner_text() and "theft" not in await row.inner_text()  # a name, never the code
        tip_id = await row.get_attribute("data-tip")
        await look(page, "tips")

        await page.click(f"#queue a[href='/tips/{tip_id}']")
        await page.wait_for_url(f"{console}/tips/{tip_id}")
        assert "Mất trộm hai máy tính" in await page.inner_text("#description")
        assert "giờ Việt Nam" in await page.inner_text("#deadlines")
        await look(page, "tip")

        # A reveal without a reason is refused next to its control, in Vietnamese, keeping what was typed.
        await page.click("#do-reveal")
        assert "lý do" in await page.inner_text("#error-reveal")
        await page.fill("#reveal-reason", "ngắn")
        await page.click("#do-reveal")
        assert "lý do" in await page.inner_text("#error-reveal")
        assert await page.input_value("#reveal-reason") == "ngắn"
        assert await page.query_selector("#revealed") is None
        await look(page, "tip-refused")

        # The officer replies; the reporter reads the reply with the receipt on the public follow-up page.
        await page.fill("#form-message textarea[name=text]", REPLY)
        await page.click("#send-message")
        await page.wait_for_selector("#notice")
        assert REPLY in await page.inner_text("#messages")
        await reporter.goto(world.urls["tips"] + "/follow-up")
        await reporter.fill("#receipt", receipt)
        await reporter.click("#look-up")
        assert REPLY in await reporter.inner_text("#messages")

        # An officer of another area never sees the tip: not in the queue, refused on its page.
        other = await new_page(browser)
        await sign_in(other, world, "officer01")
        assert await other.query_selector(f"tr[data-tip='{tip_id}']") is None
        assert await other.inner_text("#empty")
        response = await other.goto(f"{console}/tips/{tip_id}")
        assert response.status == 403 and "địa bàn" in await other.inner_text("#error")

        await page.goto(console + "/inbox")
        await look(page, "inbox")
        await page.goto(console + "/me/preferences?lang=en")
        assert await page.evaluate("document.documentElement.lang") == "en"
        await look(page, "preferences")

        # Sign-out ends the session on the server: the old cookie no longer opens anything.
        cookie = next(c["value"] for c in await page.context.cookies() if c["name"] == "antq_console_session")
        await page.click("#sign-out")
        await page.wait_for_url(console + "/login?out=1")
        await page.goto(console + "/tips")
        assert page.url == console + "/login"
        async with httpx.AsyncClient(base_url=console, cookies={"antq_console_session": cookie}) as old:
            assert (await old.get("/tips")).headers["location"] == "/login"
