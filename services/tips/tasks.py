"""The tips service's background jobs, started by app.py.

The deadline scheduler emits TipDeadlineApproaching / TipOverdue exactly once per marker, and refreshes gauges.
Each pass asks the database for tips whose next trigger is due (by `ctx.now()`, so tests can move time),
lets the domain say which events are owed, and writes each marker row and its outbox row in one transaction.
The marker table's unique key makes a second emission impossible (after a restart, or with two instances);
what was owed while the service was down is emitted on the first pass after it starts.
"""

from __future__ import annotations

import asyncio
import logging

from services.tips import store
from services.tips.context import TipsContext
from services.tips.handlers import emit_owed_deadlines

log = logging.getLogger(__name__)

BATCH = 500


async def run_pass(ctx: TipsContext) -> int:
    """One pass over every tip with a due trigger; returns how many events it emitted."""
    db = ctx.db
    now = ctx.now()
    emitted = 0
    while True:
        async with db.read() as session:
            due = await store.due_for_scheduler(session=session, now=now, limit=BATCH)
        for tip_id in due:
            try:
                async with db.unit_of_work() as uow:
                    emitted += await emit_owed_deadlines(tip_id, uow, ctx=ctx, now=now)
            except store.MarkerAlreadyEmitted:
                # Another instance wrote the same marker first; its transaction carries the event.
                log.info("deadline marker for a tip was emitted concurrently; skipped")
        if len(due) < BATCH:
            return emitted


async def refresh_gauges(ctx: TipsContext) -> None:
    if ctx.metrics is None:
        return
    async with ctx.db.read() as session:
        counts = await store.gauge_counts(session=session, now=ctx.now())
    ctx.metrics.refresh(counts)


async def deadline_loop(ctx: TipsContext, interval: float) -> None:
    """Runs until cancelled; wakes at the earliest trigger or every `interval` seconds, whichever is sooner."""
    while True:
        delay = interval
        try:
            await run_pass(ctx)
            await refresh_gauges(ctx)
            async with ctx.db.read() as session:
                earliest = await store.earliest_wakeup(session=session)
            if earliest is not None:
                delay = min(interval, max(0.05, (earliest - ctx.now()).total_seconds()))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — the database may be briefly unreachable; try again next pass
            log.warning("deadline pass failed: %s", type(exc).__name__)
        await asyncio.sleep(delay)
