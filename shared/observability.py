"""JSON logging and the spine's Prometheus metrics, one registry per service instance."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        ))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s [{service}] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access logs would carry client addresses of public submissions; the HTTP metrics cover traffic instead.
    logging.getLogger("uvicorn.access").disabled = True
    # FastStream announces every restart of a subscriber task at INFO; failures still come through as errors.
    logging.getLogger("faststream").setLevel(max(root.level, logging.WARNING))
    # httpx logs every request's full URL at INFO; a webhook URL's path or query may hold the receiver's token.
    # Delivery failures are logged by notify with the URL's origin only.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))


class SpineMetrics:
    """Metrics every service exports (one name per concept, a `service` label), so one alert covers all."""

    def __init__(self, registry: CollectorRegistry, service: str):
        self.registry = registry
        self.service = service
        labels = ["service"]
        self.outbox_pending = Gauge("antq_outbox_pending_events", "Outbox rows not yet published", labels,
                                    registry=registry).labels(service)
        self.outbox_oldest_age = Gauge("antq_outbox_oldest_pending_age_seconds",
                                       "Age of the oldest unpublished outbox row", labels,
                                       registry=registry).labels(service)
        self.outbox_published = Counter("antq_outbox_published_total", "Outbox rows published with a PubAck",
                                        labels, registry=registry).labels(service)
        self.outbox_failures = Counter("antq_outbox_publish_failures_total", "Failed outbox publish attempts",
                                       labels, registry=registry).labels(service)
        self.consumer_messages = Counter("antq_consumer_messages_total", "Messages handled by consumers",
                                         ["service", "consumer", "result"], registry=registry)
        self.dlq_messages = Counter("antq_dlq_messages_total", "Messages sent to the dead-letter queue",
                                    ["service", "consumer", "reason"], registry=registry)
        self.handler_seconds = Histogram("antq_consumer_handler_seconds", "Time to handle one batch of messages",
                                         ["service", "consumer"], registry=registry)
        self.ready = Gauge("antq_service_ready", "1 when /readyz answers 200", labels,
                           registry=registry).labels(service)
        self.http_requests = Counter("antq_http_requests_total", "HTTP requests",
                                     ["service", "method", "route", "status"], registry=registry)
        self.http_seconds = Histogram("antq_http_request_seconds", "HTTP request duration",
                                      ["service", "method", "route"], registry=registry)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class HttpMetricsMiddleware:
    """Pure ASGI middleware counting requests by route template (never by raw path, which may hold ids)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], metrics: SpineMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            service = self.metrics.service
            self.metrics.http_requests.labels(service, method, template, str(status["code"])).inc()
            self.metrics.http_seconds.labels(service, method, template).observe(time.perf_counter() - start)
