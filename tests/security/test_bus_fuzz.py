"""Hostile input on the bus: generated and malformed messages on every consumed subject of every service end in
the DLQ, and every consumer stays alive and still processes a valid event afterwards.

Short by default (ANTQ_FUZZ_EXAMPLES, default 30 per kind of message); `make fuzz` runs the long variant.
"""

from __future__ import annotations

import importlib
import json
import os
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.bus.consumer import Consumer
from shared.contracts.events import EVENT_TYPES, INBOUND_TYPES, EventData, data_model_for
from shared.contracts.subjects import subject_matches
from shared.settings import SERVICES, Settings
from shared.testing import eventually, running
from tests.security.examples import example
from tests.security.hostile import hostile_time_texts

AGENCY = "fuzzagency"
SHORT = int(os.environ.get("ANTQ_FUZZ_EXAMPLES", "30"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)

# (kind, value): how the message for a subject is built from a generated value.
messages = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=300)),
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("bad_data"), st.dictionaries(st.text(max_size=12), json_values, max_size=6)),
    st.tuples(st.just("type_mismatch"), st.sampled_from(["antq.units.Nope.v1", "antq.tips.TipReceived.v2", "x"])),
    st.tuples(st.just("bad_envelope"), st.sampled_from(["naive_time", "specversion", "long_id", "no_data",
                                                        "data_list", "bad_type_chars"])),
    st.tuples(st.just("spoofed_source"), st.sampled_from(["agency/other", "antq/tips", "", "agency/fuzzagency2"])),
    st.tuples(st.just("invalid_utf8"), st.sampled_from([b'{"id": "\xff"}', b"\xc3\x28", b"\xed\xa0\x80"])),
    # Valid inbound data but for its times: out of range, extreme offsets, no zone (tests/security/hostile.py).
    st.tuples(st.just("bad_time"), hostile_time_texts),
)


def collect(n: int) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []

    @settings(max_examples=n, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(messages)
    def draw(message: tuple[str, Any]) -> None:
        out.append(message)

    draw()
    return out


def subjects_of(consumer: Consumer) -> list[str]:
    """Concrete event types a consumer's filter subject receives (wildcards filled with a sample agency)."""
    filt = consumer.filter_subject.replace("*", AGENCY)
    if filt.endswith(">"):
        prefix = filt[:-1]
        types = sorted(consumer.types) if consumer.types else sorted(t for t in EVENT_TYPES if t.startswith(prefix))
        return [t for t in types if t.startswith(prefix)] or [prefix + "Anything.v1"]
    return [filt]


def type_of(subject: str) -> str:
    if subject.startswith("antq.inbound."):
        return ".".join(subject.split(".")[3:])
    return subject


def envelope(subject: str, data: Any, **over: Any) -> dict[str, Any]:
    inbound = subject.startswith("antq.inbound.")
    env = {"specversion": "1.0", "id": str(uuid.uuid4()), "time": datetime.now(UTC).isoformat(),
           "source": f"agency/{subject.split('.')[2]}" if inbound else f"antq/{subject.split('.')[1]}",
           "type": type_of(subject) if inbound else subject, "datacontenttype": "application/json", "data": data}
    env.update(over)
    return env


def valid_data(event_type: str) -> dict[str, Any] | None:
    model = data_model_for(event_type) or INBOUND_TYPES.get(event_type)
    if model is None:
        return None
    schema = model.model_json_schema()
    data = example(schema, schema)
    try:
        model.model_validate(data)
    except ValidationError:
        return None
    return data  # type: ignore[no-any-return]


def time_fields(event_type: str) -> list[str]:
    """The data fields of an inbound type that hold an instant (JSON Schema `format: date-time`)."""
    model = INBOUND_TYPES.get(event_type)
    if model is None:
        return []
    properties = model.model_json_schema().get("properties", {})
    return sorted(name for name, prop in properties.items()
                  if prop.get("format") == "date-time"
                  or any(alt.get("format") == "date-time" for alt in prop.get("anyOf", [])))


def _json(value: Any, subject: str) -> bytes | None:
    if isinstance(value, dict):
        value = {"not": "an envelope", **value}
        value.pop("data", None)
    return json.dumps(value).encode()


def _bad_data(value: Any, subject: str) -> bytes | None:
    model: type[EventData] | None = data_model_for(type_of(subject))
    if model is None:
        return None
    try:
        model.model_validate(value)
        return None  # happens to be valid: not hostile
    except ValidationError:
        pass
    return json.dumps(envelope(subject, value)).encode()


def _drop_data(env: dict[str, Any]) -> None:
    env.pop("data")


# How each `bad_envelope` value spoils an otherwise valid envelope.
_SPOIL_ENVELOPE: dict[str, Callable[[dict[str, Any]], None]] = {
    "naive_time": lambda env: env.update(time="2026-01-01T00:00:00"),
    "specversion": lambda env: env.update(specversion="2.0"),
    "long_id": lambda env: env.update(id="x" * 5000),
    "no_data": _drop_data,
    "data_list": lambda env: env.update(data=[1, 2]),
}


def _bad_envelope(value: Any, subject: str) -> bytes | None:
    env = envelope(subject, {})
    _SPOIL_ENVELOPE.get(value, lambda env: env.update(type="antq.units.<script>"))(env)
    return json.dumps(env).encode()


def _bad_time(value: Any, subject: str) -> bytes | None:
    data = valid_data(type_of(subject)) if subject.startswith("antq.inbound.") else None
    times = time_fields(type_of(subject))
    if data is None or not times:
        return None
    return json.dumps(envelope(subject, {**data, **dict.fromkeys(times, value)})).encode()


def _spoofed_source(value: Any, subject: str) -> bytes | None:
    if not subject.startswith("antq.inbound."):
        return None
    return json.dumps(envelope(subject, valid_data(type_of(subject)) or {}, source=value)).encode()


# Each kind of hostile message: how its bytes are made from a generated value for a subject.
_BUILDERS: dict[str, Callable[[Any, str], bytes | None]] = {
    "bytes": lambda value, subject: bytes(value),
    "invalid_utf8": lambda value, subject: bytes(value),
    "json": _json,
    "bad_data": _bad_data,
    "type_mismatch": lambda value, subject: json.dumps(envelope(subject, {}, type=value)).encode(),
    "bad_envelope": _bad_envelope,
    "bad_time": _bad_time,
    "spoofed_source": _spoofed_source,
}


def build(kind: str, value: Any, subject: str) -> bytes | None:
    """The message bytes, or None when this kind does not apply to this subject."""
    if kind not in _BUILDERS:
        raise AssertionError(kind)
    return _BUILDERS[kind](value, subject)


def counter(service: Any, metric: str, consumer: str, **labels: str) -> float:
    total = 0.0
    for family in service.registry.collect():
        for sample in family.samples:
            if sample.name == metric and sample.labels.get("consumer") == consumer and all(
                    sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def _publish_hostile(js: Any, namespace: str, subjects: list[str], generated: list[tuple[str, Any]],
                           consumers: list[tuple[Any, Any]], expected: dict[str, int]) -> int:
    """Publish every generated hostile message on every subject; count in `expected` what each consumer must
    dead-letter. Returns how many were published."""
    published = 0
    for subject in subjects:
        for kind, value in generated:
            payload = build(kind, value, subject)
            if payload is None:
                continue
            await js.publish(f"{namespace}.{subject}", payload, headers={"Nats-Msg-Id": uuid.uuid4().hex})
            published += 1
            for _, c in consumers:
                if not subject_matches(c.filter_subject, subject):
                    continue
                acts = c.types is None or type_of(subject) in c.types
                if kind in ("bad_data", "bad_time") and not acts:
                    continue  # a consumer skips types it does not act on, before looking at the data
                expected[c.name] += 1
    return published


async def _publish_valid(js: Any, namespace: str, subjects: list[str],
                         consumers: list[tuple[Any, Any]]) -> dict[str, int]:
    """One valid event per subject that has one; how many each consumer was sent."""
    valid_sent: dict[str, int] = {c.name: 0 for _, c in consumers}
    for subject in subjects:
        data = valid_data(type_of(subject))
        if data is None:
            continue
        await js.publish(f"{namespace}.{subject}", json.dumps(envelope(subject, data)).encode())
        for _, c in consumers:
            if subject_matches(c.filter_subject, subject):
                valid_sent[c.name] += 1
    return valid_sent


async def run_fuzz(n: int, settings_factory: Callable[..., Settings], database_url: Callable[[str], str],
                   nats_url: str, namespace: str) -> None:
    config = settings_factory(consumer_max_deliver=2,
                              **{f"{s}_database_url": database_url(s) for s in SERVICES})
    services = [importlib.import_module(f"services.{s}.app").build(config) for s in SERVICES]
    consumers = [(svc, c) for svc in services for c in svc.consumers]
    assert consumers, "no service consumes anything"
    subjects = sorted({s for _, c in consumers for s in subjects_of(c)})
    generated = collect(n)
    expected: dict[str, int] = {c.name: 0 for _, c in consumers}
    async with AsyncExitStack() as stack:
        for svc in services:
            await stack.enter_async_context(running(svc))
        nc = await nats.connect(nats_url)
        stack.push_async_callback(nc.drain)
        js = nc.jetstream()
        published = await _publish_hostile(js, namespace, subjects, generated, consumers, expected)
        assert published > 0

        async def all_dead_lettered() -> bool:
            got = {c.name: counter(svc, "antq_dlq_messages_total", c.name) for svc, c in consumers}
            assert got == expected, f"DLQ counts {got} != expected {expected}"
            return True

        await eventually(all_dead_lettered, timeout=60, interval=0.2, what="every hostile message in the DLQ")
        info = await js.stream_info(f"{namespace}_DLQ")
        assert info.state.messages == sum(expected.values())

        # Every consumer is still alive: a valid event afterwards is settled (ok, skipped or rejected by its
        # handler for business reasons), and /readyz still reports every consumer running.
        before = {c.name: counter(svc, "antq_consumer_messages_total", c.name) for svc, c in consumers}
        valid_sent = await _publish_valid(js, namespace, subjects, consumers)

        async def settled() -> bool:
            for svc, c in consumers:
                now = counter(svc, "antq_consumer_messages_total", c.name)
                assert now - before[c.name] >= valid_sent[c.name], f"{c.name} did not settle its valid event"
            return True

        await eventually(settled, timeout=30, interval=0.1, what="valid events processed after the fuzzing")
        for svc in services:
            ok, checks = await svc.readiness()
            assert ok, f"{svc.name} not ready after fuzzing: {checks}"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_hostile_messages_end_in_dlq_and_consumers_survive(
        backend: str, settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str) -> None:
    await run_fuzz(min(SHORT, 30), settings_factory, database_url, nats_url, namespace)


@pytest.mark.fuzz
@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not os.environ.get("ANTQ_FUZZ_EXAMPLES"), reason="long run: make fuzz (ANTQ_FUZZ_EXAMPLES)")
async def test_hostile_messages_long_run(settings_factory: Callable[..., Settings],
                                         database_url: Callable[[str], str], nats_url: str, namespace: str) -> None:
    await run_fuzz(int(os.environ.get("ANTQ_FUZZ_EXAMPLES", "500")), settings_factory, database_url, nats_url,
                   namespace)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("depth", [2_000])
async def test_deeply_nested_message_goes_to_dlq(
        depth: int, backend: str, settings_factory: Callable[..., Settings], database_url: Callable[[str], str],
        nats_url: str, namespace: str) -> None:
    """JSON nested deeper than Python's recursion limit must be dead-lettered, not crash the batch."""
    config = settings_factory(consumer_max_deliver=2, consumer_ack_wait=2,
                              **{f"{s}_database_url": database_url(s) for s in SERVICES})
    svc = importlib.import_module("services.tips.app").build(config)
    consumer = svc.consumers[0]
    subject = subjects_of(consumer)[0]
    async with running(svc):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            nested = b'{"data": ' + b"[" * depth + b"]" * depth + b"}"
            await js.publish(f"{namespace}.{subject}", nested)

            async def dead_lettered() -> bool:
                return counter(svc, "antq_dlq_messages_total", consumer.name) >= 1

            await eventually(dead_lettered, timeout=10, what="the deeply nested message in the DLQ")
        finally:
            await nc.drain()
