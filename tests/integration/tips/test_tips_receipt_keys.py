"""Receipts stored as HMAC-SHA-256 under a key outside the database: rows from the argon2id scheme move to HMAC
on their next follow-up, and a rotated key keeps verifying the rows it hashed while new rows use the new key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from typer.testing import CliRunner

from services.tips import keys, store
from services.tips.cli import app as tips_cli
from services.tips.domain import FAST_FOR_TESTS, hash_receipt_argon2
from shared.settings import Settings
from tests.integration.tips.tips_support import Clock, Tips, tips_running, tips_settings


async def _stored_hash(tips: Tips, tip_id: str) -> str:
    async with tips.service.db.read() as session:
        row = await store.get_tip_row(session=session, tip_id=tip_id)
    assert row is not None
    return str(row["receipt_hash"])


async def test_an_argon2_row_still_works_once_and_is_then_an_hmac_row(tips: Tips) -> None:
    accepted = await tips.submit()
    tip_id, receipt = accepted["tip_id"], accepted["receipt"]
    legacy = hash_receipt_argon2(receipt, profile=FAST_FOR_TESTS)
    async with tips.service.db.unit_of_work() as uow:
        await store.update_tip(session=uow.session, tip_id=tip_id, values={"receipt_hash": legacy})

    code = receipt.replace("-", "")
    wrong = code[:8] + ("0" if code[8] != "0" else "1") + code[9:]
    assert (await tips.http.post("/tips/follow-up", json={"receipt": wrong})).status_code == 404
    assert await _stored_hash(tips, tip_id) == legacy  # a wrong secret changes nothing

    r = await tips.http.post("/tips/follow-up", json={"receipt": receipt})
    assert r.status_code == 200, r.text
    assert r.json()["tip_id"] == tip_id
    current = tips.service.app.state.ctx.receipts.current_key_id
    migrated = await _stored_hash(tips, tip_id)
    assert migrated.startswith(f"$hmac-sha256$k={current}$")
    # And the HMAC row works from then on, for follow-up and replies alike.
    assert (await tips.http.post("/tips/follow-up", json={"receipt": receipt})).status_code == 200
    r = await tips.http.post("/tips/follow-up/messages", json={"receipt": receipt, "text": "Tôi có thêm thông tin"})
    assert r.status_code == 201, r.text
    assert await _stored_hash(tips, tip_id) == migrated


async def test_after_a_rotation_the_old_key_still_verifies_and_new_rows_use_the_new_key(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str) -> None:
    settings = tips_settings(settings_factory, database_url)
    clock = Clock()
    async with tips_running(settings, clock, nats_url, namespace) as tips:
        old = await tips.submit()
        old_key = tips.service.app.state.ctx.receipts.current_key_id
        assert (await _stored_hash(tips, old["tip_id"])).startswith(f"$hmac-sha256$k={old_key}$")

    args = ["receipt-keys", "--new-key", "--data-dir", str(settings.data_dir)]
    result = await asyncio.to_thread(CliRunner().invoke, tips_cli, args, env={
        "ANTQ_TIPS_DATABASE_URL": str(settings.tips_database_url)})
    assert result.exit_code == 0, result.output
    assert len(keys.read_key_file(keys.receipt_key_file(settings))) == 2
    assert f"  {old_key}: 1 receipts" in result.output

    async with tips_running(settings, clock, nats_url, namespace) as tips:
        ring = tips.service.app.state.ctx.receipts
        assert ring.current_key_id != old_key and ring.key_ids == [ring.current_key_id, old_key]
        new = await tips.submit()
        assert (await _stored_hash(tips, new["tip_id"])).startswith(f"$hmac-sha256$k={ring.current_key_id}$")
        # The old key verifies its row, which then moves to the new key.
        assert (await tips.http.post("/tips/follow-up", json={"receipt": old["receipt"]})).status_code == 200
        assert (await _stored_hash(tips, old["tip_id"])).startswith(f"$hmac-sha256$k={ring.current_key_id}$")

    # No row uses the old key any more: --prune drops it.
    result = await asyncio.to_thread(CliRunner().invoke, tips_cli, ["receipt-keys", "--prune", "--data-dir",
                                                                    str(settings.data_dir)],
                                     env={"ANTQ_TIPS_DATABASE_URL": str(settings.tips_database_url)})
    assert result.exit_code == 0, result.output
    assert len(keys.read_key_file(keys.receipt_key_file(settings))) == 1
    async with tips_running(settings, clock, nats_url, namespace) as tips:
        for accepted in (old, new):
            assert (await tips.http.post("/tips/follow-up", json={"receipt": accepted["receipt"]})).status_code == 200
