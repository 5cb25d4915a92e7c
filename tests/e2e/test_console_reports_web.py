"""The movement's report in headless Chromium, with the real units, tips and awards services behind the console.

Units, activities, a recognition, tips (one valuable) and a commendation are recorded through the services' own
HTTP APIs; an officer of the province opens `/reports`, downloads the XLSX and the PDF from the page, and the
files hold exactly the figures the services' `/stats` answer (the XLSX's data sheet key by key; the PDF's lines
with their Vietnamese labels); a leader of the province reads the same report; unit staff and an officer asking
for another province are refused. Every page is screenshotted at 1280 and 390 px and checked with axe-core.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from services.console.domain import reports
from shared.calendar import VN_TZ, assessment_year_of
from shared.db import utcnow
from shared.settings import Settings
from tests.console_world import PASSWORD, World, console_world
from tests.e2e.test_awards_flow import _recognise
from tests.e2e.test_console_web import chromium, look, new_page

pytestmark = pytest.mark.browser

COMMUNE = "79.26743"  # Phường Bến Thành, Thành phố Hồ Chí Minh


def _bearer(service: Any, role: str, **kw: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {service.tokens.issue(role=role, **kw)}"}


async def _seed(world: World, year: int) -> None:
    """Three units of one commune, one recognised this year; activities this year and the year before; two tips
    (one verified valuable); one individual commended."""
    assert world.units is not None and world.awards is not None
    admin = _bearer(world.units, "admin")
    today = utcnow().astimezone(VN_TZ).date()
    async with httpx.AsyncClient(base_url=world.urls["units"]) as units:
        ids = []
        for body in ({"name": "Sở Tư pháp", "kind": "agency"},
                     {"name": "Công ty TNHH Dệt may Sài Gòn", "kind": "enterprise", "size": "medium",
                      "tax_code": f"03{uuid.uuid4().int % 10**8:08d}", "models": ["Tổ công nhân tự quản"]},
                     {"name": "Trường THPT Trưng Vương", "kind": "school", "school_level": "upper_secondary",
                      "models": ["Trường học an toàn về an ninh, trật tự"]}):
            r = await units.post("/units", json={**body, "area_code": COMMUNE}, headers=admin)
            assert r.status_code == 201, r.text
            ids.append(r.json()["unit_id"])
        await _recognise(units, admin, ids[1], year)
        for unit_id, kind, held_on, people in (
                (ids[0], "propaganda_session", today, 120), (ids[2], "propaganda_session", today, 480),
                (ids[1], "commitment_drive", today, 300), (ids[2], "propaganda_session", today - timedelta(days=370),
                                                           250)):
            r = await units.post(f"/units/{unit_id}/activities", headers=admin,
                                 json={"kind": kind, "held_on": held_on.isoformat(), "participants": people,
                                       "title": "Tuyên truyền phòng, chống tội phạm"})
            assert r.status_code == 201, r.text
    officer = _bearer(world.tips, "officer", area="79")
    async with httpx.AsyncClient(base_url=world.urls["tips"]) as tips:
        tip_ids = []
        for text in ("Mất trộm hai máy tính ở phòng kế toán", "Nghi vấn lừa đảo tuyển dụng qua mạng"):
            r = await tips.post("/tips", json={"category": "theft", "description": text, "area_code": COMMUNE,
                                               "anonymous": True})
            assert r.status_code == 202, r.text
            tip_ids.append(r.json()["tip_id"])
        for path, body in (("triage", {"category": "theft", "priority": "normal"}), ("begin-verification", None),
                           ("verify", {"outcome": "prosecuted", "valuable": True})):
            r = await tips.post(f"/tips/{tip_ids[0]}/{path}", json=body, headers=officer)
            assert r.status_code == 200, (path, r.text)
    admin_awards = _bearer(world.awards, "admin")
    async with httpx.AsyncClient(base_url=world.urls["awards"]) as awards:
        r = await awards.post("/awards", headers=admin_awards, json={
            "award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": f"p-{uuid.uuid4().hex[:6]}",
            "recipient_name": "Lê Thị Hoa", "year": year, "area_code": COMMUNE})
        assert r.status_code == 201, r.text
        for action, body in (("review", None), ("approve", {"decision_no": "15/QĐ-CAT"})):
            r = await awards.post(f"/awards/{r.json()['award_id']}/{action}", json=body, headers=admin_awards)
            assert r.status_code == 200, (action, r.text)


async def _stats(world: World, year: int, area: str) -> dict[str, int | float]:
    """Every figure of the three services' `/stats` for one year and area, asked directly with an officer's token."""
    flat: dict[str, int | float] = {}
    for source in reports.SOURCES:
        service = getattr(world, source)
        async with httpx.AsyncClient(base_url=world.urls[source]) as http:
            r = await http.get("/stats", params={"year": year, "area_code": area},
                               headers=_bearer(service, "officer", area="79"))
            assert r.status_code == 200, r.text
            flat.update(reports.flatten(source, r.json()))
    return flat


async def _sign_in(page: Any, world: World, username: str) -> None:
    await page.goto(world.urls["console"] + "/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#sign-in")
    await page.wait_for_load_state()


async def _download(page: Any, selector: str) -> bytes:
    async with page.expect_download() as waiting:
        await page.click(selector)
    download = await waiting.value
    return Path(await download.path()).read_bytes()


async def test_an_officer_exports_the_report_and_its_files_hold_the_figures_of_stats(
        settings_factory: Callable[..., Settings]) -> None:
    async with console_world(settings_factory, also=("units", "awards")) as world, chromium() as browser:
        year = assessment_year_of(utcnow())
        await _seed(world, year)
        await world.add("officer79", area="79")
        await world.add("leader79", role="leader", area="79", level="province")
        await world.add("unit.staff", role="unit", area=None, unit="u-anything")
        await world.add("officer01", area="01")
        console = world.urls["console"]
        page = await new_page(browser)
        await _sign_in(page, world, "officer79")
        await page.click("nav a[href='/reports']")
        await page.wait_for_url(console + "/reports")
        assert await page.input_value("#r-year") == str(year)
        await page.select_option("#r-area", "79")
        await page.click("#show-report")
        await page.wait_for_selector("#report")
        # When the units service computed the figures, in Vietnam time.
        assert re.fullmatch(r"Số liệu lúc \d\d:\d\d \d\d/\d\d/\d{4} \(giờ Việt Nam, UTC\+7\)",
                            (await page.inner_text("#figures-at")).strip())

        current, previous = await _stats(world, year, "79"), await _stats(world, year - 1, "79")
        # What the seed recorded is what the services count, and what the page shows.
        assert current["units.units.in_scope"] == 3 and current["units.cycles.recognised"] == 1
        assert current["units.activities.propaganda_sessions"] == 2
        assert current["units.activities.propaganda_participants"] == 600
        assert previous["units.activities.propaganda_participants"] == 250
        assert (current["tips.received"], current["tips.valuable"]) == (2, 1)
        assert (current["awards.individuals.approved"], current["awards.collectives.approved"]) == (1, 0)
        for key in ("units.units.in_scope", "units.activities.propaganda_participants", "tips.valuable",
                    "awards.individuals.approved"):
            cell = page.locator(f"tr[data-key='{key}'] td").first
            assert await cell.get_attribute("data-value") == str(current[key])
        participants = await page.inner_text("tr[data-key='units.activities.propaganda_participants']")
        assert "600" in participants and "250" in participants and "+350" in participants
        assert await page.query_selector("#chart-activities title")  # the chart names itself for screen readers
        theft = await page.inner_text("tr[data-key='tips.by_category.theft'] th")
        assert "theft" not in theft  # a category's name, never its code
        await look(page, "reports")

        # The XLSX: the data sheet holds every number of /stats by key, for both years, exactly.
        book = load_workbook(io.BytesIO(await _download(page, "#export-xlsx")))
        assert book.sheetnames == ["Báo cáo", "Số liệu"]
        data = {row[0]: (row[1], row[2]) for row in book["Số liệu"].iter_rows(min_row=2, values_only=True)}
        assert set(data) == set(current) | set(previous)
        for key, (now, before) in data.items():
            assert (now, before) == (current.get(key), previous.get(key)), key
        sheet = {row[1].strip(): row[2:4] for row in book["Báo cáo"].iter_rows(values_only=True)
                 if len(row) > 3 and isinstance(row[1], str) and isinstance(row[0], int)}
        assert sheet["Lượt người tham dự tuyên truyền"] == (600, 250)
        assert sheet["Tin có giá trị"][0] == 1
        assert sheet["Cá nhân được khen thưởng"][0] == 1
        assert sheet["Đơn vị được công nhận đạt chuẩn “An toàn về ANTT”"][0] == 1

        # The PDF: a police summary report, its Vietnamese words intact, each figure on its label's line.
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(await _download(page, "#export-pdf"))).pages)
        assert "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text and "CÔNG AN THÀNH PHỐ HỒ CHÍ MINH" in text
        assert re.search(r"BÁO CÁO (SƠ|TỔNG) KẾT", text)
        assert "Phong trào toàn dân bảo vệ an ninh Tổ quốc" in text
        lines = text.splitlines()
        for label, key in (("Lượt người tham dự tuyên truyền", "units.activities.propaganda_participants"),
                           ("Tin báo, tố giác tiếp nhận", "tips.received"), ("Tin có giá trị", "tips.valuable"),
                           ("Cá nhân được khen thưởng", "awards.individuals.approved"),
                           ("Đơn vị có mô hình", "units.models.units_with_model")):
            line = next(line for line in lines if label in line)
            figures = line.split(label, 1)[1].split()
            assert figures[:2] == [reports.number(current[key], "vi"), reports.number(previous.get(key), "vi")], line

        # English, on a phone.
        await page.goto(console + f"/reports?year={year}&area=79&lang=en")
        assert "Valuable tips" in await page.inner_text("#section-tips")
        await look(page, "reports-en")

        # Another province is refused by the console before any service is asked.
        response = await page.goto(console + f"/reports?year={year}&area=01")
        assert response.status == 403 and "ngoài phạm vi" in await page.inner_text("#error")
        response = await page.goto(console + f"/reports/report.xlsx?year={year}&area=01")
        assert response.status == 403 and "ngoài phạm vi" in await page.inner_text("#error")
        response = await page.goto(console + "/reports?year=abc")
        assert response.status == 400 and await page.inner_text("#error")
        await look(page, "reports-refused")

        # A provincial leader reads the same figures (the services let leaders read their area's /stats).
        leader = await new_page(browser)
        await _sign_in(leader, world, "leader79")
        await leader.goto(console + f"/reports?year={year}&area=79")
        cell = leader.locator("tr[data-key='tips.valuable'] td").first
        assert await cell.get_attribute("data-value") == "1"

        # Unit staff have no report page, nor its exports.
        staff = await new_page(browser)
        await _sign_in(staff, world, "unit.staff")
        assert await staff.query_selector("nav a[href='/reports']") is None
        response = await staff.goto(console + "/reports")
        assert response.status == 403
        response = await staff.goto(console + "/reports/report.xlsx")
        assert response.status == 403
