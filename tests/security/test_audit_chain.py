"""The audit trail is tamper-evident: edited, removed and truncated entries are detected (both backends)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import MetaData, delete, func, select, update

from shared.audit import GENESIS, append, audit_table, verify_chain, verify_service_audit
from shared.db import make_engine
from shared.settings import Settings

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def _seed(url: str, n: int = 6) -> None:
    metadata = MetaData()
    table = audit_table(metadata)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    from sqlalchemy.ext.asyncio import AsyncSession

    for i in range(n):
        async with AsyncSession(engine) as session, session.begin():
            await append(session, table, actor=f"officer-{i % 2}", role="officer", action="tips.reveal_reporter",
                         target=f"tip-{i}", reason="Lý do: xác minh nhân chứng", details={"i": i, "area": "79"},
                         at=T0 + timedelta(minutes=i))
    await engine.dispose()


async def _execute(url: str, statement: object) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(statement)  # type: ignore[call-overload]
    await engine.dispose()


async def test_intact_chain_verifies_and_tampering_is_detected(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str]) -> None:
    url = database_url("tips")
    settings = settings_factory(tips_database_url=url)
    await _seed(url)
    report = await verify_service_audit(settings, "tips")
    assert report.ok and report.entries == 6 and report.head and report.head != GENESIS, report
    table = audit_table(MetaData())

    # Edit an entry's reason: its hash no longer matches.
    await _execute(url, update(table).where(table.c.seq == 3).values(reason="nothing to see"))
    edited = await verify_service_audit(settings, "tips")
    assert not edited.ok and edited.broken_at == 3 and "edited" in (edited.problem or "")
    await _execute(url, update(table).where(table.c.seq == 3).values(reason="Lý do: xác minh nhân chứng"))
    assert (await verify_service_audit(settings, "tips")).ok

    # Edit the timestamp or the actor: detected as well.
    await _execute(url, update(table).where(table.c.seq == 2).values(actor="someone-else"))
    assert (await verify_service_audit(settings, "tips")).broken_at == 2
    await _execute(url, update(table).where(table.c.seq == 2).values(actor="officer-1"))

    # Remove an entry in the middle: the next entry's link is broken.
    await _execute(url, delete(table).where(table.c.seq == 4))
    removed = await verify_service_audit(settings, "tips")
    assert not removed.ok and removed.broken_at == 5 and "removed" in (removed.problem or "")


async def test_truncation_is_detected_with_an_anchor(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str]) -> None:
    url = database_url("tips")
    settings = settings_factory(tips_database_url=url)
    await _seed(url)
    head = (await verify_service_audit(settings, "tips")).head
    table = audit_table(MetaData())
    engine = make_engine(url)
    async with engine.begin() as conn:
        last = (await conn.execute(select(func.max(table.c.seq)))).scalar_one()
        await conn.execute(delete(table).where(table.c.seq == last))
    await engine.dispose()
    assert (await verify_service_audit(settings, "tips")).ok  # a chain alone cannot see a cut-off end…
    cut = await verify_service_audit(settings, "tips", anchor=head)  # …the recorded head hash can
    assert not cut.ok and "end" in (cut.problem or "")


async def test_concurrent_appends_keep_one_linear_chain(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str]) -> None:
    url = database_url("awards")
    await _seed(url, n=1)
    metadata = MetaData()
    table = audit_table(metadata)
    engine = make_engine(url)
    from sqlalchemy.ext.asyncio import AsyncSession

    async def one(i: int) -> None:
        for attempt in range(20):
            try:
                async with AsyncSession(engine) as session, session.begin():
                    await append(session, table, actor="admin", role="admin", action="awards.annul",
                                 target=f"a-{i}", reason="fraud", details={})
                return
            except Exception:  # SQLite may answer "database is locked" under contention: retry
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("append kept failing")

    await asyncio.gather(*(one(i) for i in range(12)))
    async with AsyncSession(engine) as session:
        report = await verify_chain(session, table)
    await engine.dispose()
    assert report.ok and report.entries == 13, report


async def test_a_service_without_audit_table_says_so(settings_factory: Callable[..., Settings],
                                                     database_url: Callable[[str], str]) -> None:
    settings = settings_factory(notify_database_url=database_url("notify"))
    report = await verify_service_audit(settings, "notify")
    assert report.ok and report.entries == 0 and "no audit" in (report.problem or "")
