"""Idempotent consumers: decode, validate, run the handler once per event (processed_events), DLQ the rest."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError, create_model
from sqlalchemy import text

from shared.backoff import backoff_delay
from shared.bus.streams import Namespace
from shared.contracts.envelope import CloudEvent, new_event
from shared.contracts.events import REFUSAL_KINDS, EventData, InboundRejected, data_model_for
from shared.contracts.subjects import dlq_subject, inbound_agency, outbound_subject
from shared.db import (
    Database,
    UnitOfWork,
    claim_events,
    insert_many,
    is_infrastructure_error,
    processed_events,
    seen_events,
    utcnow,
)
from shared.errors import problems
from shared.errors import reason as validation_reason
from shared.observability import SpineMetrics
from shared.settings import valid_agency_name

log = logging.getLogger(__name__)


class Reject(Exception):
    """A handler's verdict that an event can never be processed (e.g. unknown unit): DLQ it now, no retries.

    `kind` names the refusal in the DLQ record (`Antq-Dlq-Kind`); the message is its reason, so it must not echo
    personal data from the event."""

    def __init__(self, reason: str, *, kind: str = "rejected"):
        super().__init__(reason)
        self.kind = kind


# Savepoints are issued as plain SQL: SQLAlchemy's `begin_nested()` also releases each one, a second round trip.
_SAVEPOINT = text("SAVEPOINT antq_event")
_ROLLBACK_TO = text("ROLLBACK TO SAVEPOINT antq_event")
_GUARD = text("SELECT 1")


@dataclass(frozen=True)
class Delivery:
    """One decoded, validated event as a handler sees it."""

    envelope: CloudEvent
    data: EventData
    event_type: str
    agency: str | None
    num_delivered: int

    @property
    def event_id(self) -> str:
        return self.envelope.id


Handler = Callable[[Delivery, UnitOfWork], Awaitable[None]]
BatchHandler = Callable[[list[Delivery], UnitOfWork], Awaitable[None]]


@dataclass
class Consumer:
    """A durable consumer `<service>-<purpose>` on one stream with one filter subject (wildcards allowed)."""

    name: str
    stream: str
    filter_subject: str
    handler: Handler
    description: str = ""
    # Event types this consumer acts on; others on its subject are acknowledged and skipped (forward
    # compatibility: a new event type must not poison an old consumer). None means every catalogue type.
    types: frozenset[str] | None = None
    # Optional: handles a batch's new events at once (see Service.batch_consumer); `handler` then runs one.
    batch_handler: BatchHandler | None = None
    # Whether a DLQ record keeps the message's bytes (so an operator can replay it). False where a message may
    # carry personal data that must not stay in clear on the bus: the record then keeps the reason, the subject,
    # the agency and the reference, and the agency sends the message again after a fix.
    dlq_keeps_body: bool = True

    async def handle_all(self, deliveries: list[Delivery], uow: UnitOfWork) -> None:
        """Give these events their effect in one transaction, in order: with the batch handler, or one by one."""
        if not deliveries:
            return
        if self.batch_handler is not None:
            await self.batch_handler(deliveries, uow)
        else:
            for delivery in deliveries:
                await self.handler(delivery, uow)


def _parse_envelope(payload: bytes | None) -> CloudEvent | tuple[str, str]:
    """The envelope of a message, or (DLQ kind, reason). Valid JSON is parsed once, by pydantic's own parser;
    only a message that fails is parsed again, to say precisely what is wrong with it."""
    try:
        return CloudEvent.model_validate_json(payload or b"")
    except (ValidationError, RecursionError, ValueError):
        pass
    try:
        raw = json.loads(payload or b"")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return "undecodable", f"not JSON: {type(exc).__name__}"
    if not isinstance(raw, dict):
        return "undecodable", "not a CloudEvents JSON object"
    try:
        return CloudEvent.model_validate(raw)
    except RecursionError:
        return "invalid", "envelope nested too deeply"
    except ValidationError as exc:
        return "invalid", f"envelope: {validation_reason(exc)}"


@functools.cache
def _typed_envelope(model: type[EventData]) -> type[CloudEvent]:
    """The envelope with `data` as this type's model: both validated by one pass of pydantic's JSON parser (the
    generic envelope parses `data` into a dict that the type's model then validates again, field by field)."""
    typed: type[CloudEvent] = create_model(f"{model.__name__}Envelope", __base__=CloudEvent,
                                           data=(model, ...))  # type: ignore[call-overload]
    return typed


class _Redo(Exception):
    """A handler raised in a batch run without savepoints: roll it all back and run it again with them."""


@dataclass
class _Item:
    msg: Msg
    delivery: Delivery | None = None
    dlq_reason: str | None = None
    dlq_kind: str = ""
    outcome: str = ""  # ok | duplicate | skipped | retry | dlq
    error: str | None = None
    infrastructure: bool = False  # the retry's failure was the database's or the network's (is_infrastructure_error)


@dataclass(frozen=True)
class _Failure:
    """The last failure of an event's delivery: its "<ExceptionType>: message", and whether it was the
    infrastructure's (classified once, when it was caught: retried without limit, never dead-lettered)."""

    error: str
    infrastructure: bool


@dataclass
class ConsumerRunner:
    """Processes batches fetched by the FastStream pull subscriber; acks only after the transaction commits."""

    consumer: Consumer
    service: str
    db: Database
    js_factory: Callable[[], JetStreamContext]
    namespace: Namespace
    metrics: SpineMetrics | None = None
    max_deliver: int = 5
    retry_delay: float = 1.0
    _last_errors: dict[str, _Failure] = field(default_factory=dict)

    async def handle_batch(self, msgs: list[Msg]) -> None:
        started = time.perf_counter()
        items = [self._decode(m) for m in msgs]
        valid = [it for it in items if it.delivery is not None and not it.dlq_reason and not it.outcome]
        if valid:
            try:
                await self._process(valid)
            except Exception as exc:  # noqa: BLE001 — infrastructure failure: nothing committed, retry later
                log.warning("consumer %s: batch of %d not committed: %s", self.consumer.name, len(valid), exc)
                infrastructure = is_infrastructure_error(exc)
                for it in valid:
                    it.outcome, it.error = "retry", f"{type(exc).__name__}: {exc}"
                    it.infrastructure = infrastructure
        await self._settle(items)
        if self.metrics:
            self.metrics.handler_seconds.labels(self.service, self.consumer.name).observe(
                time.perf_counter() - started)

    # --- decoding -------------------------------------------------------------------------------------------
    def _decode(self, msg: Msg) -> _Item:
        subject_type = self.namespace.strip(msg.subject)
        model = data_model_for(subject_type)
        if model is not None and (self.consumer.types is None or model.TYPE in self.consumer.types):
            # The common case, in one pass of pydantic's JSON parser: the envelope with its data as the type's model.
            # A message that fails it (or any check below) is decoded again the long way, which says precisely
            # what is wrong with it and refuses it exactly as before.
            try:
                typed = _typed_envelope(model).model_validate_json(msg.data or b"")
            except (ValidationError, RecursionError, ValueError):
                pass
            else:
                item = self._decode_typed(msg, subject_type, typed)
                if item is not None:
                    return item
        return self._decode_slow(msg, subject_type)

    def _decode_typed(self, msg: Msg, subject_type: str, envelope: CloudEvent) -> _Item | None:
        """The item of a message whose envelope and data are valid, or None when a subject check fails."""
        agency: str | None = None
        if subject_type.startswith("antq.inbound."):
            parts = subject_type.split(".")
            agency = parts[2] if len(parts) == 5 else None
            if (agency is None or not valid_agency_name(agency) or envelope.source != f"agency/{agency}"
                    or envelope.type not in (".".join(parts[3:]), subject_type)):
                return None
        elif envelope.type != subject_type:
            return None
        data = envelope.data
        assert isinstance(data, EventData)
        item = _Item(msg)
        self._deliver(item, envelope, data, agency)
        return item

    def _deliver(self, item: _Item, envelope: CloudEvent, data: EventData, agency: str | None) -> None:
        num = _deliveries(item.msg)
        item.delivery = Delivery(envelope=envelope, data=data, event_type=data.TYPE, agency=agency,
                                 num_delivered=num)
        last = self._last_errors.get(envelope.id)
        if num > self.max_deliver and not (last and last.infrastructure):
            # Reached when a previous delivery crashed the process before it could settle the message. Deliveries
            # that failed on the infrastructure (database locked or down, a table not migrated yet) are retried
            # without limit, so they never count towards giving up.
            reason = last.error if last else "the handler did not finish"
            item.dlq_kind, item.dlq_reason = "exhausted", f"gave up after {num - 1} deliveries: {reason}"

    def _decode_slow(self, msg: Msg, subject_type: str) -> _Item:
        item = _Item(msg)
        envelope_or_error = _parse_envelope(msg.data)
        if isinstance(envelope_or_error, tuple):
            item.dlq_kind, item.dlq_reason = envelope_or_error
            return item
        envelope = envelope_or_error
        agency: str | None = None
        if subject_type.startswith("antq.inbound."):
            parts = subject_type.split(".")
            agency = parts[2] if len(parts) == 5 else None
            if agency is None or not valid_agency_name(agency):
                item.dlq_kind, item.dlq_reason = "invalid", "inbound subject must be antq.inbound.<agency>.<Type>.v1"
                return item
            if envelope.source != f"agency/{agency}":
                item.dlq_kind = "source_mismatch"
                item.dlq_reason = f"source {envelope.source!r} does not match the publishing agency {agency!r}"
                return item
            expected_type = ".".join(parts[3:])
            if envelope.type not in (expected_type, subject_type):
                item.dlq_kind, item.dlq_reason = "invalid", f"type {envelope.type!r} does not match the subject"
                return item
        elif envelope.type != subject_type:
            item.dlq_kind, item.dlq_reason = "invalid", f"type {envelope.type!r} does not match subject"
            return item
        types = self.consumer.types
        model = data_model_for(subject_type)
        if model is None or (types is not None and model.TYPE not in types):
            if agency is not None:
                item.dlq_kind, item.dlq_reason = "invalid", f"unknown inbound type {subject_type!r}"
            else:
                item.outcome = "skipped"
            return item
        try:
            data = model.model_validate(envelope.data)
        except ValidationError as exc:
            refusals = [p.type for p in problems(exc) if p.type in REFUSAL_KINDS]
            item.dlq_kind = refusals[0] if refusals else "invalid"
            item.dlq_reason = f"data: {validation_reason(exc)}"
            return item
        self._deliver(item, envelope, data, agency)
        return item

    # --- processing -----------------------------------------------------------------------------------------
    async def _process(self, items: list[_Item]) -> None:
        """One transaction for the whole batch; each event whose effects are kept has its handler run once.

        The common case (`_run_batch`) costs one statement that claims the processed_events rows (and so says which
        events are new), the handlers' own statements and one commit: no savepoints. If any handler raises, that whole
        transaction is rolled back (so nothing of it is kept) and the batch is run again with a `SAVEPOINT` per
        message (`_run_each`): a handler that raises is undone with `ROLLBACK TO SAVEPOINT` and the others keep
        their effects. Handlers only touch the database through the unit of work (the outbox pattern), so
        running a batch again after a rollback repeats no effect. On SQLite a savepoint is a round trip to the
        driver's thread (docs/benchmarks.md).
        """
        try:
            await self._run_batch(items)
            return
        except _Redo:
            for it in items:
                it.outcome, it.error, it.infrastructure, it.dlq_kind, it.dlq_reason = "", None, False, "", None
        await self._run_each(items)

    async def _run_batch(self, items: list[_Item]) -> None:
        async with self.db.unit_of_work() as uow:
            session = uow.session
            # The processed_events rows first, in one statement: it says which events are new. If any handler then
            # raises, the whole transaction, these rows included, is rolled back.
            new = await claim_events(session, consumer=self.consumer.name, event_ids=_event_ids(items))
            fresh: list[Delivery] = []
            for it in items:
                assert it.delivery is not None
                if it.delivery.event_id not in new:
                    # JetStream may redeliver after ack_wait; the processed_events row makes the second one a no-op.
                    it.outcome = "duplicate"
                    continue
                new.discard(it.delivery.event_id)  # the same event twice in one batch runs once
                it.outcome = "ok"
                fresh.append(it.delivery)
            try:
                await self.consumer.handle_all(fresh, uow)
            except Exception as exc:
                if is_infrastructure_error(exc):
                    raise
                raise _Redo from exc
            if not self.db.sqlite:
                # The guard for a handler that swallowed a database error: on PostgreSQL the transaction is then
                # aborted and this statement fails, so nothing is acknowledged without its effects.
                await session.execute(_GUARD)

    async def _run_each(self, items: list[_Item]) -> None:
        async with self.db.unit_of_work() as uow:
            session = uow.session
            seen = await seen_events(session, consumer=self.consumer.name, event_ids=_event_ids(items))
            rows: list[dict[str, Any]] = []
            now = utcnow()
            for it in items:
                assert it.delivery is not None
                event_id = it.delivery.event_id
                if event_id in seen:
                    it.outcome = "duplicate"
                    continue
                mark = uow.mark()
                await session.execute(_SAVEPOINT)
                try:
                    await self.consumer.handler(it.delivery, uow)
                except Exception as exc:
                    await session.execute(_ROLLBACK_TO)
                    uow.rewind(mark)
                    if isinstance(exc, Reject):
                        it.dlq_kind, it.dlq_reason = exc.kind, str(exc)[:1000] or "rejected by handler"
                        continue
                    if is_infrastructure_error(exc):
                        raise
                    log.exception("consumer %s: handler failed for %s", self.consumer.name, event_id)
                    it.outcome, it.error = "retry", f"{type(exc).__name__}: {exc}"[:1000]
                else:
                    it.outcome = "ok"
                    seen.add(event_id)
                    rows.append({"consumer": self.consumer.name, "event_id": event_id, "processed_at": now})
            if rows:
                # Also the guard for a handler that swallowed a database error: on PostgreSQL the transaction is
                # then aborted and this statement fails, so nothing is acknowledged without its effects.
                await insert_many(session, processed_events, rows)

    # --- settling: ack, nak or DLQ, only after the transaction is committed -------------------------------
    async def _settle(self, items: list[_Item]) -> None:
        counts: Counter[str] = Counter()  # the outcome counter, incremented once per outcome of the batch
        try:
            await self._settle_items(items, counts)
        finally:
            for result, n in counts.items():
                self._count(result, n)

    async def _settle_items(self, items: list[_Item], counts: Counter[str]) -> None:
        for it in items:
            if it.outcome == "retry" and it.delivery is not None:
                self._last_errors[it.delivery.event_id] = _Failure(it.error or "unknown error", it.infrastructure)
                if it.delivery.num_delivered >= self.max_deliver and not it.infrastructure:
                    it.dlq_kind = "exhausted"
                    it.dlq_reason = f"gave up after {it.delivery.num_delivered} deliveries: {it.error}"
            if it.dlq_reason:
                await self._dead_letter(it)
            elif it.outcome == "retry":
                delay = backoff_delay(_deliveries(it.msg), first=self.retry_delay, cap=60.0)
                await it.msg.nak(delay=delay)
                counts["retry"] += 1
            else:
                await it.msg.ack()
                if it.delivery is not None:
                    self._last_errors.pop(it.delivery.event_id, None)
                counts[it.outcome or "ok"] += 1

    async def _dead_letter(self, it: _Item) -> None:
        subject_type = self.namespace.strip(it.msg.subject)
        meta = it.msg.metadata
        seq = meta.sequence.stream if meta and meta.sequence else 0
        headers = {
            "Nats-Msg-Id": f"dlq:{self.consumer.name}:{seq}:{self.namespace.strip(it.msg.subject)}",
            "Antq-Dlq-Reason": (it.dlq_reason or "unknown")[:1000],
            "Antq-Dlq-Kind": it.dlq_kind or "invalid",
            "Antq-Dlq-Consumer": self.consumer.name,
            "Antq-Dlq-Original-Subject": subject_type,
            "Antq-Dlq-Stream-Seq": str(seq),
            "Antq-Dlq-Deliveries": str(_deliveries(it.msg)),
            "Antq-Dlq-Time": utcnow().isoformat(),
        }
        body = it.msg.data or b""
        if not self.consumer.dlq_keeps_body:
            body = b""
            headers["Antq-Dlq-Body"] = "dropped"
            headers.update(_identifying_headers(subject_type, it))
        try:
            await self.js_factory().publish(
                self.namespace.subject(dlq_subject(self.service, subject_type)), body, headers=headers, timeout=5)
            await self._tell_agency(it, subject_type, seq)
        except Exception as exc:  # noqa: BLE001 — keep the original until the DLQ copy is safely stored
            log.warning("consumer %s: DLQ publish failed, will retry: %s", self.consumer.name, exc)
            await it.msg.nak(delay=self.retry_delay)
            return
        await it.msg.ack()
        log.warning("consumer %s: message on %s sent to the DLQ: %s", self.consumer.name, subject_type,
                    it.dlq_reason)
        self._count("dlq")
        if self.metrics:
            self.metrics.dlq_messages.labels(self.service, self.consumer.name, it.dlq_kind or "invalid").inc()

    async def _tell_agency(self, it: _Item, subject_type: str, seq: int) -> None:
        """A refused inbound message: `InboundRejected.v1` on the publishing agency's own reply subject, with its
        reference and the reason, never the body. Published like the DLQ copy, before the ack; a redelivery
        publishes it again under the same `Nats-Msg-Id`, which JetStream drops as a duplicate."""
        agency = inbound_agency(subject_type)
        if agency is None:
            return
        message_type = ".".join(subject_type.split(".")[3:])
        message_id: str | None = it.delivery.envelope.id if it.delivery is not None else None
        if message_id is None:
            envelope = _parse_envelope(it.msg.data)
            message_id = envelope.id if isinstance(envelope, CloudEvent) else None
        reply = InboundRejected(
            reference=_identifying_headers(subject_type, it).get("Antq-Dlq-Reference"), message_type=message_type,
            message_id=message_id, reason_code=(it.dlq_kind or "invalid")[:64],
            reason=_agency_reason(it), rejected_at=utcnow())
        event_id = f"rejected:{self.consumer.name}:{seq}:{subject_type}"[:200]
        event = new_event(reply, source=f"antq/{self.service}", event_id=event_id, subject=reply.reference)
        await self.js_factory().publish(self.namespace.subject(outbound_subject(agency, InboundRejected.TYPE)),
                                        event.to_bytes(), headers={"Nats-Msg-Id": event_id}, timeout=5)

    def _count(self, result: str, n: int = 1) -> None:
        if self.metrics:
            self.metrics.consumer_messages.labels(self.service, self.consumer.name, result).inc(n)


def _identifying_headers(subject_type: str, it: _Item) -> dict[str, str]:
    """What tells the sender which message was refused when its bytes are not kept: the agency (from the subject)
    and the message's `reference`, when it can be read."""
    out: dict[str, str] = {}
    agency = inbound_agency(subject_type)
    if agency is not None:
        out["Antq-Dlq-Agency"] = agency
    reference: object = getattr(it.delivery.data, "reference", None) if it.delivery is not None else None
    if reference is None:
        try:
            data = json.loads(it.msg.data or b"").get("data")
            reference = data.get("reference") if isinstance(data, dict) else None
        except (ValueError, UnicodeDecodeError, RecursionError, AttributeError):
            reference = None
    if isinstance(reference, str) and 0 < len(reference) <= 200 and reference.isprintable():
        out["Antq-Dlq-Reference"] = reference
    return out


def _agency_reason(it: _Item) -> str:
    """The reason an agency is told: the DLQ reason (field names and rules, never values), except for a message
    the service failed to process, whose internal error stays with the operator."""
    if it.dlq_kind == "exhausted":
        return "the message could not be processed; the operator has it in the dead-letter queue"
    return (it.dlq_reason or "rejected")[:1000]


def _event_ids(items: list[_Item]) -> list[str]:
    return [it.delivery.event_id for it in items if it.delivery]


def _deliveries(msg: Msg) -> int:
    """How many times JetStream has delivered the message (1 for a core message, as in unit tests).

    Read from the reply subject's delivery count alone: nats-py's `msg.metadata` also builds the timestamp and
    two dataclasses, which the consumer does not need. The subject is `$JS.ACK.<stream>.<consumer>.
    <delivered>.<stream seq>.<consumer seq>.<time>.<pending>`, or with `<domain>.<account hash>.` after `$JS.ACK.`
    (and more tokens at the end) on newer servers: the same positions nats-py reads.
    """
    reply = msg.reply
    if not reply or not reply.startswith("$JS.ACK."):
        return 1
    tokens = reply.split(".")
    try:
        if len(tokens) == 9:
            return int(tokens[4])
        if len(tokens) >= 11:
            return int(tokens[6])
    except ValueError:
        pass
    return 1

