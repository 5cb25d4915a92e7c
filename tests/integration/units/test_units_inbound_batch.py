"""The units service's inbound consumers take a batch at once: the registries' units (`UnitUpserted`) and other
agencies' incidents (`IncidentReported`). A batch must have exactly the effect of its messages handled one at a
time: the same units, history, incidents, cycles (a revocation included), references and events. Each way is
run from the same starting state, inside a transaction that is then rolled back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.units import store
from services.units.domain import AgencyTrust
from services.units.handlers import on_incidents_reported, on_units_upserted
from shared.bus.consumer import Delivery, Reject
from shared.contracts.envelope import CloudEvent
from shared.contracts.events import IncidentReported, UnitUpserted
from shared.db import UnitOfWork, outbox
from tests.integration.units.test_units_cycle_api import drive
from tests.integration.units.units_support import Harness

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
Handler = Callable[[list[Delivery], UnitOfWork], Awaitable[None]]


class RolledBack(Exception):
    """Raised to undo a run once its snapshot is taken."""


def inbound(agency: str, model: Any, data: dict[str, Any]) -> Delivery:
    env = CloudEvent(id=str(uuid.uuid4()), source=f"agency/{agency}", type=model.TYPE, time=NOW, data=data)
    return Delivery(envelope=env, data=model.model_validate(data), event_type=model.TYPE, agency=agency,
                    num_delivered=1)


def _stable(payload: bytes) -> dict[str, Any]:
    data = dict(json.loads(payload)["data"])
    for key in ("incident_id", "unit_id"):
        data.pop(key, None)  # fresh ids differ between runs
    return data


async def snapshot(uow: UnitOfWork) -> dict[str, Any]:
    s = uow.session
    units = sorted((r.external_key or "", r.name, r.kind, r.area_code, r.status) for r in await s.execute(
        select(store.units.c.external_key, store.units.c.name, store.units.c.kind, store.units.c.area_code,
               store.units.c.status)))
    history = sorted(r[0] for r in await s.execute(select(store.unit_history.c.action)))
    i = store.incidents.c
    incidents = sorted(tuple(r) for r in await s.execute(select(
        i.unit_id, i.year, i.category, i.disqualifying, i.occurred_at, i.source, i.reference, i.framework_code)))
    cycles = sorted((r.unit_id, r.year, r.state) for r in await s.execute(
        select(store.cycles.c.unit_id, store.cycles.c.year, store.cycles.c.state)))
    refs = sorted((r.agency, r.message_type, r.reference) for r in await s.execute(
        select(store.inbound_refs.c.agency, store.inbound_refs.c.message_type, store.inbound_refs.c.reference)))
    events = [(r.event_type, _stable(r.payload)) for r in await s.execute(
        select(outbox.c.event_type, outbox.c.payload).where(outbox.c.state == "pending").order_by(outbox.c.seq))]
    return {"units": units, "history": history, "incidents": incidents, "cycles": cycles, "refs": refs,
            "events": events}


async def run_both(h: Harness, handler: Handler, deliveries: list[Delivery]) -> tuple[dict[str, Any], ...]:
    """(batch, one at a time) snapshots, each from the same starting state."""
    out = []
    for sizes in ([len(deliveries)], [1] * len(deliveries)):
        try:
            async with h.service.db.unit_of_work() as uow:
                start = 0
                for size in sizes:
                    await handler(deliveries[start:start + size], uow)
                    start += size
                await uow.flush_events()
                out.append(await snapshot(uow))
                raise RolledBack
        except RolledBack:
            pass
    return tuple(out)


async def test_a_batch_of_incident_reports_has_exactly_the_effect_of_one_at_a_time(units: Harness) -> None:
    recognised = (await units.create_unit(external_key="0311111111"))["unit_id"]
    await drive(units, recognised, "recognised")
    submitted = (await units.create_unit())["unit_id"]
    await drive(units, submitted, "submitted")
    plain = (await units.create_unit(external_key="0322222222"))["unit_id"]
    await units.outbox_drained()

    def report(reference: str, category: str, agency: str = "labour-dept", **unit: str) -> Delivery:
        return inbound(agency, IncidentReported, {"category": category, "occurred_at": "2026-02-20T08:30:00+07:00",
                                                  "reference": reference, **unit})

    deliveries = [
        report("LD-1", "minor_theft", unit_external_key="0311111111"),
        report("LD-2", "illegal_strike", unit_id=submitted),
        report("LD-3", "high_value_theft", unit_id=recognised),  # revokes the recognition LD-1 left standing
        report("LD-1", "minor_theft", unit_external_key="0311111111"),  # the same reference again: once
        report("LD-1", "strike_prevented", agency="police-app", unit_id=plain),  # another agency's LD-1
        report("LD-4", "illegal_strike", unit_id=recognised),  # after the revocation
        report("LD-5", "other", unit_external_key="0322222222"),
    ]
    # The labour department's reports count on arrival; the police app's wait for an officer (pending).
    trust = AgencyTrust(agencies={"labour-dept": "confirmed_on_arrival"})
    batched, single = await run_both(units, lambda d, uow: on_incidents_reported(d, uow, now=NOW, trust=trust),
                                     deliveries)
    assert batched == single
    assert len(batched["incidents"]) == 6 and len(batched["refs"]) == 6
    assert (recognised, 2026, "revoked") in batched["cycles"]
    assert [t for t, _ in batched["events"]].count("antq.units.CertificationRevoked.v1") == 1


async def test_an_unknown_unit_refuses_the_batch_for_the_spine_to_run_each_alone(units: Harness) -> None:
    known = (await units.create_unit())["unit_id"]
    deliveries = [inbound("labour-dept", IncidentReported, {"unit_id": uid, "category": "other", "reference": ref,
                                                             "occurred_at": "2026-02-20T08:30:00+07:00"})
                  for uid, ref in ((known, "A"), ("no-such-unit", "B"))]
    with pytest.raises(Reject, match="unknown unit 'no-such-unit'"):
        async with units.service.db.unit_of_work() as uow:
            await on_incidents_reported(deliveries, uow, now=NOW, trust=AgencyTrust())


async def test_a_batch_of_registry_records_has_exactly_the_effect_of_one_at_a_time(units: Harness) -> None:
    def record(agency: str, key: str, name: str, **extra: Any) -> Delivery:
        return inbound(agency, UnitUpserted, {"external_key": key, "name": name, "kind": "enterprise",
                                              "area_code": "79.26743", **extra})

    deliveries = [
        record("business-registry", "0301", "Công ty A"),
        record("business-registry", "0302", "Công ty B", address="1 Lê Lợi"),
        record("business-registry", "0301", "Công ty A (đổi tên)"),  # an update of a unit of this batch
        record("school-registry", "0303", "Trường C", kind="school", area_code="79.26737"),
        record("business-registry", "0302", "Công ty B", address="2 Lê Lợi"),  # after another agency's record
        record("business-registry", "0302", "Công ty B"),  # unchanged (a field left out is kept)
    ]
    batched, single = await run_both(units, lambda d, uow: on_units_upserted(d, uow, now=NOW), deliveries)
    assert batched == single
    assert [u[:2] for u in batched["units"]] == [("0301", "Công ty A (đổi tên)"), ("0302", "Công ty B"),
                                                 ("0303", "Trường C")]
    assert [t for t, _ in batched["events"]] == ["antq.units.UnitRegistered.v1"] * 2 + [
        "antq.units.UnitUpdated.v1", "antq.units.UnitRegistered.v1", "antq.units.UnitUpdated.v1"]


async def test_a_refused_registry_record_refuses_the_batch(units: Harness) -> None:
    good = inbound("business-registry", UnitUpserted, {"external_key": "0401", "name": "Công ty D",
                                                       "kind": "enterprise", "area_code": "79.26743"})
    bad = inbound("business-registry", UnitUpserted, {"external_key": "0402", "name": "Công ty E",
                                                      "kind": "enterprise", "area_code": "not an area"})
    with pytest.raises(Reject, match="unit record 0402 rejected"):
        async with units.service.db.unit_of_work() as uow:
            await on_units_upserted([good, bad], uow, now=NOW)
