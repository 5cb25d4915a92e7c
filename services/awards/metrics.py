"""The awards service's Prometheus metrics (besides the shared ones every service has)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


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
