"""The demo that `antq up --demo` loads into a running platform, through each service's HTTP API only.

1. Province 79 in the units service (`services/units/demo.py`): units in five real communes of Ho Chi Minh City,
   cycles in every state, incidents, activities.
2. Tips in every state of the tips service (received, one of them urgent; triaged; verifying; decided; dismissed;
   closed), about real units of those communes, entered as an officer enters tips given at the desk.
3. Awards through the workflow: the reporter rewards the awards service proposes for the valuable tips, and
   nominations for the commemorative medal, approved, granted, rejected or left proposed.
4. Notifications: notify routes the events of 1–3 to the area's desks and the approvers by itself; the demo waits
   until the officers' desks and the police leaders' inbox show them.

Deterministic (seeded) and safe to run twice: units come back as "0 new", and tips and awards are loaded only into
a tips or awards service that holds none yet.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from services.units.demo import PROVINCE
from services.units.demo import load_demo as load_units
from shared.auth import TokenAuthority
from shared.settings import Settings

# (category, commune, kind of unit concerned or None, state to drive it to, description). States: received,
# triaged, verifying, then a verdict (valuable, outcome) and whether the tip is closed after it.
Verdict = tuple[bool, str, bool]
TIPS: list[tuple[str, str, str | None, str | Verdict, str]] = [
    ("threat_to_life", "26743", None, "received",
     "Một nhóm thanh niên mang hung khí tụ tập trước cổng chợ, đe dọa người bán hàng."),
    ("theft", "26740", "enterprise", "received", "Kho hàng của công ty bị mất trộm nhiều cuộn dây đồng trong đêm."),
    ("gambling", "27259", None, "received", "Có tụ điểm đánh bạc trong quán cà phê vào buổi tối."),
    ("drugs", "26737", None, "triaged", "Nghi có người mua bán ma túy ở con hẻm cạnh công viên."),
    ("school_violence", "27343", "school", "triaged", "Học sinh bị nhóm bạn cùng trường đánh hội đồng sau giờ học."),
    ("fraud", "26743", "enterprise", "verifying",
     "Công ty tuyển dụng thu phí đặt cọc rồi không nhận người lao động vào làm."),
    ("cybercrime", "26740", None, "verifying", "Trang mạng giả danh ngân hàng lừa người dân nhập mã OTP."),
    ("theft", "27259", "enterprise", (True, "prosecuted", False),
     "Bảo vệ phát hiện nhân viên chuyển hàng ra khỏi kho vào ban đêm."),
    ("illegal_strike_incitement", "26737", "enterprise", (False, "unfounded", False),
     "Có tờ rơi kêu gọi công nhân ngừng việc trái pháp luật."),
    ("corruption", "27343", "agency", (True, "prosecuted", True),
     "Cán bộ một phòng ban nhận tiền để giải quyết hồ sơ nhanh."),
    ("public_order", "26743", None, (False, "unfounded", True), "Quán karaoke gây ồn ào, đánh nhau lúc nửa đêm."),
    ("drugs", "26740", None, (True, "not_prosecuted", True), "Nhóm người tụ tập sử dụng ma túy trong nhà trọ."),
]

T = TypeVar("T")

MEDAL_NOMINEES = [("Nguyễn Văn An", "male", "2006-03-01"), ("Trần Thị Bích", "female", "2012-05-15"),
                  ("Lê Hoàng Nam", "male", "2008-09-01"), ("Phạm Minh Châu", "female", "2014-01-10")]


async def load_demo(settings: Settings) -> str:
    """Load the whole demo into the running services; returns a one-line summary."""
    units_summary = await load_units(settings)
    authority = TokenAuthority.from_file(settings.auth_key_path(), issuer=settings.auth_issuer)
    admin = {"Authorization": "Bearer " + authority.issue(role="admin", sub="demo-loader", ttl=3600)}
    desk = {"Authorization": "Bearer " + authority.issue(role="officer", area=PROVINCE, sub="demo-officer",
                                                         ttl=3600)}

    def client(service: str, headers: dict[str, str]) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port_for(service)}", headers=headers,
                                 timeout=60)

    async with client("units", admin) as units, client("tips", desk) as tips, client("awards", admin) as awards, \
            client("notify", admin) as notify:
        tip_counts = await _tips(tips, units)
        award_counts = await _awards(awards)
        leaders = {"Authorization": "Bearer " + authority.issue(role="leader", level="police_unit", area=PROVINCE,
                                                                 sub="demo-leader", ttl=3600)}
        notices = await _notifications(notify, admin) + await _notifications(notify, leaders)
    states = ", ".join(f"{n} {state}" for state, n in sorted(tip_counts.items()))
    awarded = ", ".join(f"{n} {status}" for status, n in sorted(award_counts.items()))
    return f"{units_summary}; tips: {states or 'already loaded'}; awards: {awarded}; {notices} notifications"


async def _units_by_commune(units: httpx.AsyncClient) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The demo's units by commune and kind (only the first page of each commune is needed)."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for commune in {c for _, c, _, _, _ in TIPS}:
        page = (await units.get("/units", params={"area_code": f"{PROVINCE}.{commune}", "limit": 100}))
        for unit in page.raise_for_status().json()["items"]:
            out.setdefault(commune, {}).setdefault(unit["kind"], []).append(unit)
    return out


async def _tips(tips: httpx.AsyncClient, units: httpx.AsyncClient) -> dict[str, int]:
    """The tips, each driven to its state through the officers' API; nothing when the queue has tips already."""
    if (await tips.get("/tips", params={"limit": 1})).raise_for_status().json()["items"]:
        return {}
    by_commune = await _units_by_commune(units)
    rng = random.Random(7926743)
    counts: dict[str, int] = {}
    for category, commune, kind, state, description in TIPS:
        candidates = by_commune.get(commune, {}).get(kind or "", [])
        body: dict[str, Any] = {"category": category, "description": description, "anonymous": True,
                                "area_code": f"{PROVINCE}.{commune}", "location": "Theo lời người báo tin"}
        if candidates:
            body["unit_id"] = rng.choice(candidates)["unit_id"]
        r = await tips.post("/tips", json=body)
        r.raise_for_status()
        tip_id = str(r.json()["tip_id"])
        steps: list[tuple[str, dict[str, Any]]] = []
        if state != "received":
            steps.append(("triage", {}))
        if state not in ("received", "triaged"):
            steps.append(("begin-verification", {}))
        if isinstance(state, tuple):
            valuable, outcome, closed = state
            steps.append(("verify", {"valuable": valuable, "outcome": outcome}))
            if closed:
                steps.append(("close", {"note": "Đã thông báo kết quả cho người báo tin"}))
        for action, payload in steps:
            (await tips.post(f"/tips/{tip_id}/{action}", json=payload)).raise_for_status()
        if state != "received":
            await tips.post(f"/tips/{tip_id}/messages", json={
                "text": "Cảm ơn bạn đã báo tin. Công an phường đang xử lý theo quy định."})
        status = (await tips.get(f"/tips/{tip_id}")).raise_for_status().json()["status"]
        counts[status] = counts.get(status, 0) + 1
    return counts


async def _awards(awards: httpx.AsyncClient) -> dict[str, int]:
    """Reporter rewards for the valuable tips (proposed by the awards service itself) and medal nominations, each
    taken a different way through the workflow; nothing new when the awards service already holds nominations."""
    year = datetime.now(UTC).year

    async def rewards() -> list[dict[str, Any]]:
        page = (await awards.get("/awards", params={"recipient_kind": "reporter", "limit": 50})).json()
        return list(page.get("items", [])) if len(page.get("items", [])) >= 2 else []

    proposed_rewards = await _within(rewards, 30)
    nominated = (await awards.get("/awards", params={"recipient_kind": "person", "limit": 1})).json()
    if not nominated.get("items"):
        for n, (name, gender, started) in enumerate(MEDAL_NOMINEES):
            r = await awards.post("/awards", json={
                "award_type": "ky_niem_chuong", "recipient_kind": "person", "recipient_ref": f"demo-staff-{n}",
                "recipient_name": name, "year": year, "area_code": f"{PROVINCE}.26743",
                "category": "security_team_member", "gender": gender, "service_started_on": started,
                "evidence": [f"Sổ theo dõi tổ bảo vệ {started[:4]}-{year}"]})
            if r.status_code != 201:
                continue
            award_id = r.json()["award_id"]
            decision = {"decision_no": f"{200 + n}/QĐ-BCA"}
            paths: list[list[tuple[str, dict[str, Any] | None]]] = [
                [("approve", decision), ("grant", None)],
                [("review", {"note": "hồ sơ đầy đủ"}), ("approve", decision)],
                [("reject", {"reason": "chưa đủ thời gian công tác liên tục"})],
                []]  # the last stays proposed, for the approvers' inbox
            for action, body in paths[n % 4]:
                await awards.post(f"/awards/{award_id}/{action}", json=body)
        for n, reward in enumerate(sorted(proposed_rewards or [], key=lambda a: a["award_id"])[:2]):
            if reward["status"] != "proposed":
                continue
            await awards.post(f"/awards/{reward['award_id']}/approve", json={"decision_no": f"{300 + n}/QĐ-CAT"})
            if n == 0:
                await awards.post(f"/awards/{reward['award_id']}/grant", json=None)
    counts: dict[str, int] = {}
    page = (await awards.get("/awards", params={"limit": 200})).raise_for_status().json()
    for award in page["items"]:
        counts[award["status"]] = counts.get(award["status"], 0) + 1
    return counts


async def _notifications(notify: httpx.AsyncClient, reader: dict[str, str]) -> int:
    """How many notifications (up to 100) a reader's inbox shows once notify has routed the demo's events: the
    officers' desks for the admin, the approval notices for the province's police leaders."""
    async def some() -> int:
        r = await notify.get("/inbox", params={"limit": 100}, headers=reader)
        return len(r.json().get("items", [])) if r.status_code == 200 else 0

    return await _within(some, 30) or 0


async def _within(check: Callable[[], Awaitable[T]], seconds: float) -> T | None:
    """The first truthy answer of `check` within `seconds` (the services work on events in the background)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = await check()
        if answer or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.2)
