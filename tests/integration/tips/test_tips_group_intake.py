"""Tips submitted at the same moment share one transaction (group commit) and a few statements: the stored
result must be what storing them one after the other gives, duplicate links included. Real SQLite databases;
the HTTP part against a running tips service."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.tips import store
from services.tips.context import TipsContext
from services.tips.domain.secrecy import IdentityCipher
from services.tips.handlers import PreparedTip, SubmitTip, prepare_tip, record_tips
from shared.blobs import DiskStorage
from shared.db import Database, outbox
from tests.integration.batch_support import fresh_database
from tests.integration.tips.tips_support import Tips

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
TEXTS = [
    "Kẻ gian lấy trộm xe máy trong bãi xe sau nhà B vào ban đêm",
    "ke gian lay trom xe may trong bai xe sau nha B ban dem",
    "Có người lạ cạy cửa phòng kế toán tầng 2",
    "Nhóm thanh niên tụ tập đánh bạc ở quán nước đầu hẻm",
    "Trộm xe máy ở bãi xe nhà B, lúc nửa đêm",
]


def commands(rng: random.Random, n: int) -> list[SubmitTip]:
    """Tips in two communes and at two units (some at a unit only, some at both a commune and a unit)."""
    out = []
    for i in range(n):
        area, unit = rng.choice([("79.26743", None), ("79.26737", None), (None, "u-1"), ("79.26743", "u-1"),
                                 ("79.26737", "u-2")])
        out.append(SubmitTip(category=rng.choice(["theft", "gambling"]), description=rng.choice(TEXTS) + f" ({i % 3})",
                             area_code=area, unit_id=unit, anonymous=True))
    return out


async def fresh(path: Path) -> Database:
    return await fresh_database(path, "tips")


async def snapshot(db: Database) -> dict[str, Any]:
    async with db.read() as s:
        tips = [dict(r) for r in (await s.execute(select(store.tips).order_by(store.tips.c.tip_id))).mappings()]
        links = sorted((r.tip_id, r.other_id, r.score, r.reasons) for r in await s.execute(select(
            store.duplicate_links.c.tip_id, store.duplicate_links.c.other_id, store.duplicate_links.c.score,
            store.duplicate_links.c.reasons)))
        events = sorted(r[0] for r in await s.execute(select(outbox.c.event_type)))
    return {"tips": tips, "links": links, "events": events}


# 3 and 1: a busy place, where the batch's query is asked again; 0: duplicate detection off
@pytest.mark.parametrize("candidates", [200, 3, 1, 0])
async def test_a_group_of_tips_is_stored_as_one_after_the_other(tmp_path: Path, candidates: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "DUPLICATE_CANDIDATES", candidates)
    grouped, single = await fresh(tmp_path / "grouped.db"), await fresh(tmp_path / "single.db")
    # The same context (keys, rules) for both databases: the handlers write through the unit of work they are given.
    ctx = TipsContext(db=grouped, cipher=IdentityCipher([IdentityCipher.generate_key()]),
                      storage=DiskStorage(tmp_path / "files"), clock=lambda: NOW)
    prepared: list[PreparedTip] = [await prepare_tip(cmd, ctx=ctx, channel="api")
                                   for cmd in commands(random.Random(3), 40)]
    try:
        for start in (0, 15):  # two groups, the second one also compared with the first
            async with grouped.unit_of_work() as uow:
                accepted = await record_tips(prepared[start:start + 15 if start == 0 else 40], uow, ctx=ctx,
                                             now=NOW)
                assert [a.tip_id for a in accepted] == [p.tip_id for p in prepared[start:start + len(accepted)]]
        for p in prepared:
            async with single.unit_of_work() as uow:
                await record_tips([p], uow, ctx=ctx, now=NOW)
        a, b = await snapshot(grouped), await snapshot(single)
    finally:
        await grouped.dispose()
        await single.dispose()
    assert a == b
    assert len(a["tips"]) == 40 and len(a["events"]) == 40
    # Near-identical texts in one place: many links.
    assert len(a["links"]) >= {200: 20, 3: 10, 1: 5, 0: 0}[candidates] and (candidates or not a["links"])
    order = {p.tip_id: n for n, p in enumerate(prepared)}
    assert all(order[other] < order[tip] for tip, other, _, _ in a["links"])  # only to tips received before


async def test_concurrent_submissions_share_transactions_and_are_all_stored(tips: Tips) -> None:
    bodies = [{"category": "theft", "description": f"Trộm xe máy ở bãi xe nhà B lần {i}", "area_code": "79.26743",
               "anonymous": True} for i in range(40)]
    await tips.submit()  # the group commit exists from the first submission on
    group = tips.service.db.group_commit("tips.intake", None)  # type: ignore[arg-type]
    before = group.batches
    answers = await asyncio.gather(*(tips.http.post("/tips", json=b) for b in bodies))
    assert [r.status_code for r in answers] == [202] * 40
    receipts = {r.json()["receipt"] for r in answers}
    assert len(receipts) == 40
    assert group.batches - before < 40  # some of them were written together
    async with tips.service.db.read() as s:
        stored = set((await s.execute(select(store.tips.c.tip_id))).scalars())
    assert {r.json()["tip_id"] for r in answers} <= stored
    # Each receipt opens its own tip.
    for r in answers[:5]:
        follow = await tips.http.post("/tips/follow-up", json={"receipt": r.json()["receipt"]})
        assert follow.status_code == 200 and follow.json()["tip_id"] == r.json()["tip_id"]
