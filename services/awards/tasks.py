"""Background work of the awards service: flag overdue reviews and refresh the awards gauge."""

from __future__ import annotations

import asyncio
import logging

from services.awards import handlers, store
from services.awards.context import AwardsContext
from shared.service import Service

log = logging.getLogger(__name__)


async def refresh_gauge(ctx: AwardsContext) -> None:
    async with ctx.db.read() as session:
        ctx.gauge.snapshot = await store.count_by_status_and_type(session=session)


async def check_once(ctx: AwardsContext) -> int:
    async with ctx.db.unit_of_work() as uow:
        marked = await handlers.mark_overdue_reviews(uow, now=ctx.now())
    if marked:
        log.warning("%d award review(s) passed their deadline", marked)
    await refresh_gauge(ctx)
    return marked


def review_deadlines(ctx: AwardsContext, interval: float):  # type: ignore[no-untyped-def]
    """The task factory: every `interval` seconds, mark overdue reviews (audited once) and refresh the gauge."""

    async def run(_service: Service) -> None:
        while True:
            try:
                await check_once(ctx)
            except Exception as exc:  # noqa: BLE001 — a database hiccup must not stop the periodic check
                log.warning("review deadline check failed: %s", exc)
            await asyncio.sleep(interval)

    return run
