"""A demo province (79) loaded through the units HTTP API of a running deployment: units, cycles, incidents.

Deterministic (seeded) and safe to run twice: the import is idempotent and repeated steps come back as per-item
refusals, which are counted, not raised.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.units.domain import assessment_period, assessment_year_of, local_date
from shared import places
from shared.auth import TokenAuthority
from shared.settings import Settings

PROVINCE = "79"
# Real communes of Ho Chi Minh City, named as the national list names them (shared/places.py).
_DEMO_COMMUNES = ("26737", "26740", "26743", "27259", "27343")
COMMUNES = {p.code.partition(".")[2]: p.name for p in places.communes_of(PROVINCE)
            if p.code.partition(".")[2] in _DEMO_COMMUNES}

ENTERPRISES = ["Công ty TNHH Dệt May {n}", "Công ty CP Cơ khí {n}", "Công ty TNHH Thực phẩm {n}",
               "Công ty CP Vận tải {n}", "Công ty TNHH Điện tử {n}", "Công ty CP Xây dựng {n}"]
SCHOOLS = [("Trường THPT {n}", "upper_secondary"), ("Trường THCS {n}", "lower_secondary"),
           ("Trường Tiểu học {n}", "primary"), ("Trường Mầm non {n}", "kindergarten"),
           ("Trường Cao đẳng {n}", "college")]
AGENCIES = ["Ủy ban nhân dân {n}", "Kho bạc Nhà nước {n}", "Chi cục Thuế {n}", "Bệnh viện {n}"]
NAMES = ["Hòa Bình", "Thống Nhất", "Bình Minh", "Sao Mai", "Phú Mỹ", "An Khang", "Tân Tiến", "Đông Á", "Việt Tiến",
         "Nam Long", "Thành Công", "Hưng Thịnh", "Gia Định", "Bến Nghé", "Chợ Lớn"]
MODELS = ["Tổ công nhân tự quản về ANTT", "Camera an ninh", "Trường học an toàn về ANTT",
          "Cơ quan an toàn về ANTT", "Tổ bảo vệ dân phố liên kết", "Cổng trường an toàn giao thông"]


def demo_records(rng: random.Random) -> list[dict[str, Any]]:
    """About 60 units of the three kinds spread over the communes, a few provincial agencies, some out of scope."""
    rows: list[dict[str, Any]] = []
    for i, (commune, ward) in enumerate(COMMUNES.items()):
        area = f"{PROVINCE}.{commune}"
        for j in range(6):
            size = rng.choice(["medium", "large", "large", "small", "micro"]) if j else "large"
            rows.append({"name": ENTERPRISES[j].format(n=NAMES[(i * 3 + j) % len(NAMES)]), "kind": "enterprise",
                         "area_code": area, "tax_code": f"03{i:02d}{j:06d}", "size": size,
                         "address": f"{10 + j} đường số {i + 1}, {ward}",
                         "models": rng.sample(MODELS[:2], k=rng.randint(0, 2)),
                         "security_force_full_time": rng.randint(0, 12), "security_force_part_time": rng.randint(0, 20),
                         "head_of_unit": {"name": f"Giám đốc {NAMES[j]}"}})
        for j, (pattern, level) in enumerate(SCHOOLS):
            rows.append({"name": pattern.format(n=f"{NAMES[(i + j) % len(NAMES)]} {ward}"), "kind": "school",
                         "area_code": area, "school_code": f"79{i:02d}{j:04d}", "school_level": level,
                         "models": ["Trường học an toàn về ANTT"] if rng.random() < 0.6 else [],
                         "security_force_part_time": rng.randint(1, 4)})
        rows.append({"name": AGENCIES[i % len(AGENCIES)].format(n=ward), "kind": "agency", "area_code": area,
                     "external_key": f"AG-79-{commune}", "models": ["Cơ quan an toàn về ANTT"],
                     "security_force_full_time": 2})
    for k, name in enumerate(["Sở Tư pháp", "Sở Tài chính", "Sở Giáo dục và Đào tạo", "Bộ Chỉ huy Quân sự tỉnh"]):
        row: dict[str, Any] = {"name": name, "kind": "agency", "area_code": PROVINCE, "external_key": f"AG-79-S{k}",
                               "managing_level": "province", "security_force_full_time": 3}
        if k == 3:
            row["armed_forces"] = True
        rows.append(row)
    return rows


async def load_demo(settings: Settings) -> str:
    """Load the demo province into the running units service; returns a one-line summary."""
    token = TokenAuthority.from_file(settings.auth_key_path(), issuer=settings.auth_issuer).issue(
        role="admin", sub="demo-loader", ttl=3600)
    base = f"http://127.0.0.1:{settings.http_port_for('units')}"
    rng = random.Random(79)
    now = datetime.now(UTC)
    year = assessment_year_of(now)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        body = "\n".join(json.dumps(r, ensure_ascii=False) for r in demo_records(rng)).encode()
        r = await http.post("/imports/units", content=body, params={"rows": "none"},
                            headers={"content-type": "application/x-ndjson"})
        r.raise_for_status()
        report = r.json()
        units = await _all_units(http)
        by_area: dict[str, list[dict[str, Any]]] = {}
        for unit in units:
            by_area.setdefault(unit["area_code"], []).append(unit)
        counts = {"cycles": 0, "decided": 0, "incidents": 0, "activities": 0, "refused": 0}
        for area, members in sorted(by_area.items()):
            eligible = [u for u in members if u["in_scope"]]
            await _campaign(http, area, year, eligible, rng, counts)
            for unit in members:
                await _activities(http, unit, year, now, rng, counts)
        await _incidents(http, units, year, now, rng, counts)
    return (f"province 79: {len(units)} units ({report['created']} new), {counts['cycles']} cycles for {year}, "
            f"{counts['decided']} decided, {counts['incidents']} incidents, {counts['activities']} activities")


async def _all_units(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"area_code": PROVINCE, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = (await http.get("/units", params=params)).raise_for_status().json()
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


async def _batch(http: httpx.AsyncClient, path: str, body: dict[str, Any], counts: dict[str, int]) -> list[str]:
    r = await http.post(f"/batches/{path}", json=body)
    r.raise_for_status()
    result = r.json()
    counts["refused"] += result["failed"]
    return [i["unit_id"] for i in result["items"] if i["ok"]]


async def _campaign(http: httpx.AsyncClient, area: str, year: int, units: list[dict[str, Any]], rng: random.Random,
                    counts: dict[str, int]) -> None:
    """Cycles in every state: some only registered, some scored, submitted, appraised, decided either way."""
    ids = [u["unit_id"] for u in units]
    if not ids:
        return
    registered = await _batch(http, "registrations", {"year": year, "area_code": area, "unit_ids": ids}, counts)
    counts["cycles"] += len(registered)
    # A few stay registered; the rest score themselves, some leaving one criterion not met.
    scoring = ids[max(1, len(ids) // 8):]
    items = []
    missed: set[str] = set()
    for uid in scoring:
        cycle = (await http.get(f"/units/{uid}/cycles/{year}")).json()
        if cycle.get("state") not in ("registered", "in_progress"):
            continue
        framework = (await http.get(f"/frameworks/{cycle['framework_code']}", params={"kind": cycle["kind"]})).json()
        codes = [c["code"] for c in framework["criteria"] if c["derived"] is None]
        results = {c: {"result": "met", "evidence": [f"ho-so/{year}/{c}.pdf"]} for c in codes}
        if rng.random() < 0.15:
            results[rng.choice(codes)] = {"result": "not_met", "note": "chưa đạt"}
            missed.add(uid)
        items.append({"unit_id": uid, "results": results})
    assessed = await _batch(http, "self-assessments", {"year": year, "area_code": area, "items": items}, counts) \
        if items else []
    submitted = await _batch(http, "submissions", {"year": year, "area_code": area,
                                                   "unit_ids": assessed[: max(1, len(assessed) * 4 // 5)]}, counts) \
        if assessed else []
    appraise = submitted[: max(1, len(submitted) * 3 // 4)] if submitted else []
    appraised = await _batch(http, "appraisals", {"year": year, "area_code": area, "items": [
        # The police recommend only a unit that met every criterion (most of them).
        {"unit_id": uid, "recommended": uid not in missed and rng.random() < 0.9} for uid in appraise]}, counts) \
        if appraise else []
    decide = appraised[: max(1, len(appraised) * 2 // 3)] if appraised else []
    if not decide:
        return
    cycles = {uid: (await http.get(f"/units/{uid}/cycles/{year}")).json() for uid in decide}
    decisions = []
    for n, uid in enumerate(decide):
        recommended = bool(cycles[uid].get("appraisal", {}).get("recommended"))
        if recommended:
            decisions.append({"unit_id": uid, "recognized": True, "decision_no": f"{100 + n}/QĐ-UBND",
                              "rating": rng.choice(["excellent", "good", "pass", None])})
        else:
            decisions.append({"unit_id": uid, "recognized": False, "note": "không đủ điều kiện"})
    counts["decided"] += len(await _batch(http, "decisions", {"year": year, "area_code": area,
                                                              "items": decisions}, counts))


async def _activities(http: httpx.AsyncClient, unit: dict[str, Any], year: int, now: datetime, rng: random.Random,
                      counts: dict[str, int]) -> None:
    start, _ = assessment_period(year)
    today = local_date(now)
    span = max(0, (today - start).days)
    for _ in range(rng.randint(0, 3)):
        kind = rng.choice(["propaganda_session", "propaganda_session", "training", "commitment_drive", "drill"])
        held = start + timedelta(days=rng.randint(0, span)) if span else today
        body: dict[str, Any] = {"kind": kind, "held_on": min(held, today).isoformat(),
                                "participants": rng.randint(20, 600),
                                "title": {"propaganda_session": "Tuyên truyền pháp luật về ANTT",
                                          "training": "Tập huấn nghiệp vụ bảo vệ",
                                          "commitment_drive": "Ký cam kết đảm bảo ANTT",
                                          "drill": "Diễn tập phòng cháy chữa cháy"}[kind]}
        r = await http.post(f"/units/{unit['unit_id']}/activities", json=body)
        if r.status_code == 201:
            counts["activities"] += 1


async def _incidents(http: httpx.AsyncClient, units: list[dict[str, Any]], year: int, now: datetime,
                     rng: random.Random, counts: dict[str, int]) -> None:
    """A few incidents, one of them disqualifying a recognised unit (its recognition is revoked)."""
    start, _ = assessment_period(year)
    when = max(datetime.combine(start, datetime.min.time(), tzinfo=UTC), now - timedelta(days=20))
    recognised = []
    for unit in units:
        r = await http.get(f"/units/{unit['unit_id']}/cycles/{year}")
        if r.status_code == 200 and r.json()["state"] == "recognised":
            recognised.append(unit)
    picks: list[tuple[dict[str, Any], str]] = []
    if recognised:
        picks.append((recognised[0], "high_value_theft"))
    enterprises = [u for u in units if u["kind"] == "enterprise"]
    picks.extend((unit, rng.choice(["strike_prevented", "strike_stabilised", "minor_theft", "minor_fire"]))
                 for unit in rng.sample(enterprises, k=min(4, len(enterprises))))
    schools = [u for u in units if u["kind"] == "school" and u["in_scope"]]
    if schools:
        picks.append((rng.choice(schools), "school_violence"))
    for n, (unit, category) in enumerate(picks):
        body = {"category": category, "occurred_at": (when + timedelta(hours=n)).isoformat(),
                "reference": f"DEMO-{year}-{n:03d}", "description": "Ghi nhận từ công an phường"}
        r = await http.post(f"/units/{unit['unit_id']}/incidents", json=body)
        if r.status_code == 201:
            counts["incidents"] += 1

