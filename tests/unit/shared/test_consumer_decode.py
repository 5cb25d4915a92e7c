"""The consumer decodes a message in one pass (envelope and data together) and falls back to the long way only for
a message that fails: both must reach the same verdict, for good messages and for every kind of bad one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.bus.consumer import Consumer, ConsumerRunner, _Item
from shared.bus.streams import Namespace
from tests.bench.bench_consumers import awards_load, inbound_load, incidents_load, tips_load, units_load

NS = Namespace("t")


class _Msg:
    def __init__(self, subject: str, data: bytes):
        self.subject, self.data, self.headers = f"t.{subject}", data, None
        self.reply = "$JS.ACK.S.C.1.2.3.4.5"


def _runner(types: frozenset[str] | None = None) -> ConsumerRunner:
    async def handler(*_: Any) -> None:
        return None

    consumer = Consumer(name="svc-x", stream="S", filter_subject=">", handler=handler, types=types)
    return ConsumerRunner(consumer=consumer, service="svc", db=None, js_factory=None, namespace=NS)  # type: ignore[arg-type]


def _verdict(item: _Item) -> tuple[Any, ...]:
    d = item.delivery
    return (item.outcome, item.dlq_kind, item.dlq_reason,
            None if d is None else (d.event_id, d.event_type, d.agency, d.num_delivered, d.data,
                                    d.envelope.model_dump(exclude={"data"})))


def _good() -> list[tuple[str, bytes]]:
    units, known = units_load(3)
    messages = units + tips_load(3, known) + awards_load(3, known) + inbound_load(6) + incidents_load(6)
    return [(subject, payload) for subject, payload, _ in messages]


def _broken(subject: str, payload: bytes) -> list[tuple[str, bytes]]:
    body = json.loads(payload)
    out = [(subject, b"not json"), (subject, b"[1, 2]"), (subject, json.dumps({**body, "time": "yesterday"}).encode()),
           (subject, json.dumps({**body, "type": "antq.other.Thing.v1"}).encode()),
           (subject, json.dumps({**body, "data": {}}).encode()),
           (subject, json.dumps({**body, "data": {**body["data"], "reporter": {"name": "A"}}}).encode()),
           (subject, json.dumps({**body, "source": "agency/someone-else"}).encode()),
           (subject, json.dumps({**body, "extra_attribute": 1}).encode())]
    if subject.startswith("antq.inbound."):
        out.append(("antq.inbound.Bad Agency!." + subject.split(".", 3)[3], payload))
    return out


@pytest.mark.parametrize("types", [None, frozenset({"antq.units.UnitRegistered.v1", "TipSubmitted.v1"})])
def test_one_pass_and_long_way_reach_the_same_verdict(types: frozenset[str] | None) -> None:
    runner = _runner(types)
    cases = _good()
    cases += [case for subject, payload in cases[:: max(1, len(cases) // 12)] for case in _broken(subject, payload)]
    fast_path = 0
    for subject, payload in cases:
        msg = _Msg(subject, payload)
        fast, slow = runner._decode(msg), runner._decode_slow(msg, NS.strip(msg.subject))  # type: ignore[arg-type]
        assert _verdict(fast) == _verdict(slow), (subject, payload[:200])
        fast_path += fast.delivery is not None
    assert fast_path  # the good messages were delivered
