"""A tip posted over HTTP is stored with its TipReceived in one transaction and reaches the officer's inbox."""

from __future__ import annotations

from collections.abc import Callable

from services.notify.app import build as build_notify
from services.tips.app import build as build_tips
from shared.contracts import CloudEvent
from shared.contracts.events import TipReceived
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.spine.helpers import stream_messages

REPORTER = {"name": "Trần Thị Bích Ngọc", "phone": "0912345678", "email": "ngoc.tran@example.vn",
            "id_number": "079123456789"}


async def test_tip_reaches_area_officer_inbox_without_reporter_data(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], namespace: str,
        nats_url: str) -> None:
    settings = settings_factory(tips_database_url=database_url("tips"), notify_database_url=database_url("notify"))
    tips, notify = build_tips(settings), build_notify(settings)
    async with running(tips) as tips_http, running(notify) as notify_http:
        r = await tips_http.post("/tips", json={
            "category": "theft", "description": "Kẻ gian lấy trộm máy tính ở phòng kế toán",
            "area_code": "79.26743", "anonymous": False, "reporter": REPORTER})
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert set(accepted) == {"tip_id", "receipt", "received_at"}
        assert len(accepted["receipt"]) >= 30

        officer = notify.tokens.issue(role="officer", area="79")
        other_area = notify.tokens.issue(role="officer", area="01")

        async def inbox(token: str) -> list[dict]:
            resp = await notify_http.get("/inbox", headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 200, resp.text
            return resp.json()["items"]

        items = await eventually(lambda: inbox(officer), timeout=10, what="notification in officer inbox")
        assert len(items) == 1 and items[0]["link"].endswith(f"/tips/{accepted['tip_id']}")
        assert await inbox(other_area) == []

        events = await stream_messages(nats_url, f"{namespace}_TIPS")
        received = [e for e in events if e["subject"] == f"{namespace}.{TipReceived.TYPE}"]
        assert len(received) == 1
        envelope = CloudEvent.model_validate(received[0]["body"])
        assert envelope.type == TipReceived.TYPE and envelope.source == "antq/tips"
        assert received[0]["headers"]["Nats-Msg-Id"] == envelope.id
        TipReceived.model_validate(envelope.data)
        raw = received[0]["data"].decode()
        notification_text = str(items)
        for value in [*REPORTER.values(), "Nguyen", "kế toán"]:
            assert value not in raw, f"reporter data {value!r} leaked into the event"
            assert value not in notification_text


async def test_unauthenticated_inbox_is_refused_with_json_error(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str]) -> None:
    notify = build_notify(settings_factory(notify_database_url=database_url("notify")))
    async with running(notify) as http:
        r = await http.get("/inbox")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        r = await http.get("/inbox", headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401


async def test_a_locked_database_answers_503_with_retry_after_and_stores_nothing(
        settings_factory: Callable[..., Settings], tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    db_file = tmp_path / "tips-locked.db"
    tips = build_tips(settings_factory(tips_database_url=f"sqlite+aiosqlite:///{db_file}"))
    async with running(tips) as http:
        locker = sqlite3.connect(db_file, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            tips.db.engine.sync_engine.dispose()
            import sqlalchemy as sa

            @sa.event.listens_for(tips.db.engine.sync_engine, "connect")
            def _short_timeout(conn, _record):  # type: ignore[no-untyped-def]
                conn.execute("PRAGMA busy_timeout=200")

            r = await http.post("/tips", json={"category": "theft", "description": "x", "anonymous": True})
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "5" and r.json()["error"]["code"] == "unavailable"
