"""The console's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ConsoleMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.sign_ins = Counter("antq_console_sign_ins_total", "Sign-in attempts by result", ["result"],
                                registry=registry)
        self.sessions = Gauge("antq_console_sessions", "Live sessions (expired ones are purged every minute)",
                              registry=registry)
        self.api_errors = Counter("antq_console_api_errors_total", "Calls to a service's API that were refused "
                                  "or failed, by service and status", ["service", "status"], registry=registry)
        self.streams = Gauge("antq_console_open_streams", "Open live-update streams", registry=registry)
        self.live_polls = Counter("antq_console_live_polls_total", "Polls of the services by the shared live "
                                  "pollers, by topic (tips, inbox)", ["topic"], registry=registry)
