"""Bulk import (CSV and JSON lines) and registry records from the bus: idempotent, row by row."""

from __future__ import annotations

import json

from shared.contracts.events import UnitRegistered, UnitUpdated
from shared.testing import eventually
from tests.integration.units.units_support import Harness

CSV = """name,kind,area_code,tax_code,school_code,size,school_level,models,security_force_full_time,head_of_unit.name
Công ty CP Dệt May Gia Định,enterprise,79.26743,0301111111,,large,,Tổ công nhân tự quản;Camera,4,Phạm Văn Dũng
Trường THCS Nguyễn Trãi,school,79.26737,,79000555,,lower_secondary,Trường học an toàn,2,
Cửa hàng Bình An,enterprise,79.26737,0302222222,,micro,,,0,
Sai kiểu,farm,79.26743,0303333333,,,,,,
Không có mã,agency,79,,,,,,,
Âm số,enterprise,79,0304444444,,,,,-2,
"""


async def import_csv(h: Harness, text: str, headers: dict[str, str] | None = None) -> dict:
    r = await h.http.post("/imports/units", content=text.encode(), headers={
        **(headers or h.admin), "content-type": "text/csv; charset=utf-8"})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_csv_import_reports_each_row_and_is_idempotent(units: Harness) -> None:
    first = await import_csv(units, CSV)
    assert (first["total"], first["created"], first["rejected"]) == (6, 3, 3)
    rejected = {row["line"]: {e["field"] for e in row["errors"]} for row in first["rows"]
                if row["status"] == "rejected"}
    assert rejected == {5: {"kind"}, 6: {"external_key"}, 7: {"security_force_full_time"}}
    micro = next(r for r in first["rows"] if r.get("external_key") == "0302222222")
    unit = (await units.http.get(f"/units/{micro['unit_id']}", headers=units.admin)).json()
    assert unit["in_scope"] is False and unit["area_code"] == "79.26737"

    again = await import_csv(units, CSV)
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 3, 3)

    changed = CSV.replace("Camera,4", "Camera,6")
    third = await import_csv(units, changed)
    assert (third["updated"], third["unchanged"]) == (1, 2)
    updated = next(r for r in third["rows"] if r["status"] == "updated")
    assert updated["changed"] == ["security_force_full_time"]

    registered = await units.events(UnitRegistered.TYPE)
    assert len(registered) == 3
    assert {e["area_code"] for e in registered} == {"79.26743", "79.26737"}
    assert [e["changed"] for e in await units.events(UnitUpdated.TYPE)] == [{"security_force_full_time": 6}]
    history = (await units.http.get(f"/units/{updated['unit_id']}/history", headers=units.admin)).json()["items"]
    assert [h["action"] for h in history] == ["imported", "imported"]


async def test_json_lines_import_with_broken_lines_and_an_officer_limited_to_an_area(units: Harness) -> None:
    lines = [
        json.dumps({"name": "Sở Tài chính", "kind": "agency", "area_code": "79", "external_key": "AG-79-STC"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"name": "Trường Mầm non Hoa Sen", "kind": "school", "area_code": "79.26743",
                    "school_code": "79000999", "school_level": "kindergarten"}),
        json.dumps({"name": "Công ty Hà Nội", "kind": "enterprise", "area_code": "01.00004", "tax_code": "0100000001"}),
        json.dumps({"name": "x", "kind": "agency", "area_code": 79, "external_key": "num"}),
    ]
    body = "\n".join(lines).encode()
    officer = units.auth("officer", area="79")
    r = await units.http.post("/imports/units", content=body,
                              headers={**officer, "content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    report = r.json()
    status = {row["line"]: row["status"] for row in report["rows"]}
    assert status == {1: "created", 2: "rejected", 3: "rejected", 4: "created", 5: "rejected", 6: "rejected"}
    outside = next(row for row in report["rows"] if row["line"] == 5)
    assert outside["errors"][0]["field"] == "area_code"
    only_rejected = await units.http.post("/imports/units", params={"rows": "rejected"}, content=body,
                                          headers={**units.admin, "content-type": "application/x-ndjson"})
    summary = only_rejected.json()
    assert (summary["created"], summary["unchanged"]) == (1, 2)
    assert {row["status"] for row in summary["rows"]} == {"rejected"}

    unsupported = await units.http.post("/imports/units", content=b"<xml/>",
                                        headers={**units.admin, "content-type": "application/xml"})
    assert unsupported.status_code == 415
    empty_csv = await units.http.post("/imports/units", content=b"", headers={**units.admin,
                                                                               "content-type": "text/csv"})
    assert empty_csv.status_code == 422
    staff = units.auth("unit", unit="u1")
    assert (await units.http.post("/imports/units", content=body,
                                  headers={**staff, "content-type": "application/x-ndjson"})).status_code == 403


async def test_registry_records_from_the_bus_create_then_update_and_bad_ones_go_to_dlq(units: Harness) -> None:
    record = {"external_key": "0309999999", "name": "Công ty TNHH Sao Mai", "kind": "enterprise",
              "area_code": "79.26743", "address": "1 Hai Bà Trưng"}
    await units.publish_inbound("business-registry", "UnitUpserted.v1", record)

    async def found() -> list:
        r = await units.http.get("/units", headers=units.admin, params={"q": "sao mai"})
        return list(r.json()["items"])

    [unit] = await eventually(found, timeout=15, what="unit from the registry")
    assert unit["area_code"] == "79.26743" and unit["external_key"] == "0309999999"
    await units.publish_inbound("business-registry", "UnitUpserted.v1", {**record, "address": "3 Hai Bà Trưng",
                                                                         "in_scope": False})
    await units.publish_inbound("business-registry", "UnitUpserted.v1", {**record, "kind": "school"})

    async def dead() -> list:
        return await units.dead_letters()

    [letter] = await eventually(dead, timeout=15, what="dead letter")
    assert "kind" in letter["headers"]["Antq-Dlq-Reason"]

    async def updated() -> list:
        return await units.events(UnitUpdated.TYPE)

    [event] = await eventually(updated, timeout=15, what="UnitUpdated")
    assert event["changed"]["address"] == "3 Hai Bà Trưng" and event["changed"]["in_scope"] is False
    history = (await units.http.get(f"/units/{unit['unit_id']}/history", headers=units.admin)).json()["items"]
    assert {h["actor"] for h in history} == {"agency/business-registry"}
