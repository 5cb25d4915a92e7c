"""Leaders and admins in the console, in headless Chromium (Debian's /usr/bin/chromium): a unit recognised two years
running through the units API gets its Giấy khen proposal; the commune's leader sees it with its dossier, approves
it with a decision number and date, grants it and opens the printable certificate; a proposal of the province is
above that leader's level and its approval is refused. An admin creates, disables and resets an account and reads
the DLQ and the audit trails. Every page is screenshotted at 1280 and 390 px and checked with axe-core."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.settings import Settings
from shared.testing import eventually
from tests.console_world import World, console_world
from tests.e2e.test_awards_flow import Clock, _recognise
from tests.e2e.test_console_web import chromium, look, new_page, sign_in

pytestmark = pytest.mark.browser

AREA = "01.00004"
UNIT_NAME = "Công ty TNHH Điện tử Demo"


def _admin(world: World, service: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.services[service].tokens.issue(role='admin')}"}


async def _two_recognised_years(world: World) -> str:
    """A unit of the commune, recognised in 2025 and 2026 through the units API; returns its id."""
    units = world.services["units"]
    clock = Clock(datetime(2025, 2, 3, 2, 0, tzinfo=UTC))
    units.clock = clock
    headers = _admin(world, "units")
    async with httpx.AsyncClient(base_url=world.urls["units"], timeout=30) as http:
        r = await http.post("/units", headers=headers, json={
            "name": UNIT_NAME, "kind": "enterprise", "area_code": AREA, "external_key": f"MST-{uuid.uuid4().hex[:10]}"})
        assert r.status_code == 201, r.text
        unit_id = str(r.json()["unit_id"])
        await _recognise(http, headers, unit_id, 2025)
        clock.now = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)
        await _recognise(http, headers, unit_id, 2026, submit=False)
    return unit_id


async def _proposal(world: World, unit_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=world.urls["awards"], timeout=30) as http:
        async def found() -> list[dict[str, Any]]:
            r = await http.get("/awards", params={"recipient_ref": unit_id}, headers=_admin(world, "awards"))
            return list(r.json()["items"])

        items = await eventually(found, timeout=20, what="the awards service's proposal")
    assert len(items) == 1
    return items[0]


async def test_a_leader_approves_the_proposal_of_two_recognised_years_and_prints_its_certificate(
        settings_factory: Callable[..., Settings]) -> None:
    async with console_world(settings_factory, also=("units", "awards")) as world, chromium() as browser:
        console = world.urls["console"]
        unit_id = await _two_recognised_years(world)
        award = await _proposal(world, unit_id)
        assert (award["award_type"], award["status"]) == ("giay_khen", "proposed")
        await world.add("lanhdao", role="leader", area=AREA, level=award["level"])
        async with httpx.AsyncClient(base_url=world.urls["awards"]) as http:
            r = await http.post("/awards", headers=_admin(world, "awards"), json={
                "award_type": "bang_khen_province", "recipient_kind": "person", "recipient_ref": "cb-0042",
                "recipient_name": "Trần Văn Cường", "year": 2026, "area_code": AREA, "level": "province"})
            assert r.status_code == 201, r.text
            above = r.json()

        page = await new_page(browser)
        await sign_in(page, world, "lanhdao", lands="/awards")  # a leader's main page
        row = await page.wait_for_selector(f"tr[data-award='{award['award_id']}']")
        text = await row.inner_text()
        assert "Giấy khen" in text and UNIT_NAME in text and "giay_khen" not in text
        assert await page.query_selector(f"tr[data-award='{above['award_id']}']") is None
        await look(page, "awards")

        await page.click(f"tr[data-award='{award['award_id']}'] a")
        await page.wait_for_url(f"{console}/awards/{award['award_id']}")
        assert await page.inner_text("#recipient") == UNIT_NAME
        recognitions = await page.inner_text("#recognitions")
        assert "2025" in recognitions and "2026" in recognitions and "2025/QĐ-UBND" in recognitions
        assert award["rule_version"] in await page.inner_text("#rule-version")
        assert await page.inner_text("#quota")
        await look(page, "award")

        await page.fill("#decision-no", "45/QĐ-UBND")
        await page.fill("#decided-on", "2026-12-01")
        await page.click("#do-approve")
        await page.wait_for_selector("#notice")
        assert "45/QĐ-UBND" in await page.inner_text("#decision")
        assert "01/12/2026" in await page.inner_text("#decision")
        await page.click("#do-grant")
        await page.wait_for_selector("#print")
        await look(page, "award-granted")
        await page.click("#print")
        await page.wait_for_url(f"{console}/awards/{award['award_id']}/certificate")
        sheet = await page.inner_text("body")
        assert UNIT_NAME in sheet and "45/QĐ-UBND" in sheet and "Còn hiệu lực" in sheet
        assert re.search(r"Ngày cấp / Issued\s+\d\d/\d\d/20\d\d", sheet)  # the day in Vietnam, as written there
        # The stylesheet came through the console (the page's layout, not the browser's default).
        assert await page.evaluate("getComputedStyle(document.querySelector('.sheet')).maxWidth") != "none"
        await look(page, "certificate")

        # A proposal of the province is above this leader: the page says so and the approval is refused.
        response = await page.goto(f"{console}/awards/{above['award_id']}")
        assert response.status == 200 and await page.inner_text("#above-level")
        await page.fill("#decision-no", "12/QĐ-UBND")
        await page.click("#do-approve")
        assert "cấp trên" in await page.inner_text("#error-approve")
        assert await page.input_value("#decision-no") == "12/QĐ-UBND"
        await look(page, "award-refused")
        async with httpx.AsyncClient(base_url=world.urls["awards"]) as http:
            still = (await http.get(f"/awards/{above['award_id']}", headers=_admin(world, "awards"))).json()
        assert still["status"] == "proposed"


async def test_an_admin_manages_accounts_and_reads_the_dlq_and_the_audit_trails(
        settings_factory: Callable[..., Settings]) -> None:
    async with console_world(settings_factory, also=("awards",)) as world, chromium() as browser:
        console = world.urls["console"]
        await world.add("quantri", role="admin", area=None)
        page = await new_page(browser)
        await sign_in(page, world, "quantri")
        await page.click("nav a[href='/admin/accounts']")
        await page.wait_for_url(console + "/admin/accounts")
        await look(page, "admin-accounts")

        await page.fill("#new-username", "can.bo.moi")
        await page.select_option("#new-role", "officer")
        await page.fill("#new-area", "79")
        await page.click("#create")
        await page.wait_for_selector("#new-password")
        assert "can.bo.moi" in await page.inner_text("#notice")
        await look(page, "admin-created")
        row = "tr[data-account='can.bo.moi']"
        await page.click(f"{row} summary")
        await page.click(f"{row} button[value=disable]")
        await page.wait_for_selector("#notice")
        assert await page.inner_text(f"{row} .state") == "Đã vô hiệu hoá"
        await page.click(f"{row} summary")
        await page.click(f"{row} button[value=reset]")
        await page.wait_for_selector("#new-password")
        assert len(await page.inner_text("#new-password")) >= 20

        await page.goto(console + "/admin/dlq")
        assert await page.query_selector("#dlq-awards")
        await look(page, "admin-dlq")
        async with httpx.AsyncClient(base_url=world.urls["awards"]) as http:
            r = await http.post("/awards", headers=_admin(world, "awards"), json={
                "award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": "cb-7",
                "recipient_name": "Phạm Thị Dung", "year": 2026, "area_code": AREA, "level": "commune"})
            assert r.status_code == 201, r.text
        await page.goto(console + "/admin/audit?service=awards")
        assert "Đề nghị khen thưởng" in await page.inner_text("#trail")
        await look(page, "admin-audit")
        await page.click("#only-reveals")
        await page.wait_for_selector("#empty")
