"""Times out of range or without a zone are bad input everywhere a caller or another agency gives one: 422 on
`POST /tips` and `POST /units/{unit_id}/incidents`, 422 `invalid_cursor` for a cursor holding one on the five
lists keyed by a timestamp, and the DLQ (with the reason) for inbound IncidentReported and TipSubmitted events."""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
from hypothesis import given, settings
from pydantic import BaseModel, ValidationError

from shared.contracts.events import IncidentReported, TipSubmitted
from shared.contracts.instants import EARLIEST, Instant
from shared.errors import Invalid
from shared.http import decode_cursor, decode_time_cursor, encode_cursor
from shared.settings import Settings
from shared.testing import eventually, running
from tests.security.hostile import INSTANCES, acceptable_instants, hostile_cursors, hostile_time_texts


class Stamped(BaseModel):
    at: Instant


@settings(max_examples=200, deadline=None, database=None)
@given(text=hostile_time_texts)
def test_the_shared_instant_type_refuses_every_hostile_time(text: str) -> None:
    with pytest.raises(ValidationError):
        Stamped.model_validate({"at": text})
    with pytest.raises(ValidationError):
        IncidentReported.model_validate({"category": "x", "occurred_at": text, "reference": "r"})


@settings(max_examples=200, deadline=None, database=None)
@given(moment=acceptable_instants)
def test_the_shared_instant_type_keeps_the_instant_in_utc(moment: datetime) -> None:
    at = Stamped.model_validate({"at": moment.isoformat()}).at
    assert at == moment and at.tzinfo is UTC


@settings(max_examples=300, deadline=None, database=None)
@given(cursor=hostile_cursors)
def test_a_time_cursor_is_an_aware_bounded_instant_and_an_id_or_invalid(cursor: str) -> None:
    try:
        decoded = decode_time_cursor(cursor)
    except Invalid as exc:
        assert exc.code == "invalid_cursor"
        return
    if decoded is None:  # an empty cursor, or one holding JSON null: the first page
        assert decode_cursor(cursor) is None
        return
    at, key = decoded
    assert at.tzinfo is UTC and at >= EARLIEST and isinstance(key, str)


@dataclass
class World:
    http: dict[str, httpx.AsyncClient]
    admin: dict[str, str]
    officer: dict[str, str]
    unit_id: str
    nats_url: str
    namespace: str


@pytest.fixture
async def world(settings_factory: Callable[..., Settings], tmp_path: Any, nats_url: str,
                namespace: str) -> AsyncIterator[World]:
    config = settings_factory(consumer_max_deliver=2, **{
        f"{s}_database_url": f"sqlite+aiosqlite:///{tmp_path / (s + '.db')}" for s in ("units", "tips", "notify")})
    services = {name: importlib.import_module(f"services.{name}.app").build(config)
                for name in ("units", "tips", "notify")}
    async with AsyncExitStack() as stack:
        http = {name: await stack.enter_async_context(running(svc)) for name, svc in services.items()}
        tokens = services["units"].tokens
        admin = {"Authorization": f"Bearer {tokens.issue(role='admin', sub='bounds-admin')}"}
        officer = {"Authorization": f"Bearer {tokens.issue(role='officer', area='79', sub='bounds-officer')}"}
        r = await http["units"].post("/units", headers=admin, json={
            "name": "Trường THPT Lê Lợi", "kind": "school", "area_code": "79", "school_code": "S-79-1"})
        assert r.status_code == 201, r.text
        world = World(http, admin, officer, r.json()["unit_id"], nats_url, namespace)
        world.services = services  # type: ignore[attr-defined]
        yield world


async def test_out_of_range_or_zoneless_occurred_at_is_422_on_tips_and_incidents(world: World) -> None:
    for text in INSTANCES:
        tip = await world.http["tips"].post("/tips", json={
            "category": "theft", "description": "Có người lạ theo dõi cổng trường.", "occurred_at": text})
        assert tip.status_code == 422, (text, tip.status_code, tip.text)
        assert tip.json()["error"]["details"][0]["loc"][-1] == "occurred_at"
        incident = await world.http["units"].post(f"/units/{world.unit_id}/incidents", headers=world.officer,
                                                  json={"category": "high_value_theft", "occurred_at": text})
        assert incident.status_code == 422, (text, incident.status_code, incident.text)
    ok = await world.http["tips"].post("/tips", json={
        "category": "theft", "description": "Có người lạ theo dõi cổng trường.",
        "occurred_at": "2026-11-20T21:30:00+07:00"})
    assert ok.status_code == 202, ok.text


async def test_a_cursor_with_a_zoneless_or_out_of_range_time_is_422_on_every_time_keyed_list(world: World) -> None:
    lists = [("tips", "/tips", world.officer), ("units", f"/units/{world.unit_id}/incidents", world.officer),
             ("notify", "/inbox", world.officer), ("notify", "/subscriptions", world.officer),
             ("notify", "/deliveries", world.admin)]
    for text in INSTANCES:
        cursor = encode_cursor([text, "zzzz"])
        for service, path, headers in lists:
            r = await world.http[service].get(path, params={"cursor": cursor}, headers=headers)
            assert r.status_code == 422, (service, path, text, r.status_code, r.text)
            assert r.json()["error"]["code"] == "invalid_cursor"


async def dead_letters(nats_url: str, namespace: str) -> list[dict[str, str]]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(f"{namespace}_DLQ")
        if info.state.messages == 0:
            return []
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(f"{namespace}_DLQ", seq)
            out.append(dict(msg.headers or {}))
        return out
    finally:
        await nc.close()


async def test_inbound_incidents_and_tips_with_hostile_times_go_to_the_dlq_with_the_reason(world: World) -> None:
    bad = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")
    nc = await nats.connect(world.nats_url)
    try:
        js = nc.jetstream()
        for n, text in enumerate(bad):
            for event_type, data in (
                    (IncidentReported.TYPE, {"unit_id": world.unit_id, "category": "high_value_theft",
                                             "occurred_at": text, "reference": f"INC-{n}"}),
                    (TipSubmitted.TYPE, {"category": "theft", "description": "Có người lạ.", "occurred_at": text,
                                         "reference": f"TIP-{n}"})):
                envelope = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "agency/national-app",
                            "type": event_type, "time": datetime.now(UTC).isoformat(),
                            "datacontenttype": "application/json", "data": data}
                await js.publish(f"{world.namespace}.antq.inbound.national-app.{event_type}",
                                 json.dumps(envelope).encode(), headers={"Nats-Msg-Id": envelope["id"]})
    finally:
        await nc.close()

    async def all_four_dead_lettered() -> list[dict[str, str]]:
        letters = await dead_letters(world.nats_url, world.namespace)
        assert len(letters) == 4, letters
        return letters

    letters = await eventually(all_four_dead_lettered, timeout=30, what="four dead letters")
    assert sorted(h["Antq-Dlq-Consumer"] for h in letters) == ["tips-inbound"] * 2 + ["units-inbound-incidents"] * 2
    assert all(h["Antq-Dlq-Kind"] == "invalid" and "occurred_at" in h["Antq-Dlq-Reason"] for h in letters), letters
    for service in world.services.values():  # type: ignore[attr-defined]
        ok, checks = await service.readiness()
        assert ok, checks
