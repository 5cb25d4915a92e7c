"""A deadline marker written first by another scheduler instance: the store says so (`MarkerAlreadyEmitted`, not
the driver's IntegrityError), the transaction is rolled back and the pass goes on; the event is emitted once.
Real SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.tips import store
from services.tips.context import TipsContext
from services.tips.domain import DeadlineMarker
from services.tips.domain.secrecy import IdentityCipher
from services.tips.handlers import SubmitTip, emit_owed_deadlines, prepare_tip, record_tips
from services.tips.tasks import run_pass
from shared.blobs import DiskStorage
from shared.db import outbox
from tests.integration.batch_support import fresh_database

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
WARNED = T0 + timedelta(hours=19)  # the 24 h forwarding deadline warns 12 h ahead


async def _counts(ctx: TipsContext) -> tuple[int, int]:
    async with ctx.db.read() as session:
        markers = (await session.execute(select(func.count()).select_from(store.deadline_markers))).scalar_one()
        events = (await session.execute(select(func.count()).select_from(outbox)
                                        .where(outbox.c.event_type.like("%Deadline%")))).scalar_one()
    return int(markers), int(events)


async def test_a_marker_another_instance_wrote_first_is_skipped_and_emitted_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = T0
    ctx = TipsContext(db=await fresh_database(tmp_path / "tips.db", "tips"),
                      cipher=IdentityCipher([IdentityCipher.generate_key()]), storage=DiskStorage(tmp_path / "f"),
                      clock=lambda: now)
    try:
        prepared = await prepare_tip(SubmitTip(category="theft", description="Trộm cắp tại kho vật tư",
                                               area_code="79.26743"), ctx=ctx, channel="api")
        async with ctx.db.unit_of_work() as uow:
            [accepted] = await record_tips([prepared], uow, ctx=ctx, now=T0)
        now = WARNED
        assert await run_pass(ctx) == 1
        assert await _counts(ctx) == (1, 1)

        # A second instance that read the tip before the first one's commit: it has seen no marker yet.
        async def nothing_seen(**_: object) -> set[DeadlineMarker]:
            return set()

        monkeypatch.setattr(store, "emitted_markers", nothing_seen)
        with pytest.raises(store.MarkerAlreadyEmitted):
            async with ctx.db.unit_of_work() as uow:
                await emit_owed_deadlines(accepted.tip_id, uow, ctx=ctx, now=WARNED)
        # Its pass skips the tip (the other instance's transaction carries the event) and goes on.
        async with ctx.db.unit_of_work() as uow:
            await store.update_tip(session=uow.session, tip_id=accepted.tip_id, values={"next_wakeup_at": WARNED})
        assert await run_pass(ctx) == 0
        assert await _counts(ctx) == (1, 1)
    finally:
        await ctx.db.dispose()
