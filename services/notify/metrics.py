"""The notify service's own metrics: deliveries by channel and status, latency, queue depth and retries."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.notify.domain.channels import channel_names

# From seconds (inbox, webhooks) to a day (digests, deliveries held over quiet hours).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600,
                   48 * 3600)


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter("antq_notify_deliveries_total", "Notifications that reached a final state",
                                  ["channel", "status"], registry=registry)
        self.latency = Histogram("antq_notify_delivery_latency_seconds",
                                 "From the cause event's time to the delivery", ["channel"],
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self.queue_depth = Gauge("antq_notify_queue_depth",
                                 "Deliveries waiting to go out (due, retrying, held or parked for a digest)",
                                 ["channel"], registry=registry)
        self.retries = Counter("antq_notify_retries_total", "Failed attempts that will be tried again",
                               ["channel"], registry=registry)
        # The labelled children, looked up once rather than by `labels()` on every delivery (docs/benchmarks.md).
        self._delivered: dict[str, tuple[Counter, Histogram]] = {}
        for channel in channel_names():  # every channel of the table, configured or not
            self.queue_depth.labels(channel).set(0)
            self.retries.labels(channel)
            self.deliveries.labels(channel, "failed")
            self._delivered[channel] = (self.deliveries.labels(channel, "delivered"), self.latency.labels(channel))

    def delivered(self, channel: str, latency_seconds: float) -> None:
        children = self._delivered.get(channel)
        if children is None:
            children = self._delivered[channel] = (self.deliveries.labels(channel, "delivered"),
                                                   self.latency.labels(channel))
        children[0].inc()
        children[1].observe(max(0.0, latency_seconds))

    def failed(self, channel: str) -> None:
        self.deliveries.labels(channel, "failed").inc()
