"""The certificate pages send the same security headers as the tip pages, and need nothing the policy forbids."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from services.awards.app import build as build_awards
from services.tips.app import build as build_tips
from shared.settings import Settings
from shared.testing import running

# The headers that make a page safe to open: the tips service's pages set them; every public page must.
SECURITY_HEADERS = ("content-security-policy", "cache-control", "referrer-policy", "x-content-type-options",
                    "x-frame-options", "permissions-policy", "cross-origin-opener-policy")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_certificate_pages_send_the_tip_pages_security_headers(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str]) -> None:
    settings = settings_factory(awards_database_url=database_url("awards"), tips_database_url=database_url("tips"))
    async with running(build_tips(settings)) as tips:
        tip_page = await tips.get("/")
    assert tip_page.status_code == 200
    expected = {name: tip_page.headers.get(name) for name in SECURITY_HEADERS}
    assert None not in expected.values(), expected
    assert "default-src 'self'" in expected["content-security-policy"]

    awards = build_awards(settings)
    async with running(awards) as http:
        admin = {"Authorization": f"Bearer {awards.tokens.issue(role='admin')}"}
        r = await http.post("/awards", headers=admin, json={
            "award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": f"staff-{uuid.uuid4().hex[:8]}",
            "recipient_name": "Trần Thị <b>Bình</b>", "year": 2026, "area_code": "79.26743"})
        assert r.status_code == 201, r.text
        award_id = r.json()["award_id"]
        assert (await http.post(f"/awards/{award_id}/approve", json={"decision_no": "1/QĐ"}, headers=admin)
                ).status_code == 200
        certificate_id = (await http.post(f"/awards/{award_id}/grant", headers=admin)).json()["certificate_id"]

        pages = [await http.get(f"/certificates/{certificate_id}/print"),
                 await http.get(f"/certificates/{certificate_id}", headers={"Accept": "text/html"})]
        for page in pages:
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert {name: page.headers.get(name) for name in SECURITY_HEADERS} == expected
            # The policy forbids inline styles and scripts: the page must not need them.
            assert "<style" not in page.text and 'style="' not in page.text and "<script" not in page.text
            assert "&lt;b&gt;Bình&lt;/b&gt;" in page.text
        css = await http.get("/static/certificate.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert css.headers["x-content-type-options"] == "nosniff" and ".sheet" in css.text
        # The JSON form of the certificate is not a page: it keeps its API headers.
        assert (await http.get(f"/certificates/{certificate_id}")).headers["content-type"] == "application/json"
