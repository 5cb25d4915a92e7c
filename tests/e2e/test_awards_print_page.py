"""The printable certificate page in headless Chromium (Playwright driving /usr/bin/chromium): every label sits
beside its own value, on a wide screen, on a phone (390 px) and printed on A4, and the page passes axe-core."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.awards.app import build
from shared.settings import Settings
from tests.console_world import over_http
from tests.e2e.test_console_web import chromium, look, new_page

pytestmark = pytest.mark.browser

# For every <dt>: its box, the box of the <dd> that follows it, and the top of the next <dt>.
ROWS = """() => [...document.querySelectorAll('.grid dl dt')].map((dt) => {
  const dd = dt.nextElementSibling;
  const next = dd && dd.nextElementSibling;
  const box = (el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left,
                                                                        right: r.right}; };
  return {label: dt.textContent.trim(), value: dd && dd.tagName === 'DD' ? dd.textContent.trim() : null,
          dt: box(dt), dd: dd ? box(dd) : null, nextTop: next ? next.getBoundingClientRect().top : null};
})"""


def _misaligned(rows: list[dict[str, Any]]) -> list[str]:
    wrong = []
    for row in rows:
        dt, dd = row["dt"], row["dd"]
        if row["value"] is None or dd is None:
            wrong.append(f"{row['label']}: no value follows")
        elif abs(dt["top"] - dd["top"]) > 3:
            wrong.append(f"{row['label']}: label at {dt['top']:.0f}px, its value {row['value']!r} at {dd['top']:.0f}px")
        elif dd["left"] < dt["right"] - 1:
            wrong.append(f"{row['label']}: value {row['value']!r} is not beside the label")
        elif row["nextTop"] is not None and row["nextTop"] < max(dt["bottom"], dd["bottom"]) - 1:
            wrong.append(f"{row['label']}: the next row overlaps this one")
    return wrong


async def test_each_label_of_the_printed_certificate_sits_beside_its_value(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str) -> None:
    service = build(settings_factory(awards_database_url=database_url("awards")))
    admin = {"Authorization": f"Bearer {service.tokens.issue(role='admin')}"}
    async with over_http(service) as base, httpx.AsyncClient(base_url=base) as http, chromium() as browser:
        r = await http.post("/awards", headers=admin, json={
            "award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": f"p-{uuid.uuid4().hex[:6]}",
            "recipient_name": "Nguyễn Thị Minh Khai", "year": 2026, "area_code": "01.00004"})
        assert r.status_code == 201, r.text
        award_id = r.json()["award_id"]
        for action, body in (("approve", {"decision_no": "1234/QĐ-UBND ngày 15/11/2026"}), ("grant", None)):
            r = await http.post(f"/awards/{award_id}/{action}", json=body, headers=admin)
            assert r.status_code == 200, r.text
        certificate_id = r.json()["certificate_id"]

        page = await new_page(browser)
        await page.goto(f"{base}/certificates/{certificate_id}/print")
        await look(page, "awards-certificate-print")
        labels = None
        for media, width in (("screen", 1280), ("screen", 390), ("print", 1123)):  # 1123 px: A4 landscape
            await page.emulate_media(media=media)
            await page.set_viewport_size({"width": width, "height": 900})
            rows = await page.evaluate(ROWS)
            assert len(rows) == 8, rows
            assert _misaligned(rows) == [], (media, width)
            labels = labels or {row["label"]: row["value"] for row in rows}
        assert labels is not None
        assert labels["Số quyết định / Decision"] == "1234/QĐ-UBND ngày 15/11/2026"
        assert labels["Mã chứng nhận / ID"] == certificate_id
        assert labels["Trạng thái / Status"].startswith("Còn hiệu lực")
