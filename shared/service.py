"""The composition of one service process: database, broker, consumers, outbox relay, HTTP app, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js import JetStreamContext
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from shared.apidocs import install_api_docs
from shared.auth import RevocationList, TokenAuthority, revocation_path
from shared.backoff import Backoff
from shared.bodylimit import BodyLimitMiddleware
from shared.bus.consumer import BatchHandler, Consumer, ConsumerRunner, Delivery, Handler
from shared.bus.dlq import read_dead_letters
from shared.bus.permissions import inbox_prefix
from shared.bus.pull import PullLoop
from shared.bus.relay import OutboxRelay
from shared.bus.streams import DurableSpec, Namespace, make_broker, missing_streams, reconcile_consumer
from shared.contracts.envelope import CloudEvent
from shared.contracts.events import EVENT_TYPES, OUTBOUND
from shared.contracts.subjects import OUTBOUND_PUBLISHERS, dlq_subject, outbound_subject, stream_for_subject
from shared.db import Database, UnitOfWork, utcnow
from shared.errors import DomainError
from shared.http import ERROR_RESPONSES, bearer_principal, install_error_handlers
from shared.observability import HttpMetricsMiddleware, SpineMetrics
from shared.oidc import CompositeVerifier, OIDCVerifier
from shared.policy import Policy, Rule
from shared.settings import Settings

log = logging.getLogger(__name__)

# The dead-letter view every service on the bus serves (administrators only; the records' bodies never leave).
DLQ_POLICY = Policy([Rule("dlq.read", {"admin": "any"}, description="This service's dead letters (read-only)")])

# Allocations between two collections of the youngest generation once start-up is over (Python's default: 700).
GC_YOUNG_THRESHOLD = 20_000

class StreamsNotProvisioned(RuntimeError):
    def __init__(self, names: list[str]):
        super().__init__(f"stream{'s' if len(names) > 1 else ''} {', '.join(names)} not provisioned")


TaskFactory = Callable[["Service"], Coroutine[Any, Any, None]]
SQLITE_SWITCH_INTERVAL = 0.0005  # seconds; see Service.start


async def _raw_bodies(message: Any) -> Any:
    return None


def _stop_requested() -> bool:
    """Whether this task was asked to stop. A cancellation that arrives while a library call is waiting can come
    back as that library's own error, or not at all (before Python 3.12, `asyncio.wait_for` returns the result
    when it finished in the same moment); a retry loop must not take it for a failure to retry, or the service's
    stop waits for it for ever."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Service:
    """Everything one service runs. Built by the service's app.py; started by the HTTP app's lifespan."""

    def __init__(self, name: str, settings: Settings, *, title: str, description: str = "", bus: bool = True,
                 session_cookie: str | None = None):
        self.name = name
        # A service without the bus (the console) only serves HTTP over its own database: no NATS connection,
        # no relay, and /readyz does not wait for NATS.
        self.uses_bus = bus
        self.settings = settings
        self.source = f"antq/{name}"
        self.ns = Namespace(settings.namespace)
        self.registry = CollectorRegistry(auto_describe=True)
        self.metrics = SpineMetrics(self.registry, name)
        self.db = Database(settings.database_url_for(name), source=self.source,
                           sqlite_synchronous=settings.sqlite_synchronous)
        self.broker: NatsBroker = make_broker(settings, service=name, registry=self.registry)
        # What /asyncapi.json documents: the consumers (receive) and the catalogue events (send). Never connected:
        # the consumers run their own pull loops (shared/bus/pull.py), the outbox relay publishes.
        self._spec_broker: NatsBroker = make_broker(settings, service=name)
        self.tokens = CompositeVerifier(
            TokenAuthority.from_file(settings.auth_key_path(), issuer=settings.auth_issuer,
                                     default_ttl=settings.auth_token_ttl_seconds,
                                     revocations=RevocationList(revocation_path(settings))),
            OIDCVerifier.from_settings(settings))
        self.consumers: list[Consumer] = []
        self.runners: dict[str, ConsumerRunner] = {}
        self._subscribers: dict[str, Any] = {}
        self._loops: dict[str, PullLoop] = {}
        self._task_factories: list[tuple[str, TaskFactory]] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._bus_ready = asyncio.Event()
        self._js: JetStreamContext | None = None
        self._js_connection: Any = None
        self.bus_error: str | None = None
        self.bus_waiting: str | None = None  # e.g. "waiting: stream UNITS not provisioned"
        self.relay = OutboxRelay(self.db, self._publish_many, namespace=self.ns, metrics=self.metrics,
                                 batch_size=settings.relay_batch_size, poll_interval=settings.relay_poll_interval)
        self.started_at = time.time()
        # Handlers read the time from here so tests can move it (deadlines, quiet hours, digests).
        self.clock: Callable[[], datetime] = utcnow
        self._document_publications()
        # Callers authenticate with a bearer token, or (the console) with this session cookie: the OpenAPI
        # document declares the one the service accepts.
        self.session_cookie = session_cookie
        self.app = self._build_app(title, description)

    # --- registration ---------------------------------------------------------------------------------------
    def consumer(self, purpose: str, *, stream: str, subject: str, types: set[str] | None = None,
                 description: str = "", dlq_keeps_body: bool = True) -> Callable[[Handler], Handler]:
        """Register a durable consumer named `<service>-<purpose>`; each event gets its handler's effect once
        (the handler may run again after a rollback, see ConsumerRunner._process)."""

        def register(handler: Handler) -> Handler:
            self._add_consumer(purpose, stream, subject, types, description, handler.__doc__, handler, None,
                               dlq_keeps_body)
            return handler

        return register

    def batch_consumer(self, purpose: str, *, stream: str, subject: str, types: set[str] | None = None,
                       description: str = "", dlq_keeps_body: bool = True) -> Callable[[BatchHandler], BatchHandler]:
        """Like `consumer`, but the handler takes the batch's new events at once (in stream order), so that it
        can read and write them with a few set-based statements. It must give each event the effect that
        handling them one by one would; when it raises, the spine runs it again on each event alone."""

        def register(handler: BatchHandler) -> BatchHandler:
            async def one(delivery: Delivery, uow: UnitOfWork) -> None:
                await handler([delivery], uow)

            self._add_consumer(purpose, stream, subject, types, description, handler.__doc__, one, handler,
                               dlq_keeps_body)
            return handler

        return register

    def _add_consumer(self, purpose: str, stream: str, subject: str, types: set[str] | None, description: str,
                      doc: str | None, handler: Handler, batch_handler: BatchHandler | None,
                      dlq_keeps_body: bool) -> None:
        self.consumers.append(Consumer(
            name=f"{self.name}-{purpose}", stream=stream, filter_subject=subject, handler=handler,
            batch_handler=batch_handler, description=description or (doc or "").strip().splitlines()[0]
            if doc else description, types=frozenset(types) if types else None, dlq_keeps_body=dlq_keeps_body))

    def background(self, name: str, factory: TaskFactory) -> None:
        """A long-running task started with the bus (e.g. a deadline scheduler); /readyz checks it is alive."""
        self._task_factories.append((name, factory))

    def include_router(self, router: APIRouter) -> None:
        self.app.include_router(router)

    # --- publishing -----------------------------------------------------------------------------------------
    def js(self) -> JetStreamContext:
        # One context per connection: it holds the reply subscription that asynchronous publishing shares.
        connection = self.broker.connection
        if self._js is None or self._js_connection is not connection:
            self._js, self._js_connection = connection.jetstream(), connection
        return self._js

    async def _publish_many(self, messages: list[tuple[str, bytes, dict[str, str]]]) -> list[Any]:
        """The relay's batch: every message sent at once with `publish_async` (which resolves on the PubAck through
        one shared reply subscription), then all PubAcks awaited under one deadline. A message costs a future,
        not the tasks and timers that awaiting each one under its own timeout would."""
        if not self._bus_ready.is_set():
            return [ConnectionError("bus not connected yet")] * len(messages)
        js = self.js()
        results: list[Any] = [None] * len(messages)
        sent: list[tuple[int, asyncio.Future[Any]]] = []
        for i, (subject, payload, headers) in enumerate(messages):
            try:
                sent.append((i, await js.publish_async(subject, payload, headers=headers)))
            except Exception as exc:  # noqa: BLE001 — this message is retried by the relay's next pass
                results[i] = exc
        if sent:
            await asyncio.wait([f for _, f in sent], timeout=self.settings.publish_timeout)
        for i, future in sent:
            if not future.done():
                future.cancel()
                results[i] = TimeoutError(f"no PubAck within {self.settings.publish_timeout}s")
            elif future.cancelled():
                results[i] = ConnectionError("publish cancelled")
            else:
                results[i] = future.exception() or future.result()
        return results

    # --- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.db.sqlite and sys.getswitchinterval() > SQLITE_SWITCH_INTERVAL:
            # aiosqlite runs every statement in a thread; when the event loop is busy, that thread waits up to
            # the switch interval (5 ms by default) for the GIL to hand its result back, and a unit of work holds
            # SQLite's single write lock across several such round trips. A shorter interval hands results back
            # sooner (docs/benchmarks.md).
            sys.setswitchinterval(SQLITE_SWITCH_INTERVAL)
        if self.settings.migrate_on_start:
            # Imported here: Alembic (with Mako) is 11 MiB of a service's memory, needed only where the service
            # migrates its own database; in compose and Kubernetes the migration job does it.
            from shared.migrations import migrate

            await self._retry("database migration", lambda: migrate(self.db.url, self.name))
        for consumer in self.consumers:  # before connecting, so /asyncapi.json is complete from the start
            if consumer.name not in self._subscribers:
                self._subscribe(consumer)
        if self.uses_bus:
            self._tasks["bus"] = asyncio.create_task(self._start_bus(), name=f"{self.name}-bus")
        else:
            self._start_background_tasks()
        if self.settings.gc_freeze_on_start:
            # Start-up leaves many long-lived objects (models, routes, mappers); frozen, they are no longer rescanned
            # by every full collection (docs/benchmarks.md).
            gc.collect()
            gc.freeze()
            # A batch of events keeps its objects alive until it is settled, so the default first-generation
            # threshold (700 allocations) traced them over and over as they aged into the older generations: a
            # tenth to a fifth of a batch consumer's time (docs/benchmarks.md). Objects freed by reference
            # counting, most of them, never reach a collection at this threshold.
            gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])

    async def _retry(self, what: str, fn: Callable[[], Awaitable[Any]]) -> None:
        backoff = Backoff(first=0.5, cap=10)
        while True:
            try:
                await fn()
                return
            except Exception as exc:  # keep trying until the dependency answers
                if _stop_requested():
                    raise asyncio.CancelledError from exc
                delay = backoff.failed()
                log.warning("%s failed, retrying in %.1fs: %s", what, delay, exc)
                await asyncio.sleep(delay)

    async def _start_bus(self) -> None:
        # HTTP answers (and the outbox accepts writes) while NATS is unreachable; /readyz says why.
        for consumer in self.consumers:
            if consumer.name not in self._subscribers:
                self._subscribe(consumer)
        backoff = Backoff(first=0.5, cap=10)
        while True:
            try:
                await self.broker.connect()
                js = self.js()
                # Streams are provisioned by `antq nats provision` (a service may not create them): wait.
                missing = await missing_streams(js, self._needed_streams())
                if missing:
                    raise StreamsNotProvisioned(missing)
                for consumer in self.consumers:
                    action = await reconcile_consumer(js, self._durable(consumer))
                    log.info("consumer %s %s", consumer.name, action)
                await self.broker.start()
                await self._start_consumers(js)
                break
            except Exception as exc:
                if _stop_requested():
                    raise asyncio.CancelledError from exc
                # Missing streams are not a connection problem: /readyz says what the service waits for.
                waiting = isinstance(exc, StreamsNotProvisioned)
                self.bus_error = None if waiting else f"{type(exc).__name__}: {exc}"
                self.bus_waiting = f"waiting: {exc} (run `antq nats provision`)" if waiting else None
                delay = backoff.failed()
                log.warning("bus start-up: %s; retrying in %.1fs", self.bus_waiting or self.bus_error, delay)
                await asyncio.sleep(delay)
        self.bus_error = self.bus_waiting = None
        self._bus_ready.set()
        self._tasks["relay"] = asyncio.create_task(self.relay.run(), name=f"{self.name}-relay")
        self._start_background_tasks()
        log.info("%s ready: %d consumer(s)", self.name, len(self.consumers))

    def _start_background_tasks(self) -> None:
        for name, factory in self._task_factories:
            self._tasks[name] = asyncio.create_task(factory(self), name=f"{self.name}-{name}")

    def _needed_streams(self) -> list[str]:
        """The streams this service publishes to (its own, the DLQ) and consumes."""
        names = []
        replies = [outbound_subject("x", t) for t, by in OUTBOUND_PUBLISHERS.items() if self.name in by]
        for subject in (f"antq.{self.name}.x", dlq_subject(self.name, "x"), *replies[:1]):
            with contextlib.suppress(KeyError):  # a service with no stream of its own (benchmarks)
                names.append(stream_for_subject(subject).name)
        names += [consumer.stream for consumer in self.consumers]
        return [self.ns.stream(name) for name in dict.fromkeys(names)]

    def _durable(self, consumer: Consumer) -> DurableSpec:
        return DurableSpec(stream=self.ns.stream(consumer.stream), durable=consumer.name,
                           filter_subject=self.ns.subject(consumer.filter_subject),
                           ack_wait=self.settings.consumer_ack_wait)

    def _subscribe(self, consumer: Consumer) -> None:
        runner = ConsumerRunner(consumer=consumer, service=self.name, db=self.db, js_factory=self.js,
                                namespace=self.ns, metrics=self.metrics,
                                max_deliver=self.settings.consumer_max_deliver,
                                retry_delay=self.settings.consumer_retry_delay)
        self.runners[consumer.name] = runner
        # For the AsyncAPI document only (the spec broker is never started): the pull loop runs the consumer.
        subscriber = self._spec_broker.subscriber(
            self.ns.subject(consumer.filter_subject),
            stream=JStream(self.ns.stream(consumer.stream), declare=False),
            durable=consumer.name,
            pull_sub=PullSub(batch_size=self.settings.consumer_batch_size,
                             timeout=self.settings.consumer_fetch_timeout, batch=True),
            ack_policy=AckPolicy.MANUAL,
            title=consumer.name,
            description=consumer.description or None,
            decoder=_raw_bodies,
        )

        async def on_batch(message: NatsMessage) -> None:
            raw: Any = message.raw_message  # a list of nats Msg in batch mode
            await runner.handle_batch(list(raw))

        subscriber(on_batch)
        self._subscribers[consumer.name] = subscriber

    async def _start_consumers(self, js: JetStreamContext) -> None:
        for consumer in self.consumers:
            if consumer.name in self._loops:
                continue
            loop = PullLoop(stream=self.ns.stream(consumer.stream), durable=consumer.name,
                            handle=self.runners[consumer.name].handle_batch,
                            batch=self.settings.consumer_batch_size, more_wait=self.settings.consumer_fetch_timeout,
                            # Pull deliveries come to the service's own inbox prefix, which only it may read.
                            inbox_prefix=f"{inbox_prefix(self.name)}.".encode())
            await loop.start(js)
            self._loops[consumer.name] = loop

    async def stop(self) -> None:
        self.relay.stop()
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.uses_bus:
            # Each consumer finishes the batch in hand and hands back one fetched ahead.
            await asyncio.gather(*(loop.stop() for loop in self._loops.values()))
            self._loops.clear()
            with contextlib.suppress(Exception):
                await self.broker.stop()
        await self.db.dispose()

    # --- health ---------------------------------------------------------------------------------------------
    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(self.db.ping(), timeout=3)
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if not self.uses_bus:
            checks["nats"] = "not used"
        elif not self._bus_ready.is_set():
            checks["nats"] = self.bus_waiting or f"not connected: {self.bus_error or 'starting'}"
        else:
            try:
                connected = self.broker.connection.is_connected
            except Exception:  # noqa: BLE001
                connected = False
            checks["nats"] = "ok" if connected else "disconnected (reconnecting)"
        consumers: dict[str, str] = {}
        for consumer in self.consumers:
            loop = self._loops.get(consumer.name)
            consumers[consumer.name] = "ok" if loop is not None and loop.alive else "stopped"
        if self._bus_ready.is_set():
            checks["consumers"] = consumers
        for name, task in self._tasks.items():
            if name != "bus" and task.done():
                checks[name] = "stopped"
        ok = (checks["database"] == "ok" and checks["nats"] in ("ok", "not used")
              and all(v == "ok" for v in consumers.values())
              and not any(v == "stopped" for k, v in checks.items() if k not in ("consumers",)))
        self.metrics.ready.set(1 if ok else 0)
        return ok, checks

    def _document_publications(self) -> None:
        """Declare the catalogue events this service publishes (`antq.<service>.*`) to the broker for the AsyncAPI
        document only: each becomes a `send` operation whose payload is the CloudEvents envelope with the event's
        own data schema. The events themselves are published by the outbox relay, not by these publishers."""
        from pydantic import create_model

        for event_type, model in sorted(EVENT_TYPES.items()):
            if not event_type.startswith(f"antq.{self.name}."):
                continue
            envelope = create_model(f"{model.__name__}Event", __base__=CloudEvent, __doc__=model.__doc__,
                                    type=(Literal[event_type], event_type), data=(model, ...))  # type: ignore[call-overload,arg-type]
            self._spec_broker.publisher(self.ns.subject(event_type), title=event_type,
                                  description=(model.__doc__ or event_type).strip(), schema=envelope)
        for reply in OUTBOUND:  # replies to the agencies, each on the agency's own subjects
            if self.name not in OUTBOUND_PUBLISHERS.get(reply.TYPE, ()):
                continue
            reply_envelope = create_model(f"{reply.__name__}Event", __base__=CloudEvent, __doc__=reply.__doc__,
                                          type=(Literal[reply.TYPE], reply.TYPE), data=(reply, ...))  # type: ignore[call-overload,arg-type]
            subject = self.ns.subject(outbound_subject("*", reply.TYPE))
            self._spec_broker.publisher(subject, title=subject, description=(reply.__doc__ or reply.TYPE).strip(),
                                  schema=reply_envelope)

    def asyncapi(self) -> dict[str, Any]:
        from faststream.specification import AsyncAPI

        doc = AsyncAPI(self._spec_broker, title=f"antq {self.name}", version="1.0.0",
                       description=f"Events the antq {self.name} service consumes (receive) and publishes through "
                                   f"its outbox (send, {self.ns.subject(f'antq.{self.name}.>')}).",
                       schema_version="3.0.0")
        return doc.to_specification().to_jsonable()  # type: ignore[no-any-return]

    # --- HTTP -----------------------------------------------------------------------------------------------
    def _build_app(self, title: str, description: str) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        # /docs comes from shared.apidocs (assets served locally, each operation's security derived from the
        # policy); no CDN-backed pages.
        app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan, docs_url=None,
                      redoc_url=None)
        install_api_docs(app, session_cookie=self.session_cookie)
        app.state.service = self
        app.state.tokens = self.tokens
        install_error_handlers(app)
        app.add_middleware(BodyLimitMiddleware)  # 413 / 400 before a body reaches a route (shared.bodylimit)
        app.add_middleware(HttpMetricsMiddleware, metrics=self.metrics)

        @app.get("/healthz", tags=["operations"], summary="The process is alive (public)")
        async def healthz() -> dict[str, str]:
            return {"status": "alive", "service": self.name}

        @app.get("/readyz", tags=["operations"], summary="Database, NATS and consumers are working (public)",
                 responses={503: {"description": "not ready, with the reason"}})
        async def readyz() -> JSONResponse:
            ok, checks = await self.readiness()
            return JSONResponse({"status": "ready" if ok else "not_ready", "service": self.name,
                                 "checks": checks}, status_code=200 if ok else 503)

        @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (public)",
                 response_class=Response)
        async def metrics() -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        @app.get("/asyncapi.json", tags=["operations"], summary="AsyncAPI 3 document (public)")
        async def asyncapi(request: Request) -> JSONResponse:
            return JSONResponse(self.asyncapi())

        if self.uses_bus:
            @app.get("/dlq", tags=["operations"], responses=ERROR_RESPONSES,
                     summary="This service's dead letters, oldest first, without their bodies (administrators; "
                             "read-only: `antq dlq replay` replays)")
            async def dead_letters(request: Request, limit: int = Query(default=100, ge=1, le=500)) -> JSONResponse:
                DLQ_POLICY.authorize(bearer_principal(request), "dlq.read")
                if not self._bus_ready.is_set():
                    raise DomainError("NATS is not connected", code="bus_unavailable", status=503)
                found = await read_dead_letters(self.js(), self.ns, limit=limit, service=self.name)
                return JSONResponse({"service": self.name, "items": [d.as_dict() for d in found]},
                                    headers={"Cache-Control": "no-store"})

        return app
