"""The tips service's Prometheus metrics (bounded labels, never an id)."""

from __future__ import annotations

from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.tips.domain import TipStatus
from shared.contracts.events import Deadline, Priority, TipChannel

DEADLINES: tuple[str, ...] = get_args(Deadline)
NOT_CLOSED: tuple[str, ...] = tuple(s for s in get_args(TipStatus) if s != "closed")


class TipsMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.received = Counter("antq_tips_received_total", "Tips received", ["channel", "priority"],
                                registry=registry)
        self.open = Gauge("antq_tips_open_tips", "Tips not yet closed, by status", ["status"], registry=registry)
        self.overdue = Gauge("antq_tips_overdue_tips", "Tips whose running deadline has passed", ["deadline"],
                             registry=registry)
        self.approaching = Gauge("antq_tips_deadline_approaching_tips",
                                 "Tips whose running deadline is near (warning sent, not yet due)", ["deadline"],
                                 registry=registry)
        self.receipts_withheld = Counter(
            "antq_tips_receipts_withheld_total",
            "Tips forwarded by an agency with no usable registered key: accepted, receipt not sent back",
            ["agency"], registry=registry)
        for channel in get_args(TipChannel):
            for priority in get_args(Priority):
                self.received.labels(channel, priority)
        self.refresh({"status": {}, "overdue": {}, "approaching": {}})

    def refresh(self, counts: dict[str, dict[str, int]]) -> None:
        for status in NOT_CLOSED:
            self.open.labels(status).set(counts["status"].get(status, 0))
        for deadline in DEADLINES:
            self.overdue.labels(deadline).set(counts["overdue"].get(deadline, 0))
            self.approaching.labels(deadline).set(counts["approaching"].get(deadline, 0))
