"""The reporter stays unknown: identity encrypted at rest, reveal only with a reason and a role, audited; no
personal data in events, logs, metrics or error bodies; public endpoints rate-limited."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from services.tips import store
from services.tips.cli import app as tips_cli
from services.tips.domain import find_personal_data
from shared.settings import Settings
from shared.testing import eventually
from tests.integration.tips.tips_support import ORG, REPORTER, Clock, Tips, tips_running, tips_settings

REVEAL_REASON = "Cần liên hệ người báo tin để lấy lời khai bổ sung"


async def test_identity_is_encrypted_at_rest_and_revealed_only_with_a_reason_to_an_allowed_role(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = tips_settings(settings_factory, database_url)
    async with tips_running(settings, Clock(), nats_url, namespace) as tips:
        accepted = await tips.submit(anonymous=False, reporter=REPORTER, on_behalf_of=ORG,
                                     confidentiality_requested=True)
        tip_id = accepted["tip_id"]
        async with tips.service.db.read() as session:
            row = await store.get_tip_row(session=session, tip_id=tip_id)
        assert row is not None and row["identity_enc"].startswith("v1.")
        identity = {"reporter": REPORTER, "on_behalf_of": ORG}
        assert not find_personal_data(json.dumps(row, default=str, ensure_ascii=False), identity)

        reveal = f"/tips/{tip_id}/reporter"
        assert (await tips.http.post(reveal, json={"reason": REVEAL_REASON})).status_code == 401
        assert (await tips.http.post(reveal, json={"reason": REVEAL_REASON},
                                     headers=tips.auth("agency", None))).status_code == 403
        assert (await tips.http.post(reveal, json={"reason": REVEAL_REASON},
                                     headers=tips.auth("officer", "01"))).status_code == 403
        assert (await tips.http.post(reveal, json={"reason": "x"}, headers=tips.auth())).status_code == 422
        r = await tips.http.post(reveal, json={"reason": REVEAL_REASON}, headers=tips.auth("officer", "79"))
        assert r.status_code == 200, r.text
        assert r.json()["reporter"]["name"] == REPORTER["name"] and r.json()["on_behalf_of"] == ORG
        assert r.headers["cache-control"] == "no-store"
        async with tips.service.db.read() as session:
            audit = (await session.execute(select(store.audit_log))).mappings().all()
        assert [(a["action"], a["actor"], a["reason"]) for a in audit] == [
            ("tip.reveal_reporter", "officer-79", REVEAL_REASON)]

    if backend == "sqlite":
        db_file = Path(make_url(settings.database_url_for("tips")).database or "")
        raw = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
        assert raw and tip_id.encode() in raw
        for value in [*REPORTER.values(), *ORG.values()]:
            assert value.encode() not in raw, "reporter data in the database file"

    # The audit chain verifies from the command line; a rotation re-encrypts every identity with a new key.
    monkeypatch.setenv("ANTQ_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ANTQ_TIPS_DATABASE_URL", settings.database_url_for("tips"))
    runner = CliRunner()  # in a thread: the commands run their own event loop
    result = await asyncio.to_thread(runner.invoke, tips_cli, ["audit", "verify"])
    assert result.exit_code == 0 and "1 entries" in result.output, result.output
    old_token = row["identity_enc"]
    result = await asyncio.to_thread(runner.invoke, tips_cli, ["rotate-keys", "--new-key", "--prune"])
    assert result.exit_code == 0 and "re-encrypted with the newest key: 1" in result.output, result.output
    async with tips_running(settings, Clock(), nats_url, namespace) as tips:
        async with tips.service.db.read() as session:
            rotated = await store.get_tip_row(session=session, tip_id=tip_id)
        assert rotated is not None and rotated["identity_enc"].split(".")[1] != old_token.split(".")[1]
        r = await tips.http.post(reveal, json={"reason": REVEAL_REASON}, headers=tips.auth("admin", None))
        assert r.status_code == 200 and r.json()["reporter"] == {k: v for k, v in REPORTER.items()}
        # Tampering with the chain is detected.
        async with tips.service.db.unit_of_work() as uow:
            await uow.session.execute(store.audit_log.update().where(store.audit_log.c.seq == 1)
                                      .values(reason="edited"))
    result = await asyncio.to_thread(runner.invoke, tips_cli, ["audit", "verify"])
    assert result.exit_code == 1 and "BROKEN at entry 1" in result.output


async def test_no_reporter_data_in_events_logs_metrics_or_error_bodies(tips: Tips,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    identities = {"reporter": REPORTER, "on_behalf_of": ORG}
    error_bodies: list[str] = []
    officer = tips.auth()

    api = await tips.submit(anonymous=False, reporter=REPORTER, on_behalf_of=ORG, protection_requested=True)
    form = await tips.http.post("/submit", data={
        "lang": "vi", "category": "fraud", "description": "Lừa đảo qua điện thoại", "area_code": "79",
        "who": "identified", **REPORTER, **ORG})
    assert form.status_code == 200 and 'id="receipt"' in form.text
    await tips.publish_inbound("national-app", {
        "category": "theft", "description": "Mất trộm xe máy", "area_code": "79", "anonymous": False,
        "reporter_jwe": await tips.seal(REPORTER | {"on_behalf_of": ORG}), "reference": "REF-PD-1"},
        str(uuid.uuid4()))
    await tips.publish_inbound("national-app", {  # refused: neither the DLQ record nor its reason keeps the values
        "category": "theft", "description": "", "reporter": {"name": REPORTER["name"], "phone": "x" * 60},
        "reference": "REF-PD-2"}, str(uuid.uuid4()))

    # Refused requests that carry the reporter's data answer without echoing it.
    for body in ({"category": "theft", "description": "x", "anonymous": False,
                  "reporter": REPORTER | {"id_number": REPORTER["id_number"] * 5}},
                 {"category": "no_such", "description": "x", "anonymous": False, "reporter": REPORTER},
                 {"category": "theft", "description": "x", "anonymous": True, "reporter": REPORTER}):
        r = await tips.http.post("/tips", json=body)
        assert r.status_code == 422
        error_bodies.append(r.text)
    r = await tips.http.post("/tips/follow-up", json={"receipt": REPORTER["phone"]})
    error_bodies.append(r.text)

    await tips.http.post(f"/tips/{api['tip_id']}/triage", headers=officer, json={})
    await tips.http.post(f"/tips/{api['tip_id']}/messages", headers=officer, json={"text": "Cảm ơn anh/chị"})
    await tips.http.post("/tips/follow-up/messages", json={"receipt": api["receipt"], "text": "Vâng"})
    await tips.http.post(f"/tips/{api['tip_id']}/verify", headers=officer,
                         json={"valuable": True, "outcome": "prosecuted"})
    revealed = await tips.http.post(f"/tips/{api['tip_id']}/reporter", headers=officer,
                                    json={"reason": REVEAL_REASON})
    assert find_personal_data(revealed.text, identities), "the guard must see the data where it is meant to be"

    async def all_events() -> list[dict]:
        found = await tips.events()
        received = [m for m in found if m["subject"].endswith("TipReceived.v1")]
        return found if len(received) >= 3 and any("TipVerified" in m["subject"] for m in found) else []

    events = await eventually(all_events, what="every event of the scenario")
    dlq = await _dlq(tips)
    metrics = (await tips.http.get("/metrics")).text
    assert 'antq_tips_received_total{channel="web",priority="normal"} 1.0' in metrics
    logs = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for where, payload in (("events", [m["data"].decode() for m in events] + [str(m["headers"]) for m in events]),
                           ("dead letters", dlq), ("logs", logs), ("metrics", metrics),
                           ("error bodies", error_bodies)):
        leaks = find_personal_data(payload, identities)
        assert not leaks, f"reporter data in {where}: {leaks}"


async def _dlq(tips: Tips) -> list[str]:
    from tests.integration.spine.helpers import stream_messages

    async def some() -> list[str]:
        msgs = await stream_messages(tips.nats_url, f"{tips.namespace}_DLQ")
        return [f"{m['headers']} {(m['data'] or b'').decode(errors='replace')}" for m in msgs]

    return await eventually(some, what="the invalid inbound tip in the DLQ")


async def test_public_endpoints_are_rate_limited_with_retry_after(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str) -> None:
    settings = tips_settings(settings_factory, database_url, tips_submit_rate_per_minute=2,
                             tips_follow_up_rate_per_minute=3)
    async with tips_running(settings, Clock(), nats_url, namespace) as tips:
        receipt = (await tips.submit())["receipt"]
        await tips.submit()
        r = await tips.http.post("/tips", json={"category": "theft", "description": "x"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "rate_limited"
        r = await tips.http.post("/submit", data={"category": "theft", "description": "x"})
        assert r.status_code == 429 and "retry-after" in r.headers
        codes = [(await tips.http.post("/tips/follow-up", json={"receipt": receipt})).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        big = await tips.http.post("/tips/follow-up/messages", content=b"{" + b" " * 300_000 + b"}",
                                   headers={"content-type": "application/json"})
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
