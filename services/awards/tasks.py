"""Background work of the awards service: flag overdue reviews and refresh the awards gauge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from services.awards import handlers, store
from shared.service import Service

log = logging.getLogger(__name__)


class AwardsCollector(Collector):
    """`antq_awards_awards{status,award_type}`: awards by status and type, from the last refresh."""

    def __init__(self) -> None:
        self.snapshot: dict[tuple[str, str], int] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("antq_awards_awards", "Awards by workflow status and award type",
                                  labels=["status", "award_type"])
        for (status, award_type), count in sorted(self.snapshot.items()):
            gauge.add_metric([status, award_type], count)
        yield gauge


async def refresh_gauge(service: Service, collector: AwardsCollector) -> None:
    t = store.awards
    async with service.db.read() as session:
        rows = await session.execute(select(t.c.status, t.c.award_type, func.count()).group_by(t.c.status,
                                                                                               t.c.award_type))
        collector.snapshot = {(r[0], r[1]): int(r[2]) for r in rows}


async def check_once(service: Service, collector: AwardsCollector) -> int:
    async with service.db.unit_of_work() as uow:
        marked = await handlers.mark_overdue_reviews(uow, now=service.clock())
    if marked:
        log.warning("%d award review(s) passed their deadline", marked)
    await refresh_gauge(service, collector)
    return marked


def review_deadlines(collector: AwardsCollector, interval: float):  # type: ignore[no-untyped-def]
    """The task factory: every `interval` seconds, mark overdue reviews (audited once) and refresh the gauge."""

    async def run(service: Service) -> None:
        while True:
            try:
                await check_once(service, collector)
            except Exception as exc:  # noqa: BLE001 — a database hiccup must not stop the periodic check
                log.warning("review deadline check failed: %s", exc)
            await asyncio.sleep(interval)

    return run
