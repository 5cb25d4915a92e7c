"""Leaders' and admins' console pages over HTTP with the real awards (and tips, units) services behind them:
approval at the leader's level only, batch approval with per-row refusals, the dossier's quota and rule version;
accounts created, disabled, reset and rescoped by an admin; the read-only DLQ and audit trail views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.console.web import awards as award_views
from shared.contracts.events import TipReceived
from shared.settings import Settings
from shared.testing import eventually
from tests.console_world import PASSWORD, World, console_world, csrf_of, sign_in
from tests.integration.spine.helpers import publish_raw

AREA = "01.00004"


def _browser(world: World) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=world.urls["console"], timeout=30)


async def _nominate(world: World, award_type: str, name: str, level: str) -> dict[str, Any]:
    awards = world.services["awards"]
    headers = {"Authorization": f"Bearer {awards.tokens.issue(role='admin')}"}
    async with httpx.AsyncClient(base_url=world.urls["awards"]) as http:
        r = await http.post("/awards", headers=headers, json={
            "award_type": award_type, "recipient_kind": "person", "recipient_ref": f"cb-{name}",
            "recipient_name": name, "year": 2026, "area_code": AREA, "proposer": "police", "level": level,
            "evidence": ["ho-so.pdf"]})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _award(world: World, award_id: str) -> dict[str, Any]:
    awards = world.services["awards"]
    headers = {"Authorization": f"Bearer {awards.tokens.issue(role='admin')}"}
    async with httpx.AsyncClient(base_url=world.urls["awards"]) as http:
        return dict((await http.get(f"/awards/{award_id}", headers=headers)).json())


async def test_a_commune_leader_approves_at_the_commune_level_only_one_by_one_and_in_a_batch(
        settings_factory: Callable[..., Settings]) -> None:
    async with console_world(settings_factory, also=("awards",)) as world, _browser(world) as b:
        await world.add("lanhdao.xa", role="leader", area=AREA, level="commune")
        mine = await _nominate(world, "giay_khen", "Nguyễn Văn An", "commune")
        also_mine = await _nominate(world, "giay_khen", "Lê Thị Bình", "commune")
        above = await _nominate(world, "bang_khen_province", "Trần Văn Cường", "province")
        await sign_in(b, "lanhdao.xa")
        assert (await b.get("/")).headers["location"] == "/awards"  # a leader's main page

        listing = await b.get("/awards")
        assert listing.status_code == 200
        assert "Nguyễn Văn An" in listing.text and "Giấy khen" in listing.text and "giay_khen" not in listing.text
        assert above["award_id"] not in listing.text  # the province's proposal is not awaiting this leader

        page = await b.get(f"/awards/{mine['award_id']}")
        assert 'id="rule-version"' in page.text and mine["rule_version"] in page.text
        assert 'id="quota"' in page.text
        # Above the leader's level: the page says so, and the awards service refuses the approval (403).
        above_page = await b.get(f"/awards/{above['award_id']}")
        assert 'id="above-level"' in above_page.text
        refused = await b.post(f"/awards/{above['award_id']}/approve", data={
            "csrf": csrf_of(above_page.text), "decision_no": "12/QĐ-UBND", "decided_on": "2026-12-03"})
        assert refused.status_code == 403
        assert "cấp trên" in refused.text.split('id="error-approve"', 1)[1]
        assert (await _award(world, above["award_id"]))["status"] == "proposed"

        # Without a decision number nothing is sent; with one, approved with the decision's date.
        missing = await b.post(f"/awards/{mine['award_id']}/approve", data={"csrf": csrf_of(page.text),
                                                                            "decision_no": ""})
        assert missing.status_code == 422 and "số quyết định" in missing.text
        done = await b.post(f"/awards/{mine['award_id']}/approve", data={
            "csrf": csrf_of(page.text), "decision_no": "45/QĐ-UBND", "decided_on": "2026-12-01"})
        assert done.status_code == 303
        shown = await b.get(done.headers["location"])
        assert 'id="notice"' in shown.text and "45/QĐ-UBND" in shown.text and "01/12/2026" in shown.text
        stored = await _award(world, mine["award_id"])
        assert (stored["status"], stored["decision_no"], stored["decided_on"]) == ("approved", "45/QĐ-UBND",
                                                                                   "2026-12-01")

        # A batch: the one at the leader's level is approved, the province's is refused and named.
        batch = await b.post("/awards/approvals", data={
            "csrf": csrf_of(listing.text), "award_id": [also_mine["award_id"], above["award_id"]],
            "decision_no": "46/QĐ-UBND", "decided_on": "2026-12-02"})
        assert batch.status_code == 200, batch.text
        result = batch.text.split('id="result"', 1)[1].split("</div>", 1)[0]
        assert "1 đề nghị" in result and "Trần Văn Cường" in result and "cấp trên" in result
        assert (await _award(world, also_mine["award_id"]))["status"] == "approved"
        assert (await _award(world, above["award_id"]))["status"] == "proposed"

        # An officer's form on a page that leaders cannot open: unit staff are refused the awards desk.
        await world.add("donvi", role="unit", area=None, unit="u-1")
        async with _browser(world) as unit:
            await sign_in(unit, "donvi")
            assert (await unit.get("/awards")).status_code == 403


async def test_an_admin_creates_disables_resets_and_rescopes_accounts_and_reads_the_dlq_and_audit_trails(
        settings_factory: Callable[..., Settings], nats_url: str, namespace: str) -> None:
    async with console_world(settings_factory, also=("awards",)) as world, _browser(world) as b:
        await world.add("quantri", role="admin", area=None)
        await world.add("canbo", role="officer", area="79")
        await sign_in(b, "quantri")
        page = await b.get("/admin/accounts")
        assert page.status_code == 200 and 'data-account="canbo"' in page.text

        created = await b.post("/admin/accounts", data={"csrf": csrf_of(page.text), "username": "moi.lanhdao",
                                                        "role": "leader", "area": "79", "level": "province"})
        assert created.status_code == 200, created.text
        password = created.text.split('id="new-password">', 1)[1].split("<", 1)[0]
        async with _browser(world) as newcomer:
            assert (await sign_in(newcomer, "moi.lanhdao", password)).status_code == 303
            assert (await newcomer.get("/awards")).status_code == 200
            # Rescoped to an officer: the leader's session ends at once.
            rescope = await b.post("/admin/accounts/change", data={
                "csrf": csrf_of(page.text), "username": "moi.lanhdao", "action": "scope", "role": "officer",
                "area": "79.26743"})
            assert rescope.status_code == 200 and 'id="notice"' in rescope.text
            assert (await newcomer.get("/awards")).headers.get("location") == "/login"
        bad = await b.post("/admin/accounts", data={"csrf": csrf_of(page.text), "username": "x", "role": "officer"})
        assert bad.status_code == 422 and 'id="error"' in bad.text

        # Disable ends the officer's sessions; reset gives a new password shown once; the old one stops working.
        async with _browser(world) as officer:
            await sign_in(officer, "canbo")
            assert (await officer.get("/tips")).status_code == 200
            disabled = await b.post("/admin/accounts/change", data={"csrf": csrf_of(page.text), "username": "canbo",
                                                                    "action": "disable"})
            assert disabled.status_code == 200
            assert (await officer.get("/tips")).headers.get("location") == "/login"
        await b.post("/admin/accounts/change", data={"csrf": csrf_of(page.text), "username": "canbo",
                                                     "action": "enable"})
        reset = await b.post("/admin/accounts/change", data={"csrf": csrf_of(page.text), "username": "canbo",
                                                             "action": "reset"})
        fresh = reset.text.split('id="new-password">', 1)[1].split("<", 1)[0]
        async with _browser(world) as officer:
            assert (await sign_in(officer, "canbo", PASSWORD)).status_code == 401
            assert (await sign_in(officer, "canbo", fresh)).status_code == 303
        # No form without the session's CSRF token changes anything; an admin cannot disable itself.
        stale = await b.post("/admin/accounts/change", data={"csrf": "x", "username": "canbo", "action": "disable"})
        assert stale.status_code == 403
        itself = await b.post("/admin/accounts/change", data={"csrf": csrf_of(page.text), "username": "quantri",
                                                              "action": "disable"})
        assert itself.status_code == 422

        # Read-only views: every bus service's DLQ (a poison tip event that notify could not read), and the trails.
        await publish_raw(nats_url, f"{namespace}.{TipReceived.TYPE}", b"\xff\xfe not json")

        async def poisoned() -> str:
            page = await b.get("/admin/dlq")
            assert page.status_code == 200
            section = page.text.split('id="dlq-notify"', 1)[1].split("</section>", 1)[0]
            return section if TipReceived.TYPE in section else ""

        section = await eventually(poisoned, timeout=20, what="the poison event in notify's DLQ")
        assert "not json" not in section  # the record's reason and kind, never its body
        dlq = await b.get("/admin/dlq")
        for service in ("tips", "awards", "notify"):
            assert f'id="dlq-{service}"' in dlq.text
        async with httpx.AsyncClient(base_url=world.urls["notify"]) as notify:
            officer = world.notify.tokens.issue(role="officer", area="79")
            assert (await notify.get("/dlq", headers={"Authorization": f"Bearer {officer}"})).status_code == 403
        award = await _nominate(world, "giay_khen", "Phạm Thị Dung", "commune")
        trail = await b.get("/admin/audit?service=awards")
        assert trail.status_code == 200 and 'data-action="award.propose"' in trail.text
        assert f'/awards/{award["award_id"]}' in trail.text
        assert "Giấy khen · Phạm Thị Dung" in trail.text  # the award and its recipient by name
        # Who revealed which reporter: an officer's reveal, with its reason, and never the identity itself.
        async with httpx.AsyncClient(base_url=world.urls["tips"]) as tips:
            tip = (await tips.post("/tips", json={
                "category": "theft", "description": "Kẻ gian lấy trộm xe máy trước chợ", "area_code": "79.26743",
                "anonymous": False, "reporter": {"name": "Trần Thị Bích Ngọc", "phone": "0912 345 678"}})).json()
            officer = world.tips.tokens.issue(role="officer", area="79", sub="canbo.xacminh")
            r = await tips.post(f"/tips/{tip['tip_id']}/reporter", headers={"Authorization": f"Bearer {officer}"},
                                json={"reason": "Cần liên hệ người báo để bảo vệ nhân chứng"})
            assert r.status_code == 200, r.text
        reveals = await b.get("/admin/audit?service=tips&only=reveals")
        rows = reveals.text.split('id="trail"', 1)[1]
        assert 'data-action="tip.reveal_reporter"' in rows and "canbo.xacminh" in rows
        assert "bảo vệ nhân chứng" in rows and f"/tips/{tip['tip_id']}" in rows
        assert "Bích Ngọc" not in reveals.text and "0912" not in reveals.text

        # Nobody else opens the admin pages.
        async with _browser(world) as officer:
            await sign_in(officer, "canbo", fresh)
            assert (await officer.get("/admin/accounts")).status_code == 403
            assert (await officer.get("/admin/dlq")).status_code == 403


async def test_the_proposals_come_a_page_at_a_time_with_a_next_page_link(
        settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(award_views, "PAGE_SIZE", 1)
    async with console_world(settings_factory, also=("awards",)) as world, _browser(world) as b:
        await world.add("lanhdao.xa", role="leader", area=AREA, level="commune")
        first, second = [await _nominate(world, "giay_khen", name, "commune") for name in ("Ngô An", "Vũ Bình")]
        await sign_in(b, "lanhdao.xa")
        page = await b.get("/awards")
        assert second["award_id"] in page.text and first["award_id"] not in page.text
        more = page.text.split('id="more"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        following = await b.get(more)
        assert first["award_id"] in following.text and 'id="more"' not in following.text
