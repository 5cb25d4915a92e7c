"""The unit desk in headless Chromium: a unit's staff sign in, see and edit their unit's profile, report an
activity, register the year, upload evidence for a criterion (a refused type is named on the page), score every
criterion, self-assess and send the dossier; the evidence downloads as it was uploaded; the account cannot open
another unit's page. Every page is checked with axe-core and screenshotted at 1280 and 390 px (as
test_console_web.py does)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from shared.calendar import VN_TZ, assessment_year_of
from shared.db import utcnow
from shared.settings import Settings
from tests.console_world import PASSWORD, console_world
from tests.e2e.test_console_web import chromium, look, new_page

pytestmark = pytest.mark.browser

MAX = 256 * 1024  # the largest evidence file in this test
PDF = b"%PDF-1.7\n" + "Nghị quyết chi bộ về đăng ký phấn đấu".encode() * 300 + b"\n%%EOF\n"


async def test_a_unit_uploads_evidence_self_assesses_and_sends_its_dossier_and_sees_only_its_unit(
        settings_factory: Callable[..., Settings]) -> None:
    async with console_world(settings_factory, also=("units",), units_evidence_max_bytes=MAX) as world, \
            chromium() as browser:
        console = world.urls["console"]
        ours = await world.add_unit("Công ty TNHH Cơ khí Bến Thành", address="12 Lê Lợi, Phường Bến Thành",
                               head_of_unit={"name": "Nguyễn Văn An", "title": "Giám đốc"},
                               security_focal={"name": "Trần Thị Bình", "phone": "0901234567"},
                               security_force_full_time=3, security_force_part_time=5,
                               models=["Tổ tự quản an ninh trật tự"])
        theirs = await world.add_unit("Công ty Cổ phần Dệt may Sài Gòn")
        await world.add("staff.benthanh", role="unit", area=None, unit=ours)
        year = assessment_year_of(utcnow().astimezone(VN_TZ))
        page = await new_page(browser)

        # Sign-in lands on the unit's own page: its profile by name, never an id.
        await page.goto(console + "/login")
        await page.fill("#username", "staff.benthanh")
        await page.fill("#password", PASSWORD)
        await page.click("#sign-in")
        await page.wait_for_url(console + "/me")
        profile = await page.inner_text("#profile")
        assert "Công ty TNHH Cơ khí Bến Thành" in profile and "Nguyễn Văn An" in profile
        assert "Trần Thị Bình" in profile and "Tổ tự quản an ninh trật tự" in profile and ours not in profile
        assert "Phường Bến Thành" in profile
        await look(page, "unit-desk")

        # The staff keep their profile current: address, contacts, security staff, models.
        await page.click("#edit-profile summary")
        await page.fill("#p-address", "14 Lê Lợi, Phường Bến Thành")
        await page.fill("#p-full", "4")
        await page.fill("#p-models", "Tổ tự quản an ninh trật tự\nCamera an ninh cổng xưởng")
        await page.click("#save-profile")
        await page.wait_for_selector("#notice")
        assert await page.inner_text("#address") == "14 Lê Lợi, Phường Bến Thành"
        assert "Camera an ninh cổng xưởng" in await page.inner_text("#models")
        assert "4 chuyên trách" in await page.inner_text("#headcount")
        assert "Nguyễn Văn An" in await page.inner_text("#head")  # untouched fields stay

        # An activity reported on the page appears in the year's list.
        await page.select_option("#activity-kind", "propaganda_session")
        await page.fill("#activity-title", "Tuyên truyền phòng chống cháy nổ")
        await page.fill("#activity-participants", "45")
        await page.click("#report-activity")
        await page.wait_for_selector("#notice")
        assert "Tuyên truyền phòng chống cháy nổ" in await page.inner_text("#activity-list")

        # The year's dossier: register, then criterion by criterion with the framework's wording.
        await page.click("#open-dossier")
        await page.wait_for_url(f"{console}/me/dossier?year={year}")
        await page.click("#register")
        await page.wait_for_selector("#criteria")
        codes = [await li.get_attribute("data-criterion") for li in await page.query_selector_all(
            "li.criterion:has(form.score)")]
        assert codes
        first = codes[0]
        ids = {str(code): str(code).replace(".", "_") for code in codes}  # element ids: the code without dots
        one = ids[first]
        assert "nghị quyết của cấp ủy" in (await page.inner_text(f"#h-{one}")).lower()
        await look(page, "unit-dossier")

        # A refused type is named, with the accepted ones, next to the criterion's controls.
        await page.set_input_files(f"#file-{one}", files=[{
            "name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ\x90\x00" + b"\x00" * 200}])
        await page.click(f"#upload-{one}")
        refused = await page.inner_text(f"#error-{one}")
        assert "application/x-msdownload" in refused and "PDF" in refused and "Không nhận" in refused
        await look(page, "unit-dossier-refused")

        # A file over the limit is stopped in the browser with the server's sentence, before it is sent.
        await page.set_input_files(f"#file-{one}", files=[{
            "name": "Ảnh chụp lớn.pdf", "mimeType": "application/pdf", "buffer": PDF + b"0" * MAX}])
        assert await page.eval_on_selector(f"#file-{one}", "e => e.validationMessage") == \
            "Tệp quá lớn: tối đa 256 KB mỗi tệp."
        assert await page.eval_on_selector(f"#file-{one}", "e => e.form.checkValidity()") is False

        await page.set_input_files(f"#file-{one}", files=[{
            "name": "Nghị quyết chi bộ 2026.pdf", "mimeType": "application/pdf", "buffer": PDF}])
        await page.click(f"#upload-{one}")
        await page.wait_for_selector(f"#evidence-{one} a")
        link = await page.query_selector(f"#evidence-{one} a")
        assert link is not None and await link.inner_text() == "Nghị quyết chi bộ 2026.pdf"
        href = await link.get_attribute("href")

        for code in codes:
            await page.check(f"#r-{ids[code]}-met")
            await page.click(f"#save-{ids[code]}")
            await page.wait_for_selector("#notice")
            assert await page.inner_text(f"#result-{ids[code]}") == "Đạt"
        await page.click("#self-assess")
        await page.wait_for_selector("#submit-dossier")
        assert "Đã tự đánh giá" in await page.inner_text("#dossier-state")
        await page.click("#submit-dossier")
        await page.wait_for_selector("#notice")
        assert "chờ Công an thẩm định" in await page.inner_text("#dossier-state")
        assert await page.query_selector(f"#file-{one}") is None  # no more uploads once sent
        await look(page, "unit-dossier-sent")

        # The evidence downloads through the console as it was uploaded, and the cycle holds it as evidence.
        cookie = next(c["value"] for c in await page.context.cookies() if c["name"] == "antq_console_session")
        async with httpx.AsyncClient(base_url=console, cookies={"antq_console_session": cookie}) as browser_like:
            got = await browser_like.get(str(href))
            assert got.status_code == 200 and got.content == PDF
            assert got.headers["content-disposition"].startswith("attachment")
        assert world.units is not None
        staff = {"Authorization": "Bearer " + world.units.tokens.issue(role="unit", unit=ours)}
        async with httpx.AsyncClient(base_url=world.urls["units"]) as client:
            cycle = (await client.get(f"/units/{ours}/cycles/{year}", headers=staff)).json()
            assert cycle["state"] == "submitted" and len(cycle["criteria"][first]["evidence"]) == 1
            assert (await client.get(f"/units/{theirs}", headers=staff)).status_code == 403

        # Another unit's page is not for this account: refused, and its name is never shown.
        for path in (f"/units/{theirs}", f"/units/{theirs}/cycles/{year}"):
            response = await page.goto(console + path)
            assert response is not None and response.status in (403, 404)
            assert "Dệt may Sài Gòn" not in await page.content()
        await page.goto(console + "/me?lang=en")
        assert await page.evaluate("document.documentElement.lang") == "en"
        assert "Dệt may Sài Gòn" not in await page.content()
        await look(page, "unit-desk-en")
