"""The tips service over HTTP: intake, the officer queue and lifecycle, follow-up, duplicates, inbound tips."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from services.tips import store
from services.tips.app import build
from services.tips.cli import app as tips_cli
from shared.audit import verify_chain
from shared.contracts import CloudEvent
from shared.rewards import reward_ref_for_receipt
from shared.settings import Settings
from shared.testing import eventually, free_port
from tests.console_world import over_http
from tests.integration.tips.tips_support import REPORTER, Tips, tips_settings


async def test_tip_goes_through_its_lifecycle_and_illegal_steps_get_409_with_allowed_steps(tips: Tips) -> None:
    accepted = await tips.submit(category="ongoing_crime")
    tip_id = accepted["tip_id"]
    officer = tips.auth("officer", "79")

    queue = await tips.http.get("/tips", headers=officer, params={"priority": "urgent", "status": "received"})
    assert queue.status_code == 200, queue.text
    assert [t["tip_id"] for t in queue.json()["items"]] == [tip_id]
    assert queue.json()["items"][0]["priority"] == "urgent"
    assert queue.json()["items"][0]["deadline"] == "forward_24h"

    other_area = tips.auth("officer", "01")
    assert (await tips.http.get("/tips", headers=other_area)).json()["items"] == []
    assert (await tips.http.get(f"/tips/{tip_id}", headers=other_area)).status_code == 403
    assert (await tips.http.get(f"/tips/{tip_id}", headers=tips.auth("unit", None, unit="u1"))).status_code == 403
    assert (await tips.http.get(f"/tips/{tip_id}")).status_code == 401

    r = await tips.http.post(f"/tips/{tip_id}/close", headers=officer)
    assert r.status_code == 409
    assert r.json()["error"]["details"]["allowed"] == ["officer_message", "reporter_message", "triage"]

    r = await tips.http.post(f"/tips/{tip_id}/triage", headers=officer, json={"assigned_officer": "officer-79"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "triaged" and r.json()["deadline"] == "decide_20d"
    r = await tips.http.post(f"/tips/{tip_id}/triage", headers=officer, json={"priority": "normal"})
    assert r.status_code == 409
    r = await tips.http.post(f"/tips/{tip_id}/begin-verification", headers=officer)
    assert r.json()["status"] == "verifying"
    r = await tips.http.post(f"/tips/{tip_id}/verify", headers=officer,
                             json={"valuable": True, "outcome": "prosecuted", "note": "case opened"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "decided" and r.json()["deadline"] is None
    r = await tips.http.post(f"/tips/{tip_id}/close", headers=officer)
    assert r.json()["status"] == "closed"

    async def events() -> list[str]:
        found = [m["subject"].rsplit(".", 2)[-2] for m in await tips.events()]
        return found if len(found) >= 4 else []

    assert await eventually(events, what="lifecycle events") == ["TipReceived", "TipTriaged", "TipVerified",
                                                                  "TipClosed"]
    verified = CloudEvent.model_validate((await tips.events("TipVerified.v1"))[0]["body"])
    # The awards service computes the same reference from the receipt the reporter presents.
    assert verified.data["reward_ref"] == reward_ref_for_receipt(accepted["receipt"])

    async with tips.service.db.read() as session:
        report = await verify_chain(session, store.audit_log)
        actions = (await session.execute(select(store.audit_log.c.action))).scalars().all()
    assert report.ok and actions == ["tip.triage", "tip.begin_verification", "tip.verify", "tip.close"]


async def test_a_named_reporter_is_rewarded_by_reference_too_and_unknown_category_is_refused(tips: Tips) -> None:
    """A valuable tip owes its reporter a reward whether or not they gave their name; the reward goes through the
    same pseudonymous reference, so the identity still never leaves the tips service."""
    accepted = await tips.submit(anonymous=False, reporter=REPORTER)
    officer = tips.auth()
    await tips.http.post(f"/tips/{accepted['tip_id']}/triage", headers=officer, json={})
    await tips.http.post(f"/tips/{accepted['tip_id']}/verify", headers=officer,
                         json={"valuable": True, "outcome": "not_prosecuted"})
    events = await eventually(lambda: tips.events("TipVerified.v1"), what="TipVerified")
    data = events[0]["body"]["data"]
    assert data["reward_ref"] == reward_ref_for_receipt(accepted["receipt"])
    assert not any(value in json.dumps(data, ensure_ascii=False) for value in REPORTER.values())

    r = await tips.http.post("/tips", json={"category": "no_such", "description": "x", "anonymous": True})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_category"
    assert "theft" in r.json()["error"]["details"]["allowed"]
    r = await tips.http.post("/tips", json={"category": "theft", "description": "x", "location": "here",
                                            "location_unknown": True})
    assert r.status_code == 422
    r = await tips.http.post("/tips", json={"category": "theft", "description": "x", "anonymous": True,
                                            "reporter": REPORTER})
    assert r.status_code == 422
    categories = (await tips.http.get("/categories")).json()
    assert categories["version"] and {"code": "threat_to_life", "label_vi": "Đe dọa tính mạng, sức khỏe",
                                      "label_en": "Threat to life or health", "urgent": True} \
        in categories["categories"]


async def test_receipt_is_stored_only_as_a_keyed_hash_and_works_however_it_is_typed(tips: Tips) -> None:
    accepted = await tips.submit(location_unknown=True, location=None)
    receipt = accepted["receipt"]
    assert accepted["received_at"].startswith("2026-03-02T01:00")
    async with tips.service.db.read() as session:
        row = await store.get_tip_row(session=session, tip_id=accepted["tip_id"])
    assert row is not None and row["location_unknown"] is True
    assert row["receipt_hash"].startswith("$hmac-sha256$k=")
    code = receipt.replace("-", "")
    assert code[8:] not in json.dumps(row, default=str)  # the secret part is nowhere in the row

    typed = receipt.lower().replace("-", " ")
    r = await tips.http.post("/tips/follow-up", json={"receipt": typed})
    assert r.status_code == 200, r.text
    assert r.json()["tip_id"] == accepted["tip_id"] and r.json()["status"] == "received"
    assert r.headers["cache-control"] == "no-store"

    wrong_secret = code[:8] + ("0" if code[8] != "0" else "1") + code[9:]
    unknown_lookup = ("0" if code[0] != "0" else "1") + code[1:]
    answers = [await tips.http.post("/tips/follow-up", json={"receipt": c})
               for c in (wrong_secret, unknown_lookup, "not a receipt")]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert len({a.text for a in answers}) == 1  # nothing tells a wrong secret from an unknown receipt


async def test_follow_up_messages_go_both_ways_and_internal_notes_stay_hidden(tips: Tips) -> None:
    accepted = await tips.submit()
    tip_id, receipt = accepted["tip_id"], accepted["receipt"]
    officer = tips.auth()
    r = await tips.http.post("/tips/follow-up/messages", json={"receipt": receipt, "text": "Tôi có thêm ảnh."})
    assert r.status_code == 201, r.text
    r = await tips.http.post(f"/tips/{tip_id}/messages", headers=officer,
                             json={"text": "Cảm ơn, chúng tôi đang xác minh.", "internal": False})
    assert r.status_code == 201, r.text
    r = await tips.http.post(f"/tips/{tip_id}/messages", headers=officer,
                             json={"text": "Nghi phạm có thể là bảo vệ ca đêm", "internal": True})
    assert r.status_code == 201

    view = (await tips.http.post("/tips/follow-up", json={"receipt": receipt})).json()
    assert [(m["author"], m["text"]) for m in view["messages"]] == [
        ("reporter", "Tôi có thêm ảnh."), ("officer", "Cảm ơn, chúng tôi đang xác minh.")]
    assert "bảo vệ ca đêm" not in json.dumps(view, ensure_ascii=False)
    detail = (await tips.http.get(f"/tips/{tip_id}", headers=officer)).json()
    assert [m["internal"] for m in detail["messages"]] == [False, False, True]

    posted = await eventually(
        lambda: _authors(tips), what="two TipMessagePosted events")
    assert sorted(posted) == ["officer", "reporter"]  # the internal note publishes nothing

    for step, body in (("triage", {}), ("verify", {"valuable": False, "outcome": "unfounded"}), ("close", None)):
        assert (await tips.http.post(f"/tips/{tip_id}/{step}", headers=officer, json=body)).status_code == 200
    view = (await tips.http.post("/tips/follow-up", json={"receipt": receipt})).json()
    assert view["status"] == "closed" and view["outcome"] == "unfounded" and view["can_reply"] is False
    assert [s["step"] for s in view["timeline"]] == ["received", "forwarded", "dismissed", "closed"]
    r = await tips.http.post("/tips/follow-up/messages", json={"receipt": receipt, "text": "còn nữa"})
    assert r.status_code == 409 and r.json()["error"]["details"]["allowed"] == ["officer_message"]


async def _authors(tips: Tips) -> list[str]:
    found = [m["body"]["data"]["author"] for m in await tips.events("TipMessagePosted.v1")]
    return found if len(found) >= 2 else []


async def test_likely_duplicates_are_linked_for_the_officer_to_confirm(tips: Tips) -> None:
    first = await tips.submit(description="Trộm cắp máy tính xách tay tại phòng kế toán công ty may Việt Tiến")
    tips.clock.now += timedelta(hours=3)
    second = await tips.submit(description="trom cap may tinh xach tay o phong ke toan cong ty may Viet Tien")
    unrelated = await tips.submit(category="drugs", description="Mua bán ma túy ở quán karaoke")
    officer = tips.auth()

    detail = (await tips.http.get(f"/tips/{second['tip_id']}", headers=officer)).json()
    assert [(d["tip_id"], d["status"]) for d in detail["duplicates"]] == [(first["tip_id"], "suggested")]
    assert "same_area" in detail["duplicates"][0]["reasons"]
    earlier = (await tips.http.get(f"/tips/{first['tip_id']}", headers=officer)).json()
    assert [d["tip_id"] for d in earlier["duplicates"]] == [second["tip_id"]]
    assert (await tips.http.get(f"/tips/{unrelated['tip_id']}", headers=officer)).json()["duplicates"] == []

    r = await tips.http.post(f"/tips/{second['tip_id']}/duplicates/{first['tip_id']}/confirm", headers=officer)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    detail = (await tips.http.get(f"/tips/{second['tip_id']}", headers=officer)).json()
    assert detail["duplicates"][0]["status"] == "confirmed"
    r = await tips.http.post(f"/tips/{second['tip_id']}/duplicates/{uuid.uuid4()}/confirm", headers=officer)
    assert r.status_code == 404

    await tips.http.post(f"/tips/{second['tip_id']}/triage", headers=officer, json={})
    r = await tips.http.post(f"/tips/{second['tip_id']}/verify", headers=officer,
                             json={"valuable": False, "outcome": "duplicate", "duplicate_of": first["tip_id"]})
    assert r.status_code == 200 and r.json()["status"] == "dismissed"


async def test_inbound_tip_with_a_repeated_reference_is_processed_once(tips: Tips) -> None:
    data = {"category": "a_category_we_do_not_know", "description": "Phát hiện đối tượng lạ theo dõi kho vũ khí",
            "area_code": "79.26743", "anonymous": True, "reference": "VNEID-2026-000123"}
    await tips.publish_inbound("national-app", data, str(uuid.uuid4()))
    await tips.publish_inbound("national-app", data, str(uuid.uuid4()))  # same reference, new event id
    await tips.publish_inbound("school-registry", data | {"reference": "R-1"}, str(uuid.uuid4()),
                               source="agency/national-app")  # source mismatch: DLQ

    received = await eventually(lambda: tips.events("TipReceived.v1"), what="inbound TipReceived")
    await tips.publish_inbound("national-app", data | {"reference": "VNEID-2026-000124"}, str(uuid.uuid4()))

    async def two() -> list[dict]:
        found = await tips.events("TipReceived.v1")
        return found if len(found) >= 2 else []

    received = await eventually(two, what="the second reference's tip")
    assert len(received) == 2
    first = received[0]["body"]["data"]
    assert first["channel"] == "agency" and first["category"] == "other"  # unknown category filed, not dropped
    async with tips.service.db.read() as session:
        refs = (await session.execute(select(store.inbound_refs.c.reference))).scalars().all()
    assert sorted(refs) == ["VNEID-2026-000123", "VNEID-2026-000124"]


async def test_cli_submits_to_the_running_service_and_prints_the_receipt(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], tmp_path: Path) -> None:
    settings = tips_settings(settings_factory, database_url)
    service = build(settings)
    port = free_port()
    async with over_http(service, port):
        photo = tmp_path / "anh.png"
        photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        args = ["submit", "--category", "drugs", "--description", "Mua bán ma túy tại quán karaoke",
                "--area-code", "79", "--location-unknown", "--name", "Lê Văn Tám", "--phone", "0987654321",
                "--file", str(photo), "--url", f"http://127.0.0.1:{port}"]
        result = await asyncio.to_thread(CliRunner().invoke, tips_cli, args)
        assert result.exit_code == 0, result.output
        receipt = result.output.split("receipt:")[1].split()[0]
        async with service.db.read() as session:
            rows = (await session.execute(select(store.tips.c.channel, store.tips.c.anonymous))).all()
            files = (await session.execute(select(store.attachments.c.filename))).scalars().all()
        assert rows == [("api", False)] and files == ["anh.png"]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.post("/tips/follow-up", json={"receipt": receipt})).status_code == 200
