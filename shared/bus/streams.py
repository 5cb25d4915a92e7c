"""Broker factory, namespaces, stream declaration and durable-consumer reconciliation against the server."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError
from prometheus_client import CollectorRegistry

from shared.bus.permissions import inbox_prefix
from shared.contracts.subjects import OUTBOUND_PREFIX, STREAMS, Retention, outbound_durable
from shared.settings import Settings, valid_agency_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Namespace:
    """Prefixes subjects and stream names; empty in production so that the subject equals the event type."""

    prefix: str = ""

    def subject(self, event_type: str) -> str:
        return f"{self.prefix}.{event_type}" if self.prefix else event_type

    def strip(self, subject: str) -> str:
        if self.prefix and subject.startswith(self.prefix + "."):
            return subject[len(self.prefix) + 1:]
        return subject

    def stream(self, name: str) -> str:
        return f"{self.prefix}_{name}" if self.prefix else name


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not (settings.nats_tls_ca or settings.nats_tls_cert):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(settings.nats_tls_ca) if
                                     settings.nats_tls_ca else None)
    if settings.nats_tls_cert:
        # Without a key file the certificate file must hold the key too (one combined PEM).
        ctx.load_cert_chain(str(settings.nats_tls_cert),
                            str(settings.nats_tls_key) if settings.nats_tls_key else None)
    return ctx


def connect_options(settings: Settings, name: str) -> dict[str, Any]:
    """nats-py connect() options from settings: reconnect forever, credentials and TLS wired in."""
    opts: dict[str, Any] = {
        "servers": [u.strip() for u in settings.effective_nats_url().split(",") if u.strip()],
        "name": name,
        # nats-py gives up after 60 attempts by default; a service must keep trying for as long as it runs.
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 1,
        "connect_timeout": settings.nats_connect_timeout,
        "allow_reconnect": True,
    }
    if settings.nats_user:
        opts["user"] = settings.nats_user
        opts["password"] = settings.nats_password or ""
    if settings.nats_token:
        opts["token"] = settings.nats_token
    if settings.nats_creds:
        opts["user_credentials"] = str(settings.nats_creds)
    tls = tls_context(settings)
    if tls is not None:
        opts["tls"] = tls
    return opts


def _connection_error_logger(service: str, every: float = 60.0) -> Callable[[Exception], Awaitable[None]]:
    """FastStream logs only nats-py's own errors: a TLS failure (an untrusted server, a client certificate the
    server refuses) or a refused socket would be retried in silence. Log each of those, once a minute at most."""
    last_logged: dict[str, float] = {}

    async def on_error(exc: Exception) -> None:
        from nats.errors import Error as NatsError

        if isinstance(exc, NatsError):
            return
        text = f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if now - last_logged.get(text, -every) >= every:
            if len(last_logged) > 100:
                last_logged.clear()
            last_logged[text] = now
            log.warning("antq-%s: NATS connection error: %s", service, text)

    return on_error


def make_broker(settings: Settings, *, service: str, registry: CollectorRegistry | None = None) -> NatsBroker:
    from faststream.nats.prometheus import NatsPrometheusMiddleware

    middlewares = []
    if registry is not None:
        middlewares.append(NatsPrometheusMiddleware(registry=registry, app_name=f"antq-{service}"))
    opts = connect_options(settings, f"antq-{service}")
    servers = opts.pop("servers")
    opts.pop("allow_reconnect")
    user_credentials = opts.pop("user_credentials", None)
    user = opts.pop("user", None)
    password = opts.pop("password", None)
    token = opts.pop("token", None)
    tls = opts.pop("tls", None)
    from faststream.security import BaseSecurity, SASLPlaintext

    security: BaseSecurity | None = None

    if user is not None:
        security = SASLPlaintext(username=user, password=password or "", ssl_context=tls)
    elif tls is not None:
        security = BaseSecurity(ssl_context=tls)
    extra: dict[str, Any] = {}
    if user_credentials:
        extra["user_credentials"] = user_credentials
    if token:
        extra["token"] = token
    return NatsBroker(
        servers,
        name=opts["name"],
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=int(max(1, settings.nats_connect_timeout)),
        security=security,
        middlewares=middlewares,
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,
        graceful_timeout=10.0,
        error_cb=_connection_error_logger(service),
        # Replies (pull deliveries, PubAcks) arrive below the service's own prefix, which only it may read.
        inbox_prefix=inbox_prefix(service),
        **extra,
    )


_RETENTION: dict[Retention, RetentionPolicy] = {"limits": RetentionPolicy.LIMITS,
                                               "workqueue": RetentionPolicy.WORK_QUEUE}


def stream_config(name: str, subjects: list[str], settings: Settings, description: str = "",
                  retention: Retention = "limits", max_age_days: float | None = None) -> StreamConfig:
    days = settings.stream_max_age_days if max_age_days is None else max_age_days
    return StreamConfig(
        name=name,
        subjects=subjects,
        description=description or None,
        retention=_RETENTION[retention],
        storage=StorageType.FILE,
        num_replicas=settings.stream_replicas,
        duplicate_window=settings.stream_duplicate_window_seconds,
        max_age=days * 86400 if days else None,
        discard=DiscardPolicy.OLD,
    )


async def ensure_streams(js: JetStreamContext, settings: Settings) -> list[tuple[str, str]]:
    """Declare every stream of the registry (the one place streams are declared), updating drifted ones.
    Needs the provisioning credentials: service users may not create or update streams. Returns what was done."""
    ns = Namespace(settings.namespace)
    done: list[tuple[str, str]] = []
    for spec in STREAMS:
        name = ns.stream(spec.name)
        max_age = settings.outbound_max_age_days if spec.name == "OUTBOUND" else spec.max_age_days
        cfg = stream_config(name, [ns.subject(s) for s in spec.subjects], settings,
                            spec.description, spec.retention, max_age)
        try:
            await js.add_stream(cfg)
            done.append((name, "created"))
        except BadRequestError as exc:
            if "already in use" not in (exc.description or ""):
                raise
            current = (await js.stream_info(name)).config
            if (current.subjects, current.duplicate_window, current.num_replicas, current.max_age or 0) != (
                cfg.subjects, cfg.duplicate_window, cfg.num_replicas, cfg.max_age or 0
            ):
                log.warning("updating stream %s to the configured settings", cfg.name)
                await js.update_stream(cfg)
                done.append((name, "updated"))
            else:
                done.append((name, "unchanged"))
    return done


def agency_consumer(namespace: str, agency: str) -> DurableSpec:
    """The durable consumer an agency reads its replies through: OUTBOUND filtered to `antq.outbound.<agency>.>`.
    Agencies may not create consumers; the provisioning user creates this one and the agency binds to it."""
    ns = Namespace(namespace)
    return DurableSpec(stream=ns.stream("OUTBOUND"), durable=outbound_durable(agency),
                       filter_subject=ns.subject(f"{OUTBOUND_PREFIX}.{agency}.>"), ack_wait=60.0,
                       max_ack_pending=1000)


async def ensure_agency_consumers(js: JetStreamContext, namespace: str,
                                  agencies: Iterable[str]) -> list[tuple[str, str]]:
    """Create (or bring in line) each agency's durable consumer on OUTBOUND. Returns what was done."""
    done = []
    for agency in sorted(set(agencies)):
        if not valid_agency_name(agency):
            raise ValueError(f"invalid agency name {agency!r}: lower-case letters, digits and hyphens only")
        spec = agency_consumer(namespace, agency)
        done.append((f"{spec.stream}/{spec.durable}", await reconcile_consumer(js, spec)))
    return done


async def provision(settings: Settings, agencies: Iterable[str] = ()) -> list[tuple[str, str]]:
    """`antq nats provision`: connect with the configured (provisioning) credentials and declare the streams, and
    the durable consumer of each agency on OUTBOUND."""
    import nats

    opts = connect_options(settings, "antq-provision")
    opts.update(allow_reconnect=False, max_reconnect_attempts=0)
    nc = await nats.connect(**opts)
    try:
        js = nc.jetstream()
        done = await ensure_streams(js, settings)
        return done + await ensure_agency_consumers(js, settings.namespace, agencies)
    finally:
        await nc.close()


async def missing_streams(js: JetStreamContext, names: list[str]) -> list[str]:
    """Which of these streams do not exist yet (a service waits for provisioning instead of declaring them)."""
    missing = []
    for name in names:
        try:
            await js.stream_info(name)
        except NotFoundError:
            missing.append(name)
    return missing


@dataclass(frozen=True)
class DurableSpec:
    stream: str
    durable: str
    filter_subject: str
    ack_wait: float
    # Room for a batch in processing, one fetched ahead (see the pull loop) and messages waiting for a delayed
    # redelivery after a NAK, at the largest consumer batch size.
    max_ack_pending: int = 12_000


def consumer_config(spec: DurableSpec) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=spec.durable,
        name=spec.durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=spec.ack_wait,
        # The consumer enforces the delivery limit itself (and sends the message to the DLQ); a server-side
        # limit would silently stop redelivering without a DLQ record.
        max_deliver=-1,
        filter_subject=spec.filter_subject,
        max_ack_pending=spec.max_ack_pending,
    )


async def reconcile_consumer(js: JetStreamContext, spec: DurableSpec) -> str:
    """Bring a durable consumer's server-side settings in line with the code. Returns what was done."""
    wanted = consumer_config(spec)
    try:
        info = await js.consumer_info(spec.stream, spec.durable)
    except NotFoundError:
        await js.add_consumer(spec.stream, wanted)
        return "created"
    have = info.config
    if (have.filter_subject, have.ack_wait, have.max_deliver, have.max_ack_pending, have.deliver_policy,
            have.ack_policy) == (wanted.filter_subject, wanted.ack_wait, wanted.max_deliver,
                                 wanted.max_ack_pending, wanted.deliver_policy, wanted.ack_policy):
        return "unchanged"
    try:
        await js.add_consumer(spec.stream, wanted)  # create-or-update on nats-server ≥ 2.10
        return "updated"
    except BadRequestError as exc:
        # An immutable field changed: recreate from the start of the stream; processed_events makes replays no-ops.
        log.warning("recreating consumer %s: %s", spec.durable, exc.description)
        await js.delete_consumer(spec.stream, spec.durable)
        await js.add_consumer(spec.stream, wanted)
        return "recreated"
