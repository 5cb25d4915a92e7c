"""The officers' registry and workboard in headless Chromium: the commune officer finds the dossiers awaiting
appraisal on the year's workboard, appraises two at once (a third, with a disqualifying incident, is refused by
name), records the People's Committee decision, searches the registry, opens a unit's page and imports a list
with its per-row report; an officer of another commune sees none of it. Every page is screenshotted at 1280 and
390 px and checked with axe-core, as the console's other browser tests do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from services.console.domain import unit_imports
from services.units.app import build as build_units
from shared.calendar import assessment_year_of
from shared.db import utcnow
from shared.settings import Settings
from shared.testing import free_port
from tests.console_world import World, console_world, over_http
from tests.e2e.test_console_web import chromium, look, new_page, sign_in
from tests.integration.units.test_units_cycle_api import drive
from tests.integration.units.units_support import Clock, Harness

pytestmark = pytest.mark.browser

BEN_THANH, OTHER_COMMUNE = "79.26743", "79.26737"


@contextlib.asynccontextmanager
async def units_world(settings_factory: Callable[..., Settings]) -> AsyncIterator[tuple[World, Harness]]:
    """The console world with a real units service behind it, and an admin's client of that service."""
    port = free_port()
    async with console_world(settings_factory, console_units_url=f"http://127.0.0.1:{port}") as world:
        units = build_units(world.settings)
        async with over_http(units, port) as base, httpx.AsyncClient(base_url=base) as http:
            yield world, Harness(service=units, http=http, clock=Clock(utcnow()), nats_url=world.settings.nats_url,
                                 namespace=world.settings.namespace)


async def test_the_commune_officer_appraises_and_decides_from_the_workboard(
        settings_factory: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unit_imports, "CHUNK_ROWS", 2)  # the three-row file goes to the units service in two parts
    async with units_world(settings_factory) as (world, h), chromium() as browser:
        year = assessment_year_of(utcnow())
        a = await h.create_unit(name="Công ty TNHH Bến Nghé", area_code=BEN_THANH)
        b = await h.create_unit(name="Trường THCS Văn Lang", kind="school", area_code=BEN_THANH)
        c = await h.create_unit(name="Công ty Cổ phần Chợ Lớn", area_code=BEN_THANH)
        await h.create_unit(name="Công ty Sài Gòn Xanh", area_code=BEN_THANH)  # not registered this year
        far = await h.create_unit(name="Công ty Ngoài Phường", area_code=OTHER_COMMUNE)
        for unit in (a, b, c, far):
            await drive(h, unit["unit_id"], "submitted", year)
        r = await h.http.post(f"/units/{c['unit_id']}/incidents", headers=h.admin, json={
            "category": "high_value_theft", "occurred_at": utcnow().isoformat(), "description": "biên bản"})
        assert r.status_code == 201, r.text
        await world.add("cabo_benthanh", area=BEN_THANH)
        await world.add("cabo_khac", area=OTHER_COMMUNE)
        console = world.urls["console"]
        page = await new_page(browser)
        await sign_in(page, world, "cabo_benthanh")

        # The workboard: every in-scope unit of the ward, by name, with its dossier state and what it awaits.
        await page.click("nav a[href='/cycles']")
        await page.wait_for_url(console + "/cycles")
        rows = await page.locator("#board tbody tr").all_inner_texts()
        assert len(rows) == 4 and "Công ty Ngoài Phường" not in " ".join(rows)
        assert "Chưa đăng ký" in next(r for r in rows if "Sài Gòn Xanh" in r)
        assert "Có vụ việc loại trừ" in next(r for r in rows if "Chợ Lớn" in r)
        assert "Phường Bến Thành" in await page.inner_text("#count")
        assert "Chờ thẩm định: 3" in await page.inner_text("#counts")
        await look(page, "workboard")

        await page.select_option("#f-show", "awaiting_appraisal")
        await page.click("#apply-filters")
        assert await page.locator("#board tbody tr").count() == 3
        for unit in (a, b, c):
            await page.check(f"tr[data-unit='{unit['unit_id']}'] input[type=checkbox]")
        await page.check("#rec-yes")
        await page.click("#do-appraise")
        notice = await page.inner_text("#notice")
        assert "Đã thẩm định 2 hồ sơ" in notice and "Công ty Cổ phần Chợ Lớn: Có vụ việc loại trừ" in notice, notice
        await look(page, "workboard-appraised")

        # The People's Committee decision for the two appraised dossiers, with its number.
        await page.goto(console + "/cycles?show=awaiting_decision")
        assert await page.locator("#board tbody tr").count() == 2
        await page.check(f"tr[data-unit='{a['unit_id']}'] input[type=checkbox]")
        await page.check(f"tr[data-unit='{b['unit_id']}'] input[type=checkbox]")
        await page.check("#rc-yes")
        await page.click("#do-decide")
        assert "số quyết định" in await page.inner_text("#error")  # no number yet: refused on the page
        await page.check(f"tr[data-unit='{a['unit_id']}'] input[type=checkbox]")
        await page.check(f"tr[data-unit='{b['unit_id']}'] input[type=checkbox]")
        await page.check("#rc-yes")
        await page.fill("#decision-no", "125/QĐ-UBND")
        await page.click("#do-decide")
        assert "Đã ghi quyết định cho 2 hồ sơ" in await page.inner_text("#notice")
        cycle = (await h.http.get(f"/units/{a['unit_id']}/cycles/{year}", headers=h.admin)).json()
        assert cycle["state"] == "recognised" and cycle["decision"]["decision_no"] == "125/QĐ-UBND"

        # The registry: search by name, open the unit's page with its years and incidents.
        await page.click("nav a[href='/units']")
        await page.fill("#f-q", "cho lon")
        await page.click("#search")
        assert await page.locator("#units tbody tr").all_inner_texts() == [
            "Công ty Cổ phần Chợ Lớn\tDoanh nghiệp\tPhường Bến Thành, Thành phố Hồ Chí Minh\tThuộc phạm vi"]
        await look(page, "units")
        await page.click(f"#units a[href='/units/{c['unit_id']}']")
        assert "Mất trộm tài sản có giá trị lớn" in await page.inner_text("#incidents")
        assert f"{year}\tĐã gửi hồ sơ" in await page.inner_text("#years")  # its recommendation was refused
        await look(page, "unit")

        # Bulk import: the progress bar, then every row's result with its line in the file.
        listing = tmp_path / "don-vi.csv"
        listing.write_text("name,kind,area_code,external_key\n"
                           "Công ty Mới Một,enterprise,79.26743,BT-001\n"
                           "Công ty Sai Loại,factory,79.26743,BT-002\n"
                           "Công ty Mới Hai,enterprise,79.26743,BT-003\n", encoding="utf-8")
        await page.goto(console + "/units-import")
        await look(page, "units-import")
        await page.set_input_files("#file", str(listing))
        await page.click("#start-import")
        await page.wait_for_selector("#import-state:has-text('Đã nhập xong')", timeout=15_000)
        assert await page.get_attribute("#progress", "value") == "3"
        assert "Thêm mới 2" in await page.inner_text("#import-counts")
        assert await page.locator("#import-rows tbody tr").count() == 3
        first = await page.locator("#import-rows tbody tr").first.inner_text()
        assert first.startswith("3\tCông ty Sai Loại\tBị từ chối\tLoại hình: "), first
        last = await page.locator("#import-rows tbody tr").last.inner_text()
        assert last.startswith("4\tCông ty Mới Hai\tThêm mới"), last  # its line in the file, from the 2nd part
        await look(page, "units-import-report")

        # A batch or an import without the session's CSRF token is refused, and nothing moves.
        cookie = next(c["value"] for c in await page.context.cookies() if c["name"] == "antq_console_session")
        async with httpx.AsyncClient(base_url=console, cookies={"antq_console_session": cookie}) as forged:
            r = await forged.post("/cycles", data={"csrf": "forged", "step": "decide", "year": str(year),
                                                   "area": BEN_THANH, "unit_id": c["unit_id"], "recognized": "no"})
            assert r.status_code == 403
            r = await forged.post("/units-import", data={"csrf": "forged"},
                                  files={"file": ("x.csv", b"name,kind,area_code\nA,enterprise,79.26743\n")})
            assert r.status_code == 403
        cycle = (await h.http.get(f"/units/{c['unit_id']}/cycles/{year}", headers=h.admin)).json()
        assert cycle["state"] == "submitted"

        # An officer of another commune: none of it, on any page.
        other = await new_page(browser)
        await sign_in(other, world, "cabo_khac")
        await other.goto(console + "/cycles")
        assert "Bến" not in await other.inner_text("#board")
        response = await other.goto(console + f"/cycles?area={BEN_THANH}")
        assert response.status == 403 and "ngoài phạm vi" in await other.inner_text("#error")
        response = await other.goto(console + f"/units/{a['unit_id']}")
        assert response.status == 403 and "ngoài địa bàn" in await other.inner_text("#error")
        await other.goto(console + "/units?q=ben+nghe")
        assert await other.query_selector("#units") is None
