"""An urgent tip submitted over HTTP reaches the area officer's inbox, email and webhook; no reporter data leaks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from services.notify.app import build as build_notify
from services.tips.app import build as build_tips
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import http_receiver, mail_server

REPORTER = {"name": "Lê Văn Tâm", "phone": "0987654321", "email": "tam.le@example.vn", "id_number": "079200000001"}
DESCRIPTION = "Có người mang dao đe dọa bảo vệ ở cổng số 2"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_urgent_tip_reaches_officer_inbox_email_and_webhook(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str]) -> None:
    with mail_server() as mail, http_receiver() as hooks:
        settings = settings_factory(
            tips_database_url=database_url("tips"), notify_database_url=database_url("notify"),
            notify_smtp_host="127.0.0.1", notify_smtp_port=mail.port, notify_smtp_timeout_seconds=5,
            notify_worker_poll_seconds=0.05, notify_webhook_allowed_networks="127.0.0.0/8")
        tips, notify = build_tips(settings), build_notify(settings)
        async with running(tips) as tips_http, running(notify) as notify_http:
            officer = notify.tokens.issue(role="officer", area="79", sub="officer-79")
            admin = notify.tokens.issue(role="admin", sub="ops")
            r = await notify_http.put("/preferences", headers=auth(officer), json={"email": "truc.ban@ca79.example"})
            assert r.status_code == 200, r.text
            r = await notify_http.post("/subscriptions", headers=auth(admin), json={
                "event_types": ["antq.tips.TipReceived.v1"], "area_code": "79", "min_priority": "urgent",
                "channel": "webhook", "target": f"{hooks.url}/antq"})
            assert r.status_code == 201, r.text
            secret = r.json()["secret"]

            r = await tips_http.post("/tips", json={
                "category": "threat_to_life", "description": DESCRIPTION, "area_code": "79.26743",
                "anonymous": False, "reporter": REPORTER})
            assert r.status_code == 202, r.text
            tip_id, receipt = r.json()["tip_id"], r.json()["receipt"]

            async def in_inbox() -> list[dict[str, Any]]:
                resp = await notify_http.get("/inbox", headers=auth(officer))
                return [i for i in resp.json()["items"] if i["link"].endswith(f"/tips/{tip_id}")]

            (notice,) = await eventually(in_inbox, what="the urgent tip in the officer's inbox")
            assert notice["critical"] is True

            async def mailed() -> list[Any]:
                return mail.server.to("truc.ban@ca79.example")

            (email,) = await eventually(mailed, what="the urgent email")
            assert "KHẨN" in str(email["Subject"]) and "Đe dọa tính mạng, sức khỏe" in str(email["Subject"])
            assert f"/tips/{tip_id}" in email.get_body(("plain",)).get_content()  # type: ignore[union-attr]

            async def hooked() -> list[Any]:
                return hooks.to("/antq")

            (call,) = await eventually(hooked, what="the webhook call")
            stamp = dict(part.split("=", 1) for part in call.headers["X-Antq-Signature"].split(","))
            expected = hmac.new(secret.encode(), f"{stamp['t']}.".encode() + call.body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(expected, stamp["v1"])
            event = json.loads(call.body)
            assert event["type"] == "antq.tips.TipReceived.v1" and event["data"]["tip_id"] == tip_id
            assert event["data"]["priority"] == "urgent"

            everything = "\n".join([str(notice), email.as_string(), call.body.decode()])
            for value in [*REPORTER.values(), "Lê Văn", "dao đe dọa", "cổng số 2"]:
                assert value not in everything, f"reporter data {value!r} reached a notification"

            # The officer answers through the tips service; the reporter reads it with the receipt alone.
            tips_officer = tips.tokens.issue(role="officer", area="79", sub="officer-79")
            reply = "Công an phường đã tiếp nhận, chúng tôi sẽ liên hệ lại."
            r = await tips_http.post(f"/tips/{tip_id}/messages", headers=auth(tips_officer),
                                     json={"text": reply, "internal": False})
            assert r.status_code == 201, r.text
            r = await tips_http.post(f"/tips/{tip_id}/messages", headers=auth(tips_officer),
                                     json={"text": "ghi chú nội bộ: xác minh camera", "internal": True})
            assert r.status_code == 201, r.text
            r = await tips_http.post("/tips/follow-up", json={"receipt": receipt})
            assert r.status_code == 200, r.text
            texts = [m["text"] for m in r.json()["messages"]]
            assert reply in texts
            assert not any("nội bộ" in t for t in texts), "internal notes never reach the reporter"
