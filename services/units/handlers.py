"""Units use cases: one function per command or event, one transaction each, events out via the outbox.

The rules live in `services.units.domain`; a handler loads what the rule needs, lets it decide, saves the result
and appends the events the rule returned to the outbox of the same transaction.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.units import store
from services.units.domain import (
    Activity,
    ActivityFields,
    Actor,
    AgencyTrust,
    Cycle,
    Framework,
    Incident,
    Outcome,
    Unit,
    UnitFields,
    apply_patch,
    appraise,
    assessment_year_of,
    attribute,
    confirm_incident,
    create_unit,
    decide,
    event_changes,
    framework_by_code,
    framework_in_force,
    load_scope_rules,
    local_date,
    note_incident,
    record_activity,
    record_criterion,
    record_incident,
    refuse_second_registration,
    register,
    revoke,
    self_assess,
    split_area_code,
    submit,
    validate_import_row,
    withdraw_from_cycle,
    withdraw_incident,
)
from services.units.domain.cycle import CriterionOutcome, check_deciding_level
from services.units.domain.history import (
    AWARD_FACTS,
    RECOGNITION_FACTS,
    AwardRow,
    HistoryFields,
    RecognitionRow,
    award_event,
    award_record,
    differences,
    recognition_event,
    recognition_record,
    validate_history_row,
)
from services.units.domain.stats import Stats, StatsQuery
from services.units.domain.units import RowError
from shared import audit, award_catalogue
from shared.bus.consumer import Delivery, Reject
from shared.contracts.events import EventData, IncidentReported, Rating, UnitRegistered, UnitUpdated, UnitUpserted
from shared.db import Database, UnitOfWork
from shared.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, safe_details

# A guard says why the caller may not touch a unit in this area (None: allowed). Batches and imports apply it
# per item so that one unit outside an officer's area fails alone.
Guard = Callable[[Unit], str | None]


def allow_all(_: Unit) -> str | None:
    return None


# --- registry --------------------------------------------------------------------------------------------------
def fields_with_area(body: Mapping[str, Any]) -> dict[str, Any]:
    """Accept `area_code` ("PP" or "PP.CCCCC") in place of province_code/commune_code."""
    data = dict(body)
    area = data.pop("area_code", None)
    if area is not None:
        province, commune = split_area_code(str(area))
        for key, value in (("province_code", province), ("commune_code", commune)):
            if data.get(key) not in (None, value):
                raise Invalid(f"{key} contradicts area_code", details={"field": key})
            data[key] = value
    return data


def _history(unit_id: str, now: datetime, actor: str, action: str, changed: Mapping[str, Any]) -> dict[str, Any]:
    return {"unit_id": unit_id, "at": now, "actor": actor[:200], "action": action, "changed": dict(changed)}


async def create_unit_cmd(fields: UnitFields, uow: UnitOfWork, *, now: datetime, actor: str) -> Unit:
    """Register a unit; its external key (explicit, tax code or school code) must be new."""
    unit, events = create_unit(fields, unit_id=str(uuid.uuid4()), now=now, rules=load_scope_rules())
    if unit.external_key:
        existing = await store.get_units_by_external_keys(session=uow.session, keys=[unit.external_key])
        if existing:
            raise Conflict("a unit with this external key exists", code="duplicate_external_key",
                           details={"unit_id": existing[unit.external_key].unit_id})
    await store.insert_units(session=uow.session, new=[unit])
    await store.add_history(session=uow.session, entries=[_history(unit.unit_id, now, actor, "created",
                                                                   {"external_key": unit.external_key})])
    for event in events:
        uow.emit(event)
    return unit


async def update_unit_cmd(unit_id: str, patch: Mapping[str, Any], uow: UnitOfWork, *, now: datetime, actor: str,
                          guard: Guard = allow_all) -> tuple[Unit, dict[str, Any]]:
    """PATCH a unit: the domain decides what changed; `UnitUpdated` carries it (contacts redacted)."""
    unit = await store.get_unit(session=uow.session, unit_id=unit_id)
    if unit is None:
        raise NotFound("no such unit", details={"unit_id": unit_id})
    updated, changed, events = apply_patch(unit, fields_with_area(patch), now=now, rules=load_scope_rules())
    if not changed:
        return unit, {}
    refusal = guard(updated)
    if refusal:
        raise Forbidden(refusal, code="forbidden_scope")
    if "external_key" in changed and updated.external_key:
        other = await store.get_units_by_external_keys(session=uow.session, keys=[updated.external_key])
        if other and other[updated.external_key].unit_id != unit_id:
            raise Conflict("a unit with this external key exists", code="duplicate_external_key",
                           details={"unit_id": other[updated.external_key].unit_id})
    await store.update_units(session=uow.session, changed=[updated])
    if updated.area_code != unit.area_code:
        await store.set_cycle_areas(session=uow.session, unit_ids=[unit_id])
    await store.add_history(session=uow.session, entries=[_history(unit_id, now, actor, "updated", changed)])
    for event in events:
        uow.emit(event)
    return updated, changed


# --- import ------------------------------------------------------------------------------------------------------
RowStatus = Literal["created", "updated", "unchanged", "rejected"]


class RowReport(BaseModel):
    line: int
    status: RowStatus
    unit_id: str | None = None
    external_key: str | None = None
    changed: list[str] | None = None
    errors: list[RowError] | None = None


class ImportReport(BaseModel):
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rows: list[RowReport] = Field(default_factory=list)

    def add(self, row: RowReport, *, keep: bool = True) -> None:
        self.total += 1
        setattr(self, row.status, getattr(self, row.status) + 1)
        if keep:
            self.rows.append(row)


JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines",
               "application/jsonlines", "application/ndjson")
CSV_TYPES = ("text/csv", "application/csv", "text/plain")


def parse_records(body: bytes, content_type: str | None) -> list[tuple[int, Mapping[str, Any] | RowError]]:
    """CSV (header row) or JSON lines, by content type. A record that cannot be read becomes a RowError."""
    media = (content_type or "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("the import file is not UTF-8", code="invalid_encoding") from exc
    out: list[tuple[int, Mapping[str, Any] | RowError]] = []
    if media in JSONL_TYPES or media == "application/json":
        stripped = text.strip()
        if media == "application/json" and stripped.startswith("["):
            try:
                items = json.loads(stripped)
            except ValueError as exc:
                raise Invalid("the JSON array cannot be parsed", code="invalid_json") from exc
            lines: Iterable[tuple[int, Any]] = ((i + 1, item) for i, item in enumerate(items))
        else:
            lines = ((i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip())
        for number, raw in lines:
            if isinstance(raw, str):
                try:
                    raw = json.loads(raw)
                except ValueError:
                    out.append((number, RowError(field="row", message="not a JSON object")))
                    continue
            if not isinstance(raw, dict):
                out.append((number, RowError(field="row", message="not a JSON object")))
                continue
            out.append((number, raw))
        return out
    if media in CSV_TYPES or not media:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames:
            raise Invalid("the CSV file has no header row", code="invalid_csv")
        try:
            for record in reader:
                if None in record:  # more cells than header columns
                    out.append((reader.line_num, RowError(field="row", message="more cells than columns")))
                    continue
                if not any((v or "").strip() for v in record.values()):
                    continue
                out.append((reader.line_num, record))
        except csv.Error as exc:
            raise Invalid(f"the CSV file cannot be parsed: {exc}", code="invalid_csv") from exc
        return out
    raise Invalid("send text/csv or application/x-ndjson (JSON lines)", code="unsupported_media_type",
                  status=415)


@dataclass
class _Upsert:
    status: RowStatus
    unit: Unit
    changed: dict[str, Any] = field(default_factory=dict)


def _upsert(fields: UnitFields, existing: Unit | None, *, now: datetime) -> _Upsert:
    """Create the unit, or patch it with the fields the record states. Idempotent: same record → unchanged."""
    if existing is None:
        unit, _ = create_unit(fields, unit_id=str(uuid.uuid4()), now=now, rules=load_scope_rules())
        return _Upsert("created", unit)
    stated = fields.model_dump(exclude_unset=True)
    if stated.get("kind", existing.kind) != existing.kind:
        raise Invalid(f"the unit is registered as {existing.kind}; a kind cannot change",
                      details={"field": "kind"})
    stated.pop("kind", None)
    updated, changed, _ = apply_patch(existing, stated, now=now, rules=load_scope_rules())
    return _Upsert("updated" if changed else "unchanged", updated, changed)


async def import_rows(records: Sequence[tuple[int, Mapping[str, Any] | RowError]], uow: UnitOfWork, *,
                      now: datetime, actor: str, guard: Guard = allow_all) -> list[RowReport]:
    """One transaction's share of an import: validate each row, upsert by external key, one event per change."""
    reports: list[RowReport] = []
    checked: list[tuple[int, UnitFields]] = []
    for line, record in records:
        if isinstance(record, RowError):
            reports.append(RowReport(line=line, status="rejected", errors=[record]))
            continue
        row = validate_import_row(record, line=line)
        if row.fields is None:
            reports.append(RowReport(line=line, status="rejected", errors=list(row.errors)))
            continue
        checked.append((line, row.fields))
    keys = [f.external_key or f.tax_code or f.school_code or "" for _, f in checked]
    known = await store.get_units_by_external_keys(session=uow.session, keys=keys)
    new: dict[str, Unit] = {}
    changed: dict[str, Unit] = {}
    history: list[dict[str, Any]] = []
    by_line: dict[int, RowReport] = {}
    for (line, fields), key in zip(checked, keys, strict=True):
        try:
            result = _upsert(fields, known.get(key), now=now)
        except DomainError as exc:
            by_line[line] = RowReport(line=line, status="rejected", external_key=key,
                                      errors=[RowError(field=_field_of(exc), message=exc.message)])
            continue
        refusal = guard(result.unit) or (guard(known[key]) if key in known else None)
        if refusal:
            by_line[line] = RowReport(line=line, status="rejected", external_key=key,
                                      errors=[RowError(field="area_code", message=refusal)])
            continue
        unit = result.unit
        if result.status == "created":
            new[unit.unit_id] = unit
            history.append(_history(unit.unit_id, now, actor, "imported", {"external_key": key}))
            uow.emit(_registered(unit))
        elif result.status == "updated":
            if unit.unit_id not in new:
                changed[unit.unit_id] = unit
            else:
                new[unit.unit_id] = unit
            history.append(_history(unit.unit_id, now, actor, "imported", result.changed))
            uow.emit(_updated(unit.unit_id, result.changed))
        known[key] = unit
        by_line[line] = RowReport(line=line, status=result.status, unit_id=unit.unit_id, external_key=key,
                                  changed=sorted(result.changed) if result.changed else None)
    await store.insert_units(session=uow.session, new=list(new.values()))
    await store.update_units(session=uow.session, changed=list(changed.values()))
    await store.set_cycle_areas(session=uow.session, unit_ids=list(changed))
    await store.add_history(session=uow.session, entries=history)
    reports.extend(by_line.values())
    return sorted(reports, key=lambda r: r.line)


def _registered(unit: Unit) -> UnitRegistered:
    return UnitRegistered(unit_id=unit.unit_id, name=unit.name, kind=unit.kind, area_code=unit.area_code,
                          in_scope=unit.in_scope, external_key=unit.external_key)


def _updated(unit_id: str, changed: Mapping[str, Any]) -> UnitUpdated:
    return UnitUpdated(unit_id=unit_id, changed=event_changes(changed))


def _field_of(exc: DomainError) -> str:
    details = exc.details
    if isinstance(details, dict) and isinstance(details.get("field"), str):
        return str(details["field"])
    if isinstance(details, dict) and isinstance(details.get("fields"), list):
        return ",".join(map(str, details["fields"]))
    if isinstance(details, list) and details and isinstance(details[0], dict):
        return str(details[0].get("field", "row"))
    return "row"


async def import_units(db: Database, records: Sequence[tuple[int, Mapping[str, Any] | RowError]], *,
                       now: datetime, actor: str, guard: Guard = allow_all, chunk_rows: int = 1000,
                       keep_rows: Callable[[RowReport], bool] = lambda _: True) -> ImportReport:
    """A whole import, committed in chunks so a provincial file does not hold the database for long.

    Re-running the same file finds every key and reports `unchanged`; a bad row is rejected alone.
    """
    report = ImportReport()
    for start in range(0, len(records), chunk_rows):
        async with db.unit_of_work() as uow:
            rows = await import_rows(records[start:start + chunk_rows], uow, now=now, actor=actor, guard=guard)
        for row in rows:
            report.add(row, keep=keep_rows(row))
    return report


async def on_units_upserted(deliveries: Sequence[Delivery], uow: UnitOfWork, *, now: datetime) -> None:
    """Business and school registries' records, a batch at once: create each unit, or update it by its external
    key. Consecutive records of one agency go through `import_rows` together, as the rows of an import file do
    (a later record of a key sees the earlier one). A record refused by validation refuses the batch (`Reject`):
    the spine then runs each message alone, and only that one goes to the DLQ."""
    for agency, run in groupby(deliveries, key=lambda d: d.agency):
        group = [d.data for d in run if isinstance(d.data, UnitUpserted)]
        rows = await import_rows([(n, data.model_dump(exclude_none=True)) for n, data in enumerate(group)], uow,
                                 now=now, actor=f"agency/{agency}")
        for row in rows:
            if row.status == "rejected":
                reasons = "; ".join(f"{e.field}: {e.message}" for e in row.errors or [])
                raise Reject(f"unit record {group[row.line].external_key} rejected: {reasons}")


# --- cycles --------------------------------------------------------------------------------------------------------
@dataclass
class ItemResult:
    """One unit's result in a cycle command (a batch has one per item, a single endpoint one in all)."""

    unit_id: str
    cycle: Cycle | None = None
    error: DomainError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"unit_id": self.unit_id, "ok": self.ok}
        if self.cycle is not None:
            out["state"] = self.cycle.state
        if self.error is not None:
            out["error"] = {"status": self.error.status, "code": self.error.code, "message": self.error.message,
                            "details": self.error.details}
        return out


@dataclass
class CycleCommandInputs:
    """What a cycle command may need besides the unit and its cycle, loaded once for a whole batch."""

    now: datetime
    recognised: Mapping[str, list[int]] = field(default_factory=dict)
    incidents: Mapping[str, list[Incident]] = field(default_factory=dict)
    frameworks: dict[tuple[str, str, str | None], Framework] = field(default_factory=dict)

    def framework(self, cycle: Cycle) -> Framework:
        key = (cycle.framework_code, cycle.kind, None)
        if key not in self.frameworks:
            self.frameworks[key] = framework_by_code(cycle.framework_code, cycle.kind)
        return self.frameworks[key]

    def framework_now(self, unit: Unit) -> Framework:
        key = ("@" + local_date(self.now).isoformat(), unit.kind, unit.province_code)
        if key not in self.frameworks:
            self.frameworks[key] = framework_in_force(unit.kind, unit.province_code, local_date(self.now))
        return self.frameworks[key]


# One cycle command (register, score, submit, appraise, decide, revoke) for one unit, built by a `step_*` function:
# the unit, its cycle of the year (None: not registered) and the batch's inputs in, the domain's outcome out.
CycleCommand = Callable[[Unit, Cycle | None, CycleCommandInputs], Outcome]


def _need(cycle: Cycle | None, unit: Unit, year: int) -> Cycle:
    if cycle is None:
        raise NotFound(f"the unit has no cycle for {year}; register it first", code="cycle_not_found",
                       details={"unit_id": unit.unit_id, "year": year, "allowed": ["register"]})
    return cycle


async def run_cycle_step(uow: UnitOfWork, *, items: Sequence[tuple[str, CycleCommand]], year: int,
                         now: datetime, actor: Actor, action: str, guard: Guard = allow_all, creates: bool = False,
                         needs_recognised: bool = False, needs_incidents: bool = False) -> list[ItemResult]:
    """Apply one cycle command (`action`, e.g. `cycles.decide`) to many units in one transaction; a refused item
    leaves the others untouched.

    Nothing is written for a refused item: the domain decides before anything is saved, so no savepoint is
    needed. Each accepted item's events go to the outbox in item order; its new steps are attributed to `actor`
    and the command is appended to the audit trail.
    """
    ids = [unit_id for unit_id, _ in items]
    units = await store.get_units(session=uow.session, unit_ids=ids)
    current = await store.get_cycles(session=uow.session, unit_ids=ids, year=year)
    inputs = CycleCommandInputs(now=now)
    if needs_recognised:
        inputs.recognised = await store.recognised_years(session=uow.session, unit_ids=ids)
    if needs_incidents:
        inputs.incidents = await store.year_incidents(session=uow.session, unit_ids=ids, year=year)
    results: list[ItemResult] = []
    trail: list[dict[str, Any]] = []
    created: dict[str, Cycle] = {}
    changed: dict[str, Cycle] = {}
    seen: set[str] = set()
    for unit_id, command in items:
        result = ItemResult(unit_id)
        results.append(result)
        unit = units.get(unit_id)
        try:
            if unit_id in seen:
                raise Invalid("the unit appears twice in the batch", code="duplicate_item")
            seen.add(unit_id)
            if unit is None:
                raise NotFound("no such unit", details={"unit_id": unit_id})
            refusal = guard(unit)
            if refusal:
                raise Forbidden(refusal, code="forbidden_scope")
            before = current.get(unit_id)
            outcome = command(unit, before, inputs)
        except DomainError as exc:
            result.error = exc
            continue
        cycle = result.cycle = attribute(outcome.cycle, before, actor)
        if before is None and creates:
            created[unit_id] = cycle
        elif cycle != before:
            changed[unit_id] = cycle
        event_ids = [uow.emit(event).id for event in outcome.events]
        trail.append(_audit_entry(actor, action, cycle, now, before=before.state if before else None,
                                  area_code=unit.area_code, events=event_ids))
    await store.insert_cycles(session=uow.session, new=list(created.values()), now=now)
    await store.set_cycle_areas(session=uow.session, unit_ids=list(created))
    await store.update_cycles(session=uow.session, changed=list(changed.values()), now=now)
    await audit.append_many(uow.session, store.audit_log, trail)
    return results


def _audit_entry(actor: Actor, action: str, cycle: Cycle, now: datetime, **details: Any) -> dict[str, Any]:
    """The audit trail's record of one cycle command (the keyword arguments of `audit.append`)."""
    extra: dict[str, Any] = {"state": cycle.state, "actor_area": actor.area}
    if action == "cycles.decide" and cycle.decision is not None:
        extra |= {"decision_no": cycle.decision.decision_no, "recognized": cycle.decision.recognized,
                  "decided_on": cycle.decision.decided_on.isoformat() if cycle.decision.decided_on else None}
    return {"actor": actor.sub, "role": actor.role, "action": action, "target": f"{cycle.unit_id}/{cycle.year}",
            "at": now, "details": {**details, **extra}}


def single(results: list[ItemResult]) -> Cycle:
    """The cycle of a one-item command, or its error raised for the HTTP layer."""
    (result,) = results
    if result.error is not None:
        raise result.error
    assert result.cycle is not None
    return result.cycle


def step_register(year: int) -> CycleCommand:
    def run(unit: Unit, cycle: Cycle | None, inputs: CycleCommandInputs) -> Outcome:
        if cycle is not None:
            refuse_second_registration(cycle)
        return register(unit_id=unit.unit_id, kind=unit.kind, year=year, framework=inputs.framework_now(unit),
                        now=inputs.now, in_scope=unit.in_scope, active=unit.status == "active",
                        incidents=[i.ref() for i in inputs.incidents.get(unit.unit_id, [])])
    return run


def step_criterion(year: int, code: str, result: CriterionOutcome, evidence: Sequence[str],
                   note: str | None) -> CycleCommand:
    def run(unit: Unit, cycle: Cycle | None, inputs: CycleCommandInputs) -> Outcome:
        c = _need(cycle, unit, year)
        return record_criterion(c, inputs.framework(c), code=code, result=result, evidence=evidence, note=note,
                                now=inputs.now)
    return run


def step_self_assess(year: int, results: Mapping[str, Mapping[str, Any]] | None) -> CycleCommand:
    def run(unit: Unit, cycle: Cycle | None, inputs: CycleCommandInputs) -> Outcome:
        c = _need(cycle, unit, year)
        try:
            return self_assess(c, inputs.framework(c), now=inputs.now, results=results)
        except ValidationError as exc:
            raise Invalid("invalid criterion result", details=safe_details(exc)) from exc
    return run


def step_submit(year: int) -> CycleCommand:
    def run(unit: Unit, cycle: Cycle | None, inputs: CycleCommandInputs) -> Outcome:
        return submit(_need(cycle, unit, year), now=inputs.now, area_code=unit.area_code, unit_name=unit.name)
    return run


def step_appraise(year: int, recommended: bool, note: str | None) -> CycleCommand:
    def run(unit: Unit, cycle: Cycle | None, inputs: CycleCommandInputs) -> Outcome:
        return appraise(_need(cycle, unit, year), recommended=recommended, note=note, now=inputs.now)
    return run


def step_decide(year: int, recognized: bool, decision_no: str | None, rating: Rating | None,
                note: str | None, *, decider_area: str | None, decided_on: date | None = None) -> CycleCommand:
    """`decider_area`: the deciding officer's scope (None: unscoped or admin), checked against the unit's
    managing level; `decided_on`: the date the People's Committee signed."""
    def run(unit: Unit, cycle: Cycle | None, inputs: CycleCommandInputs) -> Outcome:
        check_deciding_level(unit.managing_level, decider_area)
        return decide(_need(cycle, unit, year), recognized=recognized, decision_no=decision_no,
                      level=unit.managing_level, now=inputs.now, rating=rating, note=note,
                      previously_recognised=inputs.recognised.get(unit.unit_id, []), decided_on=decided_on)
    return run


def step_revoke(year: int, reason: str) -> CycleCommand:
    def run(unit: Unit, cycle: Cycle | None, inputs: CycleCommandInputs) -> Outcome:
        return revoke(_need(cycle, unit, year), reason=reason, now=inputs.now)
    return run


# --- incidents and activities ---------------------------------------------------------------------------------------
async def record_incident_cmd(unit: Unit, uow: UnitOfWork, *, category: str, occurred_at: datetime, source: str,
                              now: datetime, actor: Actor, reference: str | None = None,
                              description: str | None = None) -> tuple[Incident, Cycle | None]:
    """Record an incident against the year it occurred in; a disqualifying one after recognition revokes it
    (the revocation attributed to `actor` and audited)."""
    year = _incident_year(occurred_at)
    cycle = await store.get_cycle(session=uow.session, unit_id=unit.unit_id, year=year)
    incident, changed = _incident_step(unit, cycle, uow, category=category, occurred_at=occurred_at, source=source,
                                       now=now, reference=reference, description=description)
    await store.insert_incidents(session=uow.session, new=[incident])
    if changed is not None:
        changed = attribute(changed, cycle, actor)
        await store.update_cycles(session=uow.session, changed=[changed], now=now)
        await audit.append_many(uow.session, store.audit_log, [_incident_audit(actor, incident, cycle, changed, now)])
        cycle = changed
    return incident, cycle


def _incident_audit(actor: Actor, incident: Incident, before: Cycle | None, cycle: Cycle,
                    now: datetime) -> dict[str, Any]:
    """The audit entry of an incident that changed its year's cycle (a recognition it revoked)."""
    return _audit_entry(actor, "incidents.create", cycle, now, before=before.state if before else None,
                        incident_id=incident.incident_id, category=incident.category)


def _incident_year(occurred_at: datetime) -> int:
    if occurred_at.tzinfo is None:
        raise Invalid("occurred_at needs a time zone", details={"field": "occurred_at"})
    return assessment_year_of(occurred_at)


def _incident_step(unit: Unit, cycle: Cycle | None, uow: UnitOfWork, *, category: str, occurred_at: datetime,
                   source: str, now: datetime, reference: str | None, description: str | None,
                   pending: bool = False) -> tuple[Incident, Cycle | None]:
    """The incident and its events (emitted), and the unit's cycle of that year when the incident changed it.
    A `pending` incident (an agency's report awaiting confirmation) leaves the cycle alone."""
    if cycle is not None:
        framework = framework_by_code(cycle.framework_code, cycle.kind)
    else:
        try:
            framework = framework_in_force(unit.kind, unit.province_code, local_date(occurred_at))
        except NotFound:
            framework = framework_in_force(unit.kind, unit.province_code, local_date(now))
    incident, events = record_incident(incident_id=str(uuid.uuid4()), unit_id=unit.unit_id, category=category,
                                       occurred_at=occurred_at, source=source, framework=framework, now=now,
                                       reference=reference, description=description, pending=pending)
    for event in events:
        uow.emit(event)
    if cycle is None or not incident.counts:
        return incident, None
    outcome = note_incident(cycle, incident.ref(), now=now)
    for follow_up in outcome.events:
        uow.emit(follow_up)
    return incident, (outcome.cycle if outcome.cycle != cycle else None)


async def on_incidents_reported(deliveries: Sequence[Delivery], uow: UnitOfWork, *, now: datetime,
                                trust: AgencyTrust) -> None:
    """Other agencies' incident reports, a batch at once: matched by unit id or external key, processed once per
    (agency, reference), also within the batch. The references, units and cycles are read in a few statements
    and the cycles changed in memory in event order (a second incident at a unit sees what the first did); the
    incidents, the changed cycles and the references are written at the end. A report that cannot be recorded
    (an unknown unit, an unknown category) refuses the batch (`Reject`): the spine then runs each message alone,
    and only that one goes to the DLQ. A report is recorded `pending` (it counts once an officer confirms it)
    unless `trust` says its agency's reports are confirmed on arrival."""
    reports = [(d.agency or "unknown", d.data) for d in deliveries if isinstance(d.data, IncidentReported)]
    seen = await store.inbound_seen_many(session=uow.session, message_type=IncidentReported.TYPE,
                                         refs=[(agency, data.reference) for agency, data in reports])
    by_id = await store.get_units(session=uow.session, unit_ids=[d.unit_id for _, d in reports if d.unit_id])
    by_key = await store.get_units_by_external_keys(
        session=uow.session, keys=[d.unit_external_key for _, d in reports if d.unit_external_key])
    todo: list[tuple[str, IncidentReported, Unit, int]] = []
    for agency, data in reports:
        if (agency, data.reference) in seen:
            continue  # the agency sent this reference before (perhaps under a new event id): already recorded
        seen.add((agency, data.reference))
        unit = by_id.get(data.unit_id) if data.unit_id else None
        if unit is None and data.unit_external_key:
            unit = by_key.get(data.unit_external_key)
        if unit is None:
            given = data.unit_id or data.unit_external_key
            raise Reject(f"unknown unit {given!r} (reference {data.reference})" if given
                         else f"no unit_id or unit_external_key (reference {data.reference})")
        try:
            year = _incident_year(data.occurred_at)
        except DomainError as exc:
            raise Reject(f"incident {data.reference} refused: {exc.message}") from exc
        todo.append((agency, data, unit, year))
    cycles: dict[tuple[str, int], Cycle | None] = {}
    for year in sorted({year for *_, year in todo}):
        at_year = [unit.unit_id for _, _, unit, y in todo if y == year]
        found = await store.get_cycles(session=uow.session, unit_ids=at_year, year=year)
        cycles |= {(unit_id, year): found.get(unit_id) for unit_id in at_year}
    recorded: list[Incident] = []
    changed: dict[tuple[str, int], Cycle] = {}
    refs: list[dict[str, Any]] = []
    trail: list[dict[str, Any]] = []
    for agency, data, unit, year in todo:
        before = cycles[(unit.unit_id, year)]
        try:
            incident, cycle = _incident_step(unit, before, uow, category=data.category,
                                             occurred_at=data.occurred_at, source=f"agency/{agency}", now=now,
                                             reference=data.reference, description=data.description,
                                             pending=not trust.confirmed_on_arrival(agency))
        except DomainError as exc:
            raise Reject(f"incident {data.reference} refused: {exc.message}") from exc
        recorded.append(incident)
        if cycle is not None:
            actor = Actor(sub=f"agency/{agency}", role="agency")
            cycle = attribute(cycle, before, actor)
            cycles[(unit.unit_id, year)] = changed[(unit.unit_id, year)] = cycle
            trail.append(_incident_audit(actor, incident, before, cycle, now))
        refs.append({"agency": agency, "message_type": IncidentReported.TYPE, "reference": data.reference,
                     "result_id": incident.incident_id, "processed_at": now})
    await store.insert_incidents(session=uow.session, new=recorded)
    await store.update_cycles(session=uow.session, changed=list(changed.values()), now=now)
    await audit.append_many(uow.session, store.audit_log, trail)
    await store.remember_inbound_many(session=uow.session, rows=refs)


async def _unit_incident(uow: UnitOfWork, unit: Unit, incident_id: str) -> Incident:
    incident = await store.get_incident(session=uow.session, incident_id=incident_id)
    if incident is None or incident.unit_id != unit.unit_id:
        raise NotFound("no such incident at this unit", code="incident_not_found",
                       details={"unit_id": unit.unit_id, "incident_id": incident_id})
    return incident


def _incident_change_audit(actor: Actor, action: str, before: Incident, incident: Incident, cycle_before: Cycle | None,
                           cycle: Cycle | None, now: datetime, events: list[str]) -> dict[str, Any]:
    """The audit entry of a confirmation or withdrawal (`incidents.confirm`, `incidents.withdraw`), with the
    cycle's state before and after when the unit has a cycle for the incident's year."""
    details: dict[str, Any] = {
        "incident_id": incident.incident_id, "category": incident.category, "from": before.status,
        "to": incident.status, "actor_area": actor.area, "events": events,
        "before": cycle_before.state if cycle_before else None, "state": cycle.state if cycle else None,
    }
    return {"actor": actor.sub, "role": actor.role, "action": action,
            "target": f"{incident.unit_id}/{incident.year}", "reason": incident.withdrawal_reason, "at": now,
            "details": details}


async def confirm_incident_cmd(unit: Unit, incident_id: str, uow: UnitOfWork, *, now: datetime,
                               actor: Actor) -> tuple[Incident, Cycle | None]:
    """An officer confirms an agency's pending report: it counts from now on, so a disqualifying one revokes the
    year's recognition (attributed to the officer). Audited as `incidents.confirm`."""
    before = await _unit_incident(uow, unit, incident_id)
    incident, events = confirm_incident(before, by=actor, now=now)
    event_ids = [uow.emit(event).id for event in events]
    await _save_incident(uow, incident, before)
    cycle_before = await store.get_cycle(session=uow.session, unit_id=unit.unit_id, year=incident.year)
    cycle = cycle_before
    if cycle_before is not None:
        outcome = note_incident(cycle_before, incident.ref(), now=now)
        event_ids += [uow.emit(event).id for event in outcome.events]
        cycle = await _save_changed(uow, attribute(outcome.cycle, cycle_before, actor), cycle_before, now)
    await audit.append_many(uow.session, store.audit_log, [_incident_change_audit(
        actor, "incidents.confirm", before, incident, cycle_before, cycle, now, event_ids)])
    return incident, cycle


async def withdraw_incident_cmd(unit: Unit, incident_id: str, uow: UnitOfWork, *, reason: str, now: datetime,
                                actor: Actor) -> tuple[Incident, Cycle | None]:
    """An officer withdraws an incident recorded by mistake (`IncidentWithdrawn`). The year's cycle forgets it;
    a recognition revoked by it alone is restored (`CertificationRestored`, the step attributed to the officer).
    Audited as `incidents.withdraw` with the reason."""
    before = await _unit_incident(uow, unit, incident_id)
    incident, events = withdraw_incident(before, reason=reason, by=actor, now=now)
    event_ids = [uow.emit(event).id for event in events]
    await _save_incident(uow, incident, before)
    cycle_before = await store.get_cycle(session=uow.session, unit_id=unit.unit_id, year=incident.year)
    cycle = cycle_before
    if cycle_before is not None:
        outcome = withdraw_from_cycle(cycle_before, incident.incident_id, reason=incident.withdrawal_reason or reason,
                                      now=now)
        event_ids += [uow.emit(event).id for event in outcome.events]
        cycle = await _save_changed(uow, attribute(outcome.cycle, cycle_before, actor), cycle_before, now)
    await audit.append_many(uow.session, store.audit_log, [_incident_change_audit(
        actor, "incidents.withdraw", before, incident, cycle_before, cycle, now, event_ids)])
    return incident, cycle


async def _save_incident(uow: UnitOfWork, incident: Incident, before: Incident) -> None:
    if not await store.update_incident(session=uow.session, incident=incident, expected_status=before.status):
        raise Conflict("the incident was changed meanwhile; reload and try again", code="concurrent_update",
                       details={"incident_id": incident.incident_id})


async def _save_changed(uow: UnitOfWork, cycle: Cycle, before: Cycle, now: datetime) -> Cycle:
    if cycle != before:
        await store.update_cycles(session=uow.session, changed=[cycle], now=now)
    return cycle


async def report_activity_cmd(unit: Unit, fields: ActivityFields, uow: UnitOfWork, *, now: datetime) -> Activity:
    activity, events = record_activity(fields, activity_id=str(uuid.uuid4()), unit_id=unit.unit_id, now=now)
    await store.insert_activity(session=uow.session, activity=activity)
    for event in events:
        uow.emit(event)
    return activity


# --- command bodies shared by the API and batches -----------------------------------------------------------------
class CriterionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: CriterionOutcome
    evidence: list[str] = Field(default_factory=list, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


# --- history import ------------------------------------------------------------------------------------------------
HistoryStatus = Literal["created", "unchanged", "rejected"]


class HistoryRowReport(BaseModel):
    line: int
    status: HistoryStatus
    record: str | None = None
    unit_id: str | None = None
    year: int | None = None
    award_type: str | None = None
    recipient_ref: str | None = None
    errors: list[RowError] | None = None


class HistoryReport(BaseModel):
    dry_run: bool = False
    total: int = 0
    created: int = 0
    unchanged: int = 0
    rejected: int = 0
    rows: list[HistoryRowReport] = Field(default_factory=list)

    def add(self, row: HistoryRowReport, *, keep: bool = True) -> None:
        self.total += 1
        setattr(self, row.status, getattr(self, row.status) + 1)
        if keep:
            self.rows.append(row)


def _rejected(line: int, errors: Sequence[RowError], **found: Any) -> HistoryRowReport:
    return HistoryRowReport(line=line, status="rejected", errors=list(errors), **found)


async def import_history_rows(records: Sequence[tuple[int, Mapping[str, Any] | RowError]], uow: UnitOfWork, *,
                              now: datetime, actor: Actor, guard: Guard = allow_all,
                              dry_run: bool = False) -> list[HistoryRowReport]:
    """One transaction's share of a history import: validate each row, find its unit, refuse a year antq decided
    itself or a row that contradicts an earlier import; record the new facts with one event and one audit entry
    each (`history.recognition`, `history.award`). A re-imported row is `unchanged`. With `dry_run` nothing is
    written: the report says what the import would do."""
    today = local_date(now)
    current = assessment_year_of(now)
    types = award_catalogue.award_types()
    checked: list[tuple[int, HistoryFields]] = []
    reports: list[HistoryRowReport] = []
    for line, record in records:
        if isinstance(record, RowError):
            reports.append(_rejected(line, [record]))
            continue
        row = validate_history_row(record, line=line, current_year=current, today=today, award_types=types)
        if row.fields is None:
            reports.append(_rejected(line, row.errors, record=str(record.get("record") or "") or None))
            continue
        checked.append((line, row.fields))
    by_id = await store.get_units(session=uow.session, unit_ids=[f.unit_id for _, f in checked if f.unit_id])
    by_key = await store.get_units_by_external_keys(session=uow.session, keys=[
        f.external_key for _, f in checked if f.external_key and not f.unit_id])
    resolved: list[tuple[int, HistoryFields, Unit]] = []
    for line, fields in checked:
        unit = by_id.get(fields.unit_id) if fields.unit_id else by_key.get(fields.external_key or "")
        if unit is None:
            field_name = "unit_id" if fields.unit_id else "external_key"
            reports.append(_rejected(line, [RowError(field=field_name, message="no such unit")],
                                     record=fields.record, year=fields.year))
            continue
        refusal = guard(unit)
        if refusal:
            reports.append(_rejected(line, [RowError(field="unit_id", message=refusal)], record=fields.record,
                                     unit_id=unit.unit_id, year=fields.year))
            continue
        resolved.append((line, fields, unit))
    pairs = [(u.unit_id, f.year) for _, f, u in resolved if isinstance(f, RecognitionRow)]
    states = await store.cycle_states(session=uow.session, pairs=pairs)
    past = await store.past_recognitions_of(session=uow.session, pairs=pairs)
    held = await store.past_awards_of(session=uow.session, refs=[
        award_record(f, u)["recipient_ref"] for _, f, u in resolved if isinstance(f, AwardRow)])
    new_recognitions: list[dict[str, Any]] = []
    new_awards: list[dict[str, Any]] = []
    trail: list[dict[str, Any]] = []
    who = {"imported_at": now, "imported_by": f"{actor.role}:{actor.sub}"[:200]}
    for line, fields, unit in resolved:
        found: dict[str, Any] = {"record": fields.record, "unit_id": unit.unit_id, "year": fields.year}
        if isinstance(fields, RecognitionRow):
            record = recognition_record(fields, unit)
            key: Any = (unit.unit_id, fields.year)
            state = states.get(key)
            if state is not None:
                reports.append(_rejected(line, [RowError(field="year", message=(
                    f"antq holds the {fields.year} cycle of this unit ({state}): that year is not imported"))],
                    **found))
                continue
            before, store_in, facts = past.get(key), cast(dict[Any, dict[str, Any]], past), RECOGNITION_FACTS
        else:
            record = award_record(fields, unit)
            key = (record["award_type"], record["recipient_kind"], record["recipient_ref"], fields.year)
            found |= {"award_type": fields.award_type, "recipient_ref": record["recipient_ref"]}
            before, store_in, facts = held.get(key), cast(dict[Any, dict[str, Any]], held), AWARD_FACTS
        if before is not None:
            differ = differences(before, record, facts)
            if differ:
                reports.append(_rejected(line, [RowError(field=f, message=(
                    f"imported before as {before.get(f)!r}; a past record is not changed by a new import"))
                    for f in differ], **found))
            else:
                reports.append(HistoryRowReport(line=line, status="unchanged", **found))
            continue
        store_in[key] = {**record, **who}
        event: EventData
        if isinstance(fields, RecognitionRow):
            new_recognitions.append({**record, **who})
            event = recognition_event(record, unit.area_code)
            action, target = "history.recognition", f"{unit.unit_id}/{fields.year}"
        else:
            new_awards.append({**record, **who})
            event = award_event(record)
            action, target = "history.award", f"{unit.unit_id}/{fields.year}"
        reports.append(HistoryRowReport(line=line, status="created", **found))
        if dry_run:
            continue
        event_id = uow.emit(event).id
        trail.append({"actor": actor.sub, "role": actor.role, "action": action, "target": target, "at": now,
                      "details": {"actor_area": actor.area, "line": line, "events": [event_id],
                                  **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in record.items()
                                     if k not in ("unit_id", "year")}}})
    if not dry_run:
        await store.insert_past(session=uow.session, recognitions=new_recognitions, awards=new_awards)
        await audit.append_many(uow.session, store.audit_log, trail)
    return sorted(reports, key=lambda r: r.line)


async def import_history(db: Database, records: Sequence[tuple[int, Mapping[str, Any] | RowError]], *,
                         now: datetime, actor: Actor, guard: Guard = allow_all, dry_run: bool = False,
                         chunk_rows: int = 1000,
                         keep_rows: Callable[[HistoryRowReport], bool] = lambda _: True) -> HistoryReport:
    """A whole history file, committed in chunks (a dry run writes nothing). Re-importing it changes nothing."""
    report = HistoryReport(dry_run=dry_run)
    if dry_run:
        # One transaction, rolled back: later rows see what earlier ones would have recorded only within a chunk,
        # so the whole file is one chunk.
        chunk_rows = max(len(records), 1)
    for start in range(0, len(records), chunk_rows):
        async with db.unit_of_work() as uow:
            rows = await import_history_rows(records[start:start + chunk_rows], uow, now=now, actor=actor,
                                             guard=guard, dry_run=dry_run)
        for row in rows:
            report.add(row, keep=keep_rows(row))
    return report


# --- statistics --------------------------------------------------------------------------------------------------
# A refresher's claim on a key lasts this long: a replica that stops mid-computation holds nobody up for longer.
STATS_CLAIM = timedelta(minutes=5)
# The refresher keeps warm the provinces' figures served within this while (the nation's always).
STATS_READ_WINDOW = timedelta(days=1)


def stats_snapshotted(query: StatsQuery) -> bool:
    """The nation's and a province's figures are passes over much of the country: shared snapshots. A commune's
    (a few hundred units) are computed for each request."""
    return query.area_code is None or "." not in query.area_code


async def live_stats(db: Database, query: StatsQuery, *, now: datetime) -> Stats:
    """The figures computed now (the one way of computing them: `store.compute_stats`), dated `now`."""
    async with db.read() as session:
        stats = await store.compute_stats(session=session, query=query)
    return stats.model_copy(update={"computed_at": now})


async def stats_cmd(db: Database, query: StatsQuery, *, now: datetime, max_age: float) -> Stats:
    """`GET /stats`: a nation's or a province's figures from the shared snapshot when it is younger than `max_age`
    seconds, else computed live and stored for every replica; a commune's (and every query when `max_age` is 0)
    live."""
    if max_age <= 0 or not stats_snapshotted(query):
        return await live_stats(db, query, now=now)
    async with db.read() as session:
        stored = await store.read_stats_snapshot(session=session, query=query)
    snapshot, read_at = stored if stored is not None else (None, None)
    if snapshot is not None and snapshot.computed_at is not None and \
            (now - snapshot.computed_at).total_seconds() < max_age:
        if read_at is None or (now - read_at).total_seconds() >= max_age:  # at most one write per key and while
            async with db.unit_of_work() as uow:
                await store.touch_stats_snapshot(session=uow.session, query=query, at=now,
                                                 before=now - timedelta(seconds=max_age))
        return snapshot
    stats = await live_stats(db, query, now=now)
    async with db.unit_of_work() as uow:
        await store.save_stats_snapshot(session=uow.session, stats=stats, read_at=now)
    return stats


async def refresh_stats_cmd(db: Database, *, now: datetime, max_age: float) -> list[StatsQuery]:
    """Recompute the current ANTT year's snapshots older than half `max_age`: the nation's, and every key served
    within `STATS_READ_WINDOW`. Each key is claimed in the database first (`store.claim_stats_snapshot`), so that
    of several replicas refreshing at once one computes it; returns the keys this call computed."""
    year = assessment_year_of(now)
    async with db.read() as session:
        keys = await store.stats_snapshots_read_since(session=session, year=year, since=now - STATS_READ_WINDOW)
    nation = StatsQuery(year=year)
    keys = [nation, *(k for k in keys if k != nation and stats_snapshotted(k))]
    refreshed: list[StatsQuery] = []
    for query in keys:
        async with db.unit_of_work() as uow:
            claimed = await store.claim_stats_snapshot(
                session=uow.session, query=query, now=now, computed_before=now - timedelta(seconds=max_age / 2),
                until=now + STATS_CLAIM)
        if not claimed:
            continue
        try:
            stats = await live_stats(db, query, now=now)
        except Exception:
            async with db.unit_of_work() as uow:
                await store.release_stats_snapshot(session=uow.session, query=query)
            raise
        async with db.unit_of_work() as uow:
            await store.save_stats_snapshot(session=uow.session, stats=stats, release=True)
        refreshed.append(query)
    return refreshed
