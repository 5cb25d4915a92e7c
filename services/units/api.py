"""Units HTTP routes: validate, authorise, call a handler, nothing else."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.units import handlers, store
from services.units.context import UnitsContext
from services.units.domain import (
    AWAITS,
    Activity,
    ActivityFields,
    Actor,
    Awaits,
    Contact,
    Cycle,
    Evidence,
    Framework,
    Incident,
    IncidentState,
    Stats,
    StatsQuery,
    Unit,
    UnitFields,
    area_covers,
    assessment_year_of,
    check_evidence,
    clean_filename,
    framework_by_code,
    load_frameworks,
    local_date,
    split_area_code,
    states_awaiting,
)
from services.units.domain.activities import load_activity_kinds
from services.units.domain.cycle import CycleState
from services.units.domain.units import EnterpriseSize, SchoolLevel, UnitStatus, kind_attribute_rules
from services.units.handlers import (
    CriterionBody,
    CycleCommand,
    Guard,
    HistoryReport,
    ImportReport,
    ItemResult,
)
from services.units.policy import POLICY, UNIT_STAFF_FIELDS
from shared import places
from shared.areas import check_known_area
from shared.auth import Principal
from shared.contracts.events import Level, Rating, UnitKind
from shared.contracts.instants import BoundedDate, Instant
from shared.deps import PageQuery, context
from shared.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, safe_details
from shared.http import ERROR_RESPONSES, Page, bearer_principal

router = APIRouter()

UnitId = Annotated[str, Path(min_length=1, max_length=200)]
Year = Annotated[int, Path(ge=2000, le=2200)]
Ctx = Annotated[UnitsContext, Depends(context)]
AreaCode = Annotated[str | None, Query(max_length=80, description='"PP" (province) or "PP.CCCCC" (commune)')]


def _actor(principal: Principal | None) -> str:
    return f"{principal.role}:{principal.sub}" if principal else "anonymous"


def _step_actor(principal: Principal) -> Actor:
    return Actor(sub=principal.sub, role=principal.role, area=principal.area)


def _check_area(area_code: str | None) -> None:
    if area_code is not None:
        split_area_code(area_code)
        check_known_area(area_code)


async def _authorized_unit(request: Request, ctx: UnitsContext, unit_id: str,
                           action: str) -> tuple[Principal, Unit]:
    """The unit, once the caller is allowed `action` on it (401/403 before 404 for callers scoped elsewhere)."""
    principal = bearer_principal(request)
    rule = POLICY.rule(action)
    if principal is None or principal.role not in rule.grants or principal.role == "unit":
        POLICY.authorize(principal, action, unit=unit_id)
    assert principal is not None
    async with ctx.db.read() as session:
        unit = await store.get_unit(session=session, unit_id=unit_id)
    if unit is None:
        raise NotFound("no such unit", details={"unit_id": unit_id})
    POLICY.authorize(principal, action, area=unit.area_code, unit=unit.unit_id)
    return principal, unit


def _decider_area(request: Request) -> str | None:
    """The deciding officer's scope (None for admins and unscoped officers); the endpoint has authorised the
    caller already (the principal is verified once per request)."""
    principal = bearer_principal(request)
    return principal.area if principal is not None and principal.role == "officer" else None


def _guard(principal: Principal, action: str, area_code: str | None = None) -> Guard:
    def guard(unit: Unit) -> str | None:
        if area_code is not None and not area_covers(area_code, unit.area_code):
            return f"the unit is in area {unit.area_code}, not in {area_code}"
        try:
            POLICY.authorize(principal, action, area=unit.area_code, unit=unit.unit_id)
        except DomainError as exc:
            return exc.message
        return None
    return guard


# --- models ------------------------------------------------------------------------------------------------------
def _new_unit_rules(schema: dict[str, Any]) -> None:
    """The kind's attributes (UnitFields), and province_code or area_code (fields_with_area derives the province
    from area_code), in the JSON Schema of POST /units."""
    kind_attribute_rules(schema)
    schema["anyOf"] = [{"required": ["province_code"], "properties": {"province_code": {"type": "string"}}},
                       {"required": ["area_code"], "properties": {"area_code": {"type": "string"}}}]


class UnitIn(UnitFields):
    """A new unit: `area_code` ("PP" or "PP.CCCCC") may replace province_code/commune_code."""

    model_config = ConfigDict(json_schema_extra=_new_unit_rules)

    province_code: str | None = Field(default=None, min_length=1, max_length=20)  # type: ignore[assignment]
    area_code: str | None = Field(default=None, max_length=80)
    # The contract's name for the scope override; needs in_scope_reason.
    in_scope: bool | None = None


class UnitPatch(BaseModel):
    """Fields to change; absent fields stay, `null` clears. `in_scope` overrides the derived scope (with a reason)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    area_code: str | None = None
    province_code: str | None = None
    commune_code: str | None = None
    district_code: str | None = None
    address: str | None = None
    tax_code: str | None = None
    school_code: str | None = None
    external_key: str | None = None
    managing_level: Level | None = None
    head_of_unit: Contact | None = None
    security_focal: Contact | None = None
    security_force_full_time: int | None = None
    security_force_part_time: int | None = None
    models: list[str] | None = None
    status: UnitStatus | None = None
    armed_forces: bool | None = None
    size: EnterpriseSize | None = None
    school_level: SchoolLevel | None = None
    in_scope: bool | None = None
    in_scope_reason: str | None = None


class UnitOut(UnitFields):
    """A unit as the registry holds it. Contacts are left out for agencies."""

    model_config = ConfigDict(frozen=False, extra="ignore")
    unit_id: str
    area_code: str
    managing_level: Level  # type: ignore[assignment]
    in_scope: bool
    out_of_scope_rule: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    changed: dict[str, Any] | None = Field(default=None, description="PATCH only: the fields that changed")

    @classmethod
    def of(cls, unit: Unit, principal: Principal | None, changed: dict[str, Any] | None = None) -> UnitOut:
        data = unit.model_dump()
        if principal is not None and principal.role == "agency":
            data["head_of_unit"] = data["security_focal"] = None
        return cls.model_validate({**data, "area_code": unit.area_code, "changed": changed})


class HistoryEntry(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    changed: dict[str, Any]


class CycleOut(Cycle):
    """A cycle with the steps it accepts next."""

    model_config = ConfigDict(frozen=False, extra="ignore")
    next_steps: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, cycle: Cycle) -> CycleOut:
        return cls.model_validate({**cycle.model_dump(), "next_steps": list(cycle.allowed)})


class CycleSummary(BaseModel):
    year: int
    state: str
    framework_code: str
    late: bool
    rating: str | None = None


class SelfAssessmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    results: dict[str, CriterionBody] | None = Field(default=None, description="criteria not recorded before")


class AppraisalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recommended: bool
    note: str | None = Field(default=None, max_length=2000)


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recognized: bool
    decision_no: str | None = Field(default=None, max_length=200)
    decided_on: BoundedDate | None = Field(default=None, description="the date the People's Committee signed the "
                                    "decision (default: today); not after today nor before the appraisal")
    rating: Rating | None = None
    note: str | None = Field(default=None, max_length=2000)


class RevocationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(min_length=1, max_length=100)
    occurred_at: Instant = Field(description="When it happened (with a time zone, 2000-2199)")
    description: str | None = Field(default=None, max_length=10_000)
    reference: str | None = Field(default=None, max_length=200)


class IncidentOut(Incident):
    model_config = ConfigDict(frozen=False, extra="ignore")
    cycle_state: str | None = Field(default=None, description="the year's cycle state after the incident")
    revoked: bool = Field(default=False, description="the incident revoked the year's recognition")
    restored: bool = Field(default=False, description="withdrawing the incident restored the year's recognition")


class WithdrawalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="why the incident is withdrawn")


def _incident_out(incident: Incident, before: Cycle | None, cycle: Cycle | None) -> IncidentOut:
    was = before.state if before is not None else None
    now_state = cycle.state if cycle is not None else None
    return IncidentOut.model_validate({**incident.model_dump(), "cycle_state": now_state,
                                       "revoked": now_state == "revoked" and was != "revoked",
                                       "restored": was == "revoked" and now_state == "recognised"})


class FrameworkList(BaseModel):
    items: list[dict[str, Any]]
    incident_categories: dict[str, list[dict[str, Any]]]


# --- registry ------------------------------------------------------------------------------------------------------
@router.post("/units", status_code=201, response_model=UnitOut, tags=["units"], responses=ERROR_RESPONSES,
             summary="Register a unit")
async def post_unit(body: UnitIn, request: Request, ctx: Ctx) -> UnitOut:
    POLICY.require(bearer_principal(request), "units.create")  # 401/403 before the fields are looked at
    data = body.model_dump(exclude_unset=True)
    if "in_scope" in data:
        data["in_scope_override"] = data.pop("in_scope")
    data = handlers.fields_with_area(data)
    try:
        fields = UnitFields.model_validate(data)
    except ValidationError as exc:
        raise Invalid("invalid unit fields", details=safe_details(exc)) from exc
    principal = POLICY.authorize(bearer_principal(request), "units.create",
                                 area=_area_of(fields.province_code, fields.commune_code))
    async with ctx.db.unit_of_work() as uow:
        unit = await handlers.create_unit_cmd(fields, uow, now=ctx.now(), actor=_actor(principal))
    return UnitOut.of(unit, principal)


def _area_of(province: str, commune: str | None) -> str:
    return f"{province}.{commune}" if commune else province


@router.get("/units", response_model=Page[UnitOut], tags=["units"], responses=ERROR_RESPONSES,
            summary="Search the registry (limited to the caller's area or unit)")
async def list_units(
    request: Request, ctx: Ctx, paging: PageQuery,
    kind: UnitKind | None = None,
    area_code: AreaCode = None,
    in_scope: bool | None = None,
    status: UnitStatus | None = None,
    q: Annotated[str | None, Query(max_length=200, description="words of the name, key or address")] = None,
) -> Page[UnitOut]:
    principal = _scoped_reader(request, "units.list")
    _check_area(area_code)
    after = paging.after(str, str)  # (unit name, unit_id)
    areas = [a for a in (area_code, principal.area if principal.role == "officer" else None) if a]
    unit_only = principal.unit if principal.role == "unit" else None
    async with ctx.db.read() as session:
        rows = await store.list_units(session=session, kind=kind, area_codes=areas, in_scope=in_scope, q=q,
                                      status=status, unit_id=unit_only, after=after, limit=paging.probe)
    return paging.page([UnitOut.of(u, principal) for u in rows], lambda u: (u.name, u.unit_id), probed=True)


def _scoped_reader(request: Request, action: str) -> Principal:
    """A caller whose scope is an area or a unit: the role check now, the scope by filtering the query."""
    principal = bearer_principal(request)
    rule = POLICY.rule(action)
    if principal is None or principal.role not in rule.grants:
        POLICY.authorize(principal, action)
    assert principal is not None
    return principal


@router.get("/units/{unit_id}", response_model=UnitOut, tags=["units"], responses=ERROR_RESPONSES,
            summary="One unit")
async def get_unit(unit_id: UnitId, request: Request, ctx: Ctx) -> UnitOut:
    principal, unit = await _authorized_unit(request, ctx, unit_id, "units.read")
    return UnitOut.of(unit, principal)


@router.patch("/units/{unit_id}", response_model=UnitOut, tags=["units"], responses=ERROR_RESPONSES,
              summary="Change a unit (emits UnitUpdated with the changed fields)")
async def patch_unit(unit_id: UnitId, body: UnitPatch, request: Request, ctx: Ctx) -> UnitOut:
    principal, _ = await _authorized_unit(request, ctx, unit_id, "units.update")
    patch = body.model_dump(exclude_unset=True)
    if principal.role == "unit":
        refused = sorted(set(patch) - UNIT_STAFF_FIELDS)
        if refused:
            raise Forbidden(f"unit staff may not change: {', '.join(refused)}", code="forbidden_fields",
                            details={"fields": refused})
    async with ctx.db.unit_of_work() as uow:
        unit, changed = await handlers.update_unit_cmd(unit_id, patch, uow, now=ctx.now(),
                                                       actor=_actor(principal),
                                                       guard=_guard(principal, "units.update"))
    return UnitOut.of(unit, principal, changed)


@router.get("/units/{unit_id}/history", response_model=Page[HistoryEntry], tags=["units"],
            responses=ERROR_RESPONSES, summary="A unit's change history, oldest first")
async def unit_history(unit_id: UnitId, request: Request, ctx: Ctx, paging: PageQuery) -> Page[HistoryEntry]:
    await _authorized_unit(request, ctx, unit_id, "units.history")
    after = paging.after(int)  # (seq,)
    async with ctx.db.read() as session:
        rows = await store.list_history(session=session, unit_id=unit_id, after=after[0] if after else None,
                                        limit=paging.probe)
    return paging.page([HistoryEntry.model_validate(r) for r in rows], lambda h: (h.seq,), probed=True)


@router.post("/imports/units", response_model=ImportReport, tags=["units"], responses=ERROR_RESPONSES,
             summary="Bulk import (text/csv or application/x-ndjson), idempotent on the external key",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"description": "CSV text with a header row"}},
                 "application/x-ndjson": {"schema": {"description": "one JSON object a line"}}}}})
async def import_units(
    request: Request, ctx: Ctx,
    rows: Annotated[Literal["all", "rejected", "none"], Query(description="which rows the report lists")] = "all",
) -> ImportReport:
    principal = _scoped_reader(request, "units.import")
    records = handlers.parse_records(await request.body(), request.headers.get("content-type"))
    keep = {"all": lambda _: True, "rejected": lambda r: r.status == "rejected", "none": lambda _: False}[rows]
    return await handlers.import_units(ctx.db, records, now=ctx.now(), actor=_actor(principal),
                                       guard=_guard(principal, "units.import"),
                                       chunk_rows=ctx.import_chunk_rows, keep_rows=keep)


# --- frameworks ----------------------------------------------------------------------------------------------------
@router.get("/frameworks", response_model=FrameworkList, tags=["frameworks"],
            summary="Every criteria framework version, province overlay and incident category list (public)")
async def list_frameworks(request: Request) -> FrameworkList:
    POLICY.authorize(None, "frameworks.read")
    catalogue = load_frameworks()
    return FrameworkList(items=catalogue.listing(), incident_categories={
        code: [c.model_dump(mode="json") for c in lst.categories] for code, lst in catalogue.incident_lists.items()})


@router.get("/frameworks/in-force", response_model=Framework, tags=["frameworks"], responses=ERROR_RESPONSES,
            summary="The framework a unit of this kind and area registers against on a date (public)")
async def framework_in_force(
    ctx: Ctx, kind: UnitKind, area_code: AreaCode = None,
    on: Annotated[date | None, Query(description="default today")] = None,
) -> Framework:
    POLICY.authorize(None, "frameworks.read")
    province = split_area_code(area_code)[0] if area_code else None
    day = on or ctx.now().date()
    return load_frameworks().in_force(kind, province, day)


@router.get("/frameworks/{code:path}", response_model=Framework, tags=["frameworks"], responses=ERROR_RESPONSES,
            summary="One framework by code, e.g. TT124-2021/art6@2022-02-15+P79@2025-07-01 (public)")
async def get_framework(code: str, request: Request, kind: UnitKind | None = None) -> Framework:
    POLICY.authorize(None, "frameworks.read")
    return load_frameworks().by_code(code, kind)


# --- places ------------------------------------------------------------------------------------------------------
class AreaOut(BaseModel):
    """A province, commune or local area of the national list."""

    code: str = Field(description='the area code: "79" (province) or "79.26743" (commune)', examples=["79.26743"])
    name: str = Field(description="the Vietnamese name with its division type", examples=["Phường Bến Thành"])
    division_type: str = Field(description="tỉnh, thành phố trung ương, phường, xã, đặc khu, or a local area's kind")
    name_en: str = Field(description="the name in ASCII with the English division type", examples=["Ben Thanh Ward"])
    local: bool = Field(default=False, description="an operator's local area (ANTQ_LOCAL_AREAS_FILE)")

    @classmethod
    def of(cls, place: places.Place) -> AreaOut:
        return cls(code=place.code, name=place.name, division_type=place.division_type, name_en=place.name_en,
                   local=place.local)


class AreaList(BaseModel):
    province: AreaOut | None = Field(default=None, description="the province whose communes these are")
    items: list[AreaOut]


SearchText = Annotated[str | None, Query(max_length=100, description="part of a name, accents and case ignored")]


@router.get("/areas", response_model=AreaList, tags=["areas"], responses=ERROR_RESPONSES,
            summary="The 34 provinces after the 2025 reorganisation, or places whose name matches q (public)")
async def list_areas(q: SearchText = None) -> AreaList:
    POLICY.authorize(None, "areas.read")
    found = places.search(q, limit=50) if q else list(places.provinces())
    return AreaList(items=[AreaOut.of(p) for p in found])


@router.get("/areas/{province_code}", response_model=AreaList, tags=["areas"], responses=ERROR_RESPONSES,
            summary="A province and its communes (and local areas), or those whose name matches q (public)")
async def province_areas(province_code: Annotated[str, Path(max_length=20)], q: SearchText = None) -> AreaList:
    POLICY.authorize(None, "areas.read")
    province = places.province(province_code)
    if province is None:
        check_known_area(province_code, "province_code")
        raise NotFound(f"{province_code} is not a province")  # a local area: it has no communes
    found = (places.search(q, province_code=province_code, limit=50) if q
             else list(places.communes_of(province_code)))
    return AreaList(province=AreaOut.of(province), items=[AreaOut.of(p) for p in found if not p.is_province])


# --- cycles --------------------------------------------------------------------------------------------------------
async def _cycle_command(request: Request, ctx: UnitsContext, unit_id: str, year: int, action: str,
                         step: CycleCommand, *,
                         creates: bool = False, needs_recognised: bool = False,
                         needs_incidents: bool = False) -> CycleOut:
    principal, _ = await _authorized_unit(request, ctx, unit_id, action)
    async with ctx.db.unit_of_work() as uow:
        results = await handlers.run_cycle_step(uow, items=[(unit_id, step)], year=year, now=ctx.now(),
                                                actor=_step_actor(principal), action=action,
                                                guard=_guard(principal, action), creates=creates,
                                                needs_recognised=needs_recognised, needs_incidents=needs_incidents)
        cycle = handlers.single(results)
    return CycleOut.of(cycle)


@router.post("/units/{unit_id}/cycles/{year}", status_code=201, response_model=CycleOut, tags=["cycles"],
             responses=ERROR_RESPONSES, summary="Register the unit for an assessment year (CycleRegistered)")
async def register_cycle(unit_id: UnitId, year: Year, request: Request, ctx: Ctx) -> CycleOut:
    return await _cycle_command(request, ctx, unit_id, year, "cycles.register", handlers.step_register(year),
                                creates=True, needs_incidents=True)


@router.get("/units/{unit_id}/cycles", response_model=list[CycleSummary], tags=["cycles"],
            responses=ERROR_RESPONSES, summary="The unit's cycles, one per year")
async def list_cycles(unit_id: UnitId, request: Request, ctx: Ctx) -> list[CycleSummary]:
    await _authorized_unit(request, ctx, unit_id, "cycles.read")
    async with ctx.db.read() as session:
        return [CycleSummary.model_validate(r) for r in await store.list_unit_cycles(session=session,
                                                                                      unit_id=unit_id)]


class WorklistItem(BaseModel):
    """One dossier of a worklist: the cycle's state, what it awaits and who holds the unit."""

    unit_id: str
    unit_name: str
    area_code: str
    kind: str
    year: int
    state: str
    awaits: Awaits | None
    late: bool
    submitted_at: datetime | None = None
    appraised_at: datetime | None = None
    rating: str | None = None


@router.get("/cycles", response_model=Page[WorklistItem], tags=["cycles"], responses=ERROR_RESPONSES,
            summary="A year's dossiers and what each awaits (limited to the caller's area or unit)")
async def list_worklist(
    request: Request, ctx: Ctx, paging: PageQuery,
    year: Annotated[int | None, Query(ge=2000, le=2200, description="default: the current assessment year")] = None,
    area_code: AreaCode = None,
    state: Annotated[CycleState | None, Query()] = None,
    awaits: Annotated[Awaits | None, Query(description="the next step the dossier waits for")] = None,
) -> Page[WorklistItem]:
    principal = _scoped_reader(request, "cycles.read")
    _check_area(area_code)
    after = paging.after(str, str)  # (unit name, unit_id)
    states: list[str] | None = None
    if awaits is not None:
        states = [s for s in states_awaiting(awaits) if state is None or s == state]
    elif state is not None:
        states = [state]
    areas = [a for a in (area_code, principal.area if principal.role == "officer" else None) if a]
    async with ctx.db.read() as session:
        rows = await store.list_worklist(session=session, year=year or assessment_year_of(ctx.now()),
                                         area_codes=areas, states=states,
                                         unit_id=principal.unit if principal.role == "unit" else None,
                                         after=after, limit=paging.probe)
    items = [WorklistItem(unit_id=c.unit_id, unit_name=name, area_code=area, kind=c.kind, year=c.year,
                          state=c.state, awaits=AWAITS[c.state], late=c.late, submitted_at=c.submitted_at,
                          appraised_at=c.appraisal.appraised_at if c.appraisal else None,
                          rating=c.decision.rating if c.decision else None)
             for c, name, area in rows]
    return paging.page(items, lambda i: (i.unit_name, i.unit_id), probed=True)


WorkboardShow = Literal["all", "not_registered", "awaiting_appraisal", "awaiting_decision", "disqualified"]
_AWAITING_STATES: dict[str, list[str]] = {"awaiting_appraisal": list(states_awaiting("appraisal")),
                                          "awaiting_decision": list(states_awaiting("decision"))}


class WorkboardRow(BaseModel):
    """One in-scope unit of the area and its dossier for the year (no cycle: not registered)."""

    unit_id: str
    unit_name: str
    kind: str
    area_code: str
    managing_level: str
    year: int
    state: str | None = Field(description="the cycle's state; null when the unit is not registered for the year")
    awaits: str | None = Field(description='the next step: "registration" when not registered, then the '
                               "cycle's (self_assessment, submission, appraisal, decision); null when decided")
    disqualified: bool = Field(description="a disqualifying incident stands for the year")
    late: bool = False
    rating: str | None = None
    criteria_met: int | None = None
    criteria_total: int | None = None
    updated_at: datetime | None = None


class WorkboardCounts(BaseModel):
    year: int
    all: int
    not_registered: int
    awaiting_appraisal: int
    awaiting_decision: int
    disqualified: int


def _board_areas(request: Request, area_code: str | None) -> tuple[Principal, list[str]]:
    """The caller and the areas the board covers: the one asked for (default the officer's own), within scope."""
    principal = POLICY.require_caller(bearer_principal(request), "cycles.workboard")
    _check_area(area_code)
    if area_code is None and principal.role == "officer":
        area_code = principal.area
    POLICY.authorize(principal, "cycles.workboard", area=area_code)
    return principal, [a for a in (area_code, principal.area if principal.role == "officer" else None) if a]


@router.get("/workboard", response_model=Page[WorkboardRow], tags=["cycles"], responses=ERROR_RESPONSES,
            summary="The year's workboard: every active in-scope unit of the area with its dossier state and what "
                    "it awaits, keyset-paged by unit name (officers: within their area)")
async def workboard(
    request: Request, ctx: Ctx, paging: PageQuery,
    year: Annotated[int | None, Query(ge=2000, le=2200, description="default: the current assessment year")] = None,
    area_code: AreaCode = None,
    show: Annotated[WorkboardShow, Query(description="which rows: all, not_registered (no cycle this year), "
                                         "awaiting_appraisal, awaiting_decision, disqualified (a "
                                         "disqualifying incident this year)")] = "all",
    kind: UnitKind | None = None,
    q: Annotated[str | None, Query(max_length=200, description="words of the name, key or address")] = None,
) -> Page[WorkboardRow]:
    _, areas = _board_areas(request, area_code)
    after = paging.after(str, str)  # (unit name, unit_id)
    year = year or assessment_year_of(ctx.now())
    async with ctx.db.read() as session:
        rows = await store.list_workboard(session=session, year=year, area_codes=areas, show=show,
                                          states_for=_AWAITING_STATES, kind=kind, q=q, after=after,
                                          limit=paging.probe)
    items = [WorkboardRow(unit_id=r["unit_id"], unit_name=r["name"], kind=r["kind"], area_code=r["area_code"],
                          managing_level=r["managing_level"], year=year, state=r["state"],
                          awaits=("registration" if r["state"] is None else AWAITS[r["state"]]),
                          disqualified=bool(r["disqualified"]), late=bool(r["late"]), rating=r["rating"],
                          criteria_met=r["criteria_met"], criteria_total=r["criteria_total"],
                          updated_at=r["updated_at"]) for r in rows]
    return paging.page(items, lambda i: (i.unit_name, i.unit_id), probed=True)


@router.get("/workboard/counts", response_model=WorkboardCounts, tags=["cycles"], responses=ERROR_RESPONSES,
            summary="How many units of the area each workboard filter holds")
async def workboard_counts(
    request: Request, ctx: Ctx,
    year: Annotated[int | None, Query(ge=2000, le=2200, description="default: the current assessment year")] = None,
    area_code: AreaCode = None,
    kind: UnitKind | None = None,
) -> WorkboardCounts:
    _, areas = _board_areas(request, area_code)
    year = year or assessment_year_of(ctx.now())
    async with ctx.db.read() as session:
        counts = await store.workboard_counts(session=session, year=year, area_codes=areas,
                                              states_for=_AWAITING_STATES, kind=kind)
    return WorkboardCounts(year=year, **counts)


@router.get("/units/{unit_id}/cycles/{year}", response_model=CycleOut, tags=["cycles"], responses=ERROR_RESPONSES,
            summary="The unit's cycle for a year, with the steps allowed next")
async def get_cycle(unit_id: UnitId, year: Year, request: Request, ctx: Ctx) -> CycleOut:
    await _authorized_unit(request, ctx, unit_id, "cycles.read")
    async with ctx.db.read() as session:
        cycle = await store.get_cycle(session=session, unit_id=unit_id, year=year)
    if cycle is None:
        raise NotFound(f"the unit has no cycle for {year}", code="cycle_not_found",
                       details={"unit_id": unit_id, "year": year, "allowed": ["register"]})
    return CycleOut.of(cycle)


@router.put("/units/{unit_id}/cycles/{year}/criteria/{criterion}", response_model=CycleOut, tags=["cycles"],
            responses=ERROR_RESPONSES, summary="Record one criterion's result with evidence references")
async def put_criterion(unit_id: UnitId, year: Year, criterion: Annotated[str, Path(max_length=50)],
                        body: CriterionBody, request: Request, ctx: Ctx) -> CycleOut:
    step = handlers.step_criterion(year, criterion, body.result, body.evidence, body.note)
    return await _cycle_command(request, ctx, unit_id, year, "cycles.score", step)


@router.post("/units/{unit_id}/cycles/{year}/self-assessment", response_model=CycleOut, tags=["cycles"],
             responses=ERROR_RESPONSES, summary="Close the self-scoring (UnitSelfAssessed)")
async def post_self_assessment(unit_id: UnitId, year: Year, request: Request, ctx: Ctx,
                               body: Annotated[SelfAssessmentBody | None, Body()] = None) -> CycleOut:
    results = {k: v.model_dump() for k, v in (body.results or {}).items()} if body and body.results else None
    return await _cycle_command(request, ctx, unit_id, year, "cycles.score", handlers.step_self_assess(year, results))


@router.post("/units/{unit_id}/cycles/{year}/submit", response_model=CycleOut, tags=["cycles"],
             responses=ERROR_RESPONSES, summary="Send the dossier to the police")
async def post_submit(unit_id: UnitId, year: Year, request: Request, ctx: Ctx) -> CycleOut:
    return await _cycle_command(request, ctx, unit_id, year, "cycles.submit", handlers.step_submit(year))


@router.post("/units/{unit_id}/cycles/{year}/appraisal", response_model=CycleOut, tags=["cycles"],
             responses=ERROR_RESPONSES, summary="Police appraisal (UnitAppraised)")
async def post_appraisal(unit_id: UnitId, year: Year, body: AppraisalBody, request: Request, ctx: Ctx) -> CycleOut:
    return await _cycle_command(request, ctx, unit_id, year, "cycles.appraise",
                                handlers.step_appraise(year, body.recommended, body.note))


@router.post("/units/{unit_id}/cycles/{year}/decision", response_model=CycleOut, tags=["cycles"],
             responses=ERROR_RESPONSES,
             summary="People's Committee decision (UnitCertified or CertificationDenied)")
async def post_decision(unit_id: UnitId, year: Year, body: DecisionBody, request: Request, ctx: Ctx) -> CycleOut:
    step = handlers.step_decide(year, body.recognized, body.decision_no, body.rating, body.note,
                                decider_area=_decider_area(request), decided_on=body.decided_on)
    return await _cycle_command(request, ctx, unit_id, year, "cycles.decide", step, needs_recognised=True)


@router.post("/units/{unit_id}/cycles/{year}/revocation", response_model=CycleOut, tags=["cycles"],
             responses=ERROR_RESPONSES, summary="Revoke a recognition (CertificationRevoked)")
async def post_revocation(unit_id: UnitId, year: Year, body: RevocationBody, request: Request, ctx: Ctx) -> CycleOut:
    return await _cycle_command(request, ctx, unit_id, year, "cycles.revoke", handlers.step_revoke(year, body.reason))


# --- evidence ------------------------------------------------------------------------------------------------------
class EvidenceOut(BaseModel):
    """One evidence document of a criterion (the bytes: GET .../evidence/{evidence_id})."""

    evidence_id: str
    unit_id: str
    year: int
    criterion: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str

    @classmethod
    def of(cls, item: Evidence) -> EvidenceOut:
        return cls.model_validate(item.model_dump(exclude={"storage_key"}))


class EvidenceList(BaseModel):
    items: list[EvidenceOut]
    accepted: list[str] = Field(description="the names of the accepted file types")
    max_bytes: int = Field(description="the largest file accepted")


def _scored_criterion(cycle: Cycle, code: str) -> None:
    framework = framework_by_code(cycle.framework_code, kind=cycle.kind)
    criterion = framework.criterion(code)
    if criterion is None:
        raise NotFound(f"criterion {code} is not in framework {framework.code}", code="criterion_not_found",
                       details={"known": [c.code for c in framework.criteria]})
    if criterion.derived is not None:
        raise Invalid(f"criterion {code} follows from the year's incidents and takes no evidence",
                      code="criterion_derived")


EVIDENCE_STATES = ("registered", "in_progress")  # while the unit still scores its dossier


EVIDENCE_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "PDF, image, DOCX, XLSX"}}}}}}}


@router.post("/units/{unit_id}/cycles/{year}/criteria/{criterion}/evidence", status_code=201,
             response_model=EvidenceOut, tags=["evidence"], openapi_extra=EVIDENCE_FORM,
             responses=ERROR_RESPONSES | {413: {"description": "the request body is too large"}},
             summary="Upload one evidence document for a criterion of the year's dossier (multipart `file`)")
async def post_evidence(unit_id: UnitId, year: Year, criterion: Annotated[str, Path(max_length=50)],
                        request: Request, ctx: Ctx) -> EvidenceOut:
    # The caller is authorised before the body is parsed: a stranger's upload is never spooled.
    principal, _ = await _authorized_unit(request, ctx, unit_id, "evidence.upload")
    try:
        form = await request.form(max_files=1, max_fields=5)
    except StarletteHTTPException as exc:
        raise Invalid("the body is not a multipart form with one file", code="invalid_form") from exc
    file = form.get("file")
    if not isinstance(file, StarletteUpload):
        raise Invalid("the form has no `file` part", code="file_required")
    rules = ctx.evidence_rules
    async with ctx.db.read() as session:
        cycle = await store.get_cycle(session=session, unit_id=unit_id, year=year)
        if cycle is None:
            raise NotFound(f"the unit has no cycle for {year}", code="cycle_not_found",
                           details={"unit_id": unit_id, "year": year, "allowed": ["register"]})
        already = len(await store.list_evidence(session=session, unit_id=unit_id, year=year, criterion=criterion))
    _scored_criterion(cycle, criterion)
    if cycle.state not in EVIDENCE_STATES:
        raise Conflict(f"the dossier is {cycle.state.replace('_', ' ')}: evidence can no longer be added",
                       code="dossier_closed", details={"state": cycle.state})
    filename = clean_filename(file.filename)
    data = await file.read(rules.max_bytes + 1)
    kind = check_evidence(rules, filename=filename, content_type=file.content_type, size=len(data),
                          head=data[:64], already=already)
    blob = await ctx.evidence_storage.put(data)
    item = Evidence(evidence_id=str(uuid.uuid4()), unit_id=unit_id, year=year, criterion=criterion,
                    filename=filename, content_type=kind.content_type, size=blob.size, sha256=blob.sha256,
                    storage_key=blob.key, uploaded_at=ctx.now(), uploaded_by=_actor(principal))
    async with ctx.db.unit_of_work() as uow:
        await store.insert_evidence(session=uow.session, item=item)
    return EvidenceOut.of(item)


@router.get("/units/{unit_id}/cycles/{year}/evidence", response_model=EvidenceList, tags=["evidence"],
            responses=ERROR_RESPONSES, summary="The evidence documents of the year's dossier, by criterion")
async def list_evidence(unit_id: UnitId, year: Year, request: Request, ctx: Ctx,
                        criterion: Annotated[str | None, Query(max_length=50)] = None) -> EvidenceList:
    await _authorized_unit(request, ctx, unit_id, "evidence.read")
    rules = ctx.evidence_rules
    async with ctx.db.read() as session:
        items = await store.list_evidence(session=session, unit_id=unit_id, year=year, criterion=criterion)
    return EvidenceList(items=[EvidenceOut.of(i) for i in items], accepted=rules.accepted,
                        max_bytes=rules.max_bytes)


@router.get("/units/{unit_id}/cycles/{year}/evidence/{evidence_id}", tags=["evidence"], response_class=Response,
            responses=ERROR_RESPONSES | {200: {"content": {"application/octet-stream": {}}}},
            summary="Download one evidence document (always as an attachment)")
async def get_evidence(unit_id: UnitId, year: Year, evidence_id: Annotated[str, Path(max_length=64)],
                       request: Request, ctx: Ctx) -> Response:
    await _authorized_unit(request, ctx, unit_id, "evidence.read")
    async with ctx.db.read() as session:
        item = await store.get_evidence(session=session, unit_id=unit_id, year=year, evidence_id=evidence_id)
    if item is None:
        raise NotFound("no such evidence document", code="evidence_not_found")
    try:
        data = await ctx.evidence_storage.get(item.storage_key)
    except (FileNotFoundError, KeyError) as exc:
        raise NotFound("the document's file is missing from storage", code="evidence_missing") from exc
    return Response(data, media_type=item.content_type, headers={
        "Content-Disposition": f"attachment; filename=\"{item.evidence_id}\"",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "X-Content-SHA256": item.sha256})


# --- incidents and activities --------------------------------------------------------------------------------------
@router.post("/units/{unit_id}/incidents", status_code=201, response_model=IncidentOut, tags=["incidents"],
             responses=ERROR_RESPONSES,
             summary="Record an incident (IncidentRecorded; CertificationRevoked if it undoes a recognition)")
async def post_incident(unit_id: UnitId, body: IncidentIn, request: Request, ctx: Ctx) -> IncidentOut:
    principal, unit = await _authorized_unit(request, ctx, unit_id, "incidents.create")
    async with ctx.db.unit_of_work() as uow:
        before = await store.get_cycle(session=uow.session, unit_id=unit_id,
                                       year=assessment_year_of(body.occurred_at)) \
            if body.occurred_at.tzinfo else None
        incident, cycle = await handlers.record_incident_cmd(
            unit, uow, category=body.category, occurred_at=body.occurred_at, source="http", now=ctx.now(),
            actor=_step_actor(principal), reference=body.reference, description=body.description)
    return _incident_out(incident, before, cycle)


IncidentId = Annotated[str, Path(min_length=1, max_length=200)]


@router.post("/units/{unit_id}/incidents/{incident_id}/confirmation", response_model=IncidentOut,
             tags=["incidents"], responses=ERROR_RESPONSES,
             summary="Confirm an agency's incident report (IncidentConfirmed; CertificationRevoked if it undoes a "
                     "recognition)")
async def post_incident_confirmation(unit_id: UnitId, incident_id: IncidentId, request: Request,
                                     ctx: Ctx) -> IncidentOut:
    principal, unit = await _authorized_unit(request, ctx, unit_id, "incidents.confirm")
    async with ctx.db.unit_of_work() as uow:
        found = await store.get_incident(session=uow.session, incident_id=incident_id)
        before = await store.get_cycle(session=uow.session, unit_id=unit_id, year=found.year) if found else None
        incident, cycle = await handlers.confirm_incident_cmd(unit, incident_id, uow, now=ctx.now(),
                                                              actor=_step_actor(principal))
    return _incident_out(incident, before, cycle)


@router.post("/units/{unit_id}/incidents/{incident_id}/withdrawal", response_model=IncidentOut,
             tags=["incidents"], responses=ERROR_RESPONSES,
             summary="Withdraw an incident recorded by mistake (IncidentWithdrawn; CertificationRestored if it alone "
                     "had revoked the recognition)")
async def post_incident_withdrawal(unit_id: UnitId, incident_id: IncidentId, body: WithdrawalBody,
                                   request: Request, ctx: Ctx) -> IncidentOut:
    principal, unit = await _authorized_unit(request, ctx, unit_id, "incidents.withdraw")
    async with ctx.db.unit_of_work() as uow:
        found = await store.get_incident(session=uow.session, incident_id=incident_id)
        before = await store.get_cycle(session=uow.session, unit_id=unit_id, year=found.year) if found else None
        incident, cycle = await handlers.withdraw_incident_cmd(unit, incident_id, uow, reason=body.reason,
                                                               now=ctx.now(), actor=_step_actor(principal))
    return _incident_out(incident, before, cycle)


@router.get("/units/{unit_id}/incidents", response_model=Page[Incident], tags=["incidents"],
            responses=ERROR_RESPONSES, summary="A unit's incidents, oldest first")
async def list_incidents(unit_id: UnitId, request: Request, ctx: Ctx, paging: PageQuery, year: int | None = None,
                         status: Annotated[IncidentState | None, Query(
                             description="pending | confirmed | withdrawn")] = None) -> Page[Incident]:
    await _authorized_unit(request, ctx, unit_id, "incidents.read")
    after = paging.after(datetime, str)  # (occurred_at, incident_id)
    async with ctx.db.read() as session:
        rows = await store.list_incidents(session=session, unit_id=unit_id, year=year, after=after,
                                          limit=paging.probe, status=status)
    return paging.page(rows, lambda i: (i.occurred_at, i.incident_id), probed=True)


@router.post("/units/{unit_id}/activities", status_code=201, response_model=Activity, tags=["activities"],
             responses=ERROR_RESPONSES, summary="Report a movement activity (ActivityReported)")
async def post_activity(unit_id: UnitId, body: ActivityFields, request: Request, ctx: Ctx) -> Activity:
    _, unit = await _authorized_unit(request, ctx, unit_id, "activities.create")
    async with ctx.db.unit_of_work() as uow:
        return await handlers.report_activity_cmd(unit, body, uow, now=ctx.now())


@router.get("/units/{unit_id}/activities", response_model=Page[Activity], tags=["activities"],
            responses=ERROR_RESPONSES, summary="A unit's activities, oldest first")
async def list_activities(unit_id: UnitId, request: Request, ctx: Ctx, paging: PageQuery,
                          year: int | None = None) -> Page[Activity]:
    await _authorized_unit(request, ctx, unit_id, "activities.read")
    after = _held_on_cursor(paging.after(str, str))
    async with ctx.db.read() as session:
        rows = await store.list_activities(session=session, unit_id=unit_id, year=year, after=after,
                                           limit=paging.probe)
    return paging.page(rows, lambda a: (a.held_on.isoformat(), a.activity_id), probed=True)


def _held_on_cursor(after: tuple[Any, ...] | None) -> tuple[date, str] | None:
    """The (held_on, activity_id) a page of activities continues after: `paging.after` knows no plain dates, so
    the day comes as its ISO text."""
    if after is None:
        return None
    try:
        return date.fromisoformat(after[0]), after[1]
    except ValueError as exc:
        raise Invalid("cursor is not valid", code="invalid_cursor") from exc


class FigureOut(BaseModel):
    code: str
    vi: str
    en: str
    type: str
    unit: str = Field(description="what the figure counts (person, item, plan…)")
    required: bool
    default: int | str | None = Field(description="a number, or the figure whose value it takes")
    min: int
    max: int


class ActivityKindOut(BaseModel):
    code: str
    vi: str
    en: str
    retired_on: date | None = None
    figures: list[FigureOut]


class ActivityKindList(BaseModel):
    version: str = Field(description="the activity-kinds version in force today")
    valid_from: date
    items: list[ActivityKindOut]


@router.get("/activity-kinds", response_model=ActivityKindList, tags=["activities"],
            summary="The activity kinds a unit reports and the figures each carries (public)")
async def list_activity_kinds(ctx: Ctx) -> ActivityKindList:
    POLICY.authorize(None, "activity_kinds.read")
    version = load_activity_kinds().in_force(local_date(ctx.now()))
    return ActivityKindList(version=version.version, valid_from=version.valid_from, items=[
        ActivityKindOut.model_validate(spec.public(code)) for code, spec in version.kinds.items()])


# --- history import ------------------------------------------------------------------------------------------------
@router.post("/history/import", response_model=HistoryReport, tags=["history"], responses=ERROR_RESPONSES,
             summary="Import past years' results and awards held (text/csv or application/x-ndjson), idempotent",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"description": "CSV text with a header row"}},
                 "application/x-ndjson": {"schema": {"description": "one JSON object a line"}}}}})
async def import_history(
    request: Request, ctx: Ctx,
    dry_run: Annotated[bool, Query(description="check every row and report, record nothing")] = False,
    rows: Annotated[Literal["all", "rejected", "none"], Query(description="which rows the report lists")] = "all",
) -> HistoryReport:
    principal = _scoped_reader(request, "history.import")
    if principal.role == "officer" and principal.area is not None and "." in principal.area:
        raise Forbidden("past years are imported by the province's officers", code="province_officers_only",
                        details={"area": principal.area})
    records = handlers.parse_records(await request.body(), request.headers.get("content-type"))
    keep = {"all": lambda _: True, "rejected": lambda r: r.status == "rejected", "none": lambda _: False}[rows]
    return await handlers.import_history(ctx.db, records, now=ctx.now(), actor=_step_actor(principal),
                                         guard=_guard(principal, "history.import"), dry_run=dry_run,
                                         chunk_rows=ctx.import_chunk_rows, keep_rows=keep)


class PastRecognitionOut(BaseModel):
    year: int
    recognized: bool
    decision_no: str
    decided_on: date | None = None
    decided_by_level: str
    rating: str | None = None
    imported_at: datetime
    imported_by: str


class PastAwardOut(BaseModel):
    award_type: str
    recipient_kind: str
    recipient_ref: str
    recipient_name: str | None = None
    year: int
    decision_no: str
    decided_on: date | None = None
    imported_at: datetime
    imported_by: str


class UnitPast(BaseModel):
    unit_id: str
    recognitions: list[PastRecognitionOut]
    awards: list[PastAwardOut]


@router.get("/units/{unit_id}/past", response_model=UnitPast, tags=["history"], responses=ERROR_RESPONSES,
            summary="The unit's imported past results and the awards it and its people held before antq")
async def unit_past(unit_id: UnitId, request: Request, ctx: Ctx) -> UnitPast:
    await _authorized_unit(request, ctx, unit_id, "history.read")
    async with ctx.db.read() as session:
        recognitions, awards = await store.list_past(session=session, unit_id=unit_id)
    return UnitPast(unit_id=unit_id, recognitions=[PastRecognitionOut.model_validate(r) for r in recognitions],
                    awards=[PastAwardOut.model_validate(a) for a in awards])


# --- audit ---------------------------------------------------------------------------------------------------------
class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str = Field(description="unit_id/year")
    reason: str | None = None
    details: dict[str, Any]
    hash: str
    prev_hash: str


@router.get("/audit", response_model=Page[AuditEntryOut], tags=["audit"], responses=ERROR_RESPONSES,
            summary="The hash-chained trail of cycle commands, oldest first (admins)")
async def list_audit(
    request: Request, ctx: Ctx, paging: PageQuery,
    unit_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2200, description="with unit_id")] = None,
    action: Annotated[str | None, Query(max_length=100, description="e.g. cycles.decide")] = None,
) -> Page[AuditEntryOut]:
    POLICY.authorize(bearer_principal(request), "audit.read")
    if year is not None and unit_id is None:
        raise Invalid("year filters the trail of one unit: give unit_id too", details={"field": "year"})
    after = paging.after(int)  # (seq,)
    target = f"{unit_id}/{year}" if unit_id is not None and year is not None else unit_id
    async with ctx.db.read() as session:
        rows = await store.list_audit(session=session, target_prefix=target, action=action,
                                      after=after[0] if after else None, limit=paging.probe)
    return paging.page([AuditEntryOut.model_validate({**r, "details": json.loads(r["details"])}) for r in rows],
                       lambda e: (e.seq,), probed=True)


# --- statistics ----------------------------------------------------------------------------------------------------
@router.get("/stats", response_model=Stats, tags=["stats"], responses=ERROR_RESPONSES,
            summary="The report figures by year, area (hierarchical) and kind")
async def get_stats(request: Request, response: Response, ctx: Ctx,
                    year: Annotated[int | None, Query(ge=2000, le=2200)] = None, area_code: AreaCode = None,
                    kind: UnitKind | None = None) -> Stats:
    """The nation's and a province's figures come from a snapshot shared by every replica, at most
    `ANTQ_UNITS_STATS_MAX_AGE` seconds old (`computed_at` says when they were computed); a commune's are computed
    for the request."""
    principal = POLICY.require(bearer_principal(request), "stats.read")  # 401/403 before the area is looked at
    _check_area(area_code)
    if principal is not None and principal.role in ("officer", "leader") and principal.area and area_code is None:
        area_code = principal.area
    POLICY.authorize(principal, "stats.read", area=area_code)
    now = ctx.now()
    query = StatsQuery(year=year or assessment_year_of(now), area_code=area_code, kind=kind)
    stats = await handlers.stats_cmd(ctx.db, query, now=now, max_age=ctx.stats_max_age)
    # A caller's cache may keep a snapshot for what is left of its max age (private: the figures are per caller's
    # scope); figures computed for each request (a commune's, or with snapshots off) are asked for again.
    shared = ctx.stats_max_age > 0 and handlers.stats_snapshotted(query) and stats.computed_at is not None
    left = ctx.stats_max_age - (now - stats.computed_at).total_seconds() if shared and stats.computed_at else 0
    response.headers["Cache-Control"] = f"private, max-age={int(left)}" if left >= 1 else "private, no-cache"
    return stats


# --- batches -------------------------------------------------------------------------------------------------------
class BatchBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=2000, le=2200)
    area_code: str = Field(min_length=1, max_length=80,
                           description="the commune (or province) whose units the batch holds; others fail")


class BatchUnits(BatchBase):
    unit_ids: list[str] = Field(min_length=1)


class SelfAssessmentItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: str
    results: dict[str, CriterionBody] | None = None


class BatchSelfAssessments(BatchBase):
    items: list[SelfAssessmentItem] = Field(min_length=1)


class AppraisalItem(AppraisalBody):
    unit_id: str


class BatchAppraisals(BatchBase):
    items: list[AppraisalItem] = Field(min_length=1)


class DecisionItem(DecisionBody):
    unit_id: str


class BatchDecisions(BatchBase):
    items: list[DecisionItem] = Field(min_length=1)


class BatchItemError(BaseModel):
    status: int
    code: str
    message: str
    details: Any = None


class BatchItemResult(BaseModel):
    unit_id: str
    ok: bool
    state: str | None = None
    error: BatchItemError | None = None


class BatchResult(BaseModel):
    total: int
    succeeded: int
    failed: int
    items: list[BatchItemResult]


async def _batch(request: Request, ctx: UnitsContext, body: BatchBase, items: list[tuple[str, CycleCommand]],
                 action: str, **kw: Any) -> Response:
    """Run a batch of one cycle command (`action`, as the audit trail names it); the result (declared as
    `BatchResult`) is serialised once here, not validated again."""
    POLICY.require(bearer_principal(request), "batches.run")  # 401/403 before the body's area is looked at
    _check_area(body.area_code)
    principal = POLICY.authorize(bearer_principal(request), "batches.run", area=body.area_code)
    assert principal is not None
    if len(items) > ctx.batch_max_items:
        raise Invalid(f"at most {ctx.batch_max_items} items per batch", code="batch_too_large")
    async with ctx.db.unit_of_work() as uow:
        results: list[ItemResult] = await handlers.run_cycle_step(
            uow, items=items, year=body.year, now=ctx.now(), actor=_step_actor(principal), action=action,
            guard=_guard(principal, "batches.run", body.area_code), **kw)
    out = [BatchItemResult.model_validate(r.as_dict()) for r in results]
    ok = sum(1 for r in out if r.ok)
    result = BatchResult(total=len(out), succeeded=ok, failed=len(out) - ok, items=out)
    return Response(content=result.model_dump_json(), media_type="application/json")


@router.post("/batches/registrations", response_model=BatchResult, tags=["batches"], responses=ERROR_RESPONSES,
             summary="Register many units of one area for a year")
async def batch_registrations(body: BatchUnits, request: Request, ctx: Ctx) -> Response:
    step = handlers.step_register(body.year)
    return await _batch(request, ctx, body, [(u, step) for u in body.unit_ids], "cycles.register", creates=True,
                        needs_incidents=True)


@router.post("/batches/self-assessments", response_model=BatchResult, tags=["batches"], responses=ERROR_RESPONSES,
             summary="Record the self-assessments of many units of one area")
async def batch_self_assessments(body: BatchSelfAssessments, request: Request, ctx: Ctx) -> Response:
    items: list[tuple[str, CycleCommand]] = [
        (i.unit_id, handlers.step_self_assess(body.year, {k: v.model_dump() for k, v in (i.results or {}).items()}
                                              or None)) for i in body.items]
    return await _batch(request, ctx, body, items, "cycles.score")


@router.post("/batches/submissions", response_model=BatchResult, tags=["batches"], responses=ERROR_RESPONSES,
             summary="Submit the dossiers of many units of one area")
async def batch_submissions(body: BatchUnits, request: Request, ctx: Ctx) -> Response:
    step = handlers.step_submit(body.year)
    return await _batch(request, ctx, body, [(u, step) for u in body.unit_ids], "cycles.submit")


@router.post("/batches/appraisals", response_model=BatchResult, tags=["batches"], responses=ERROR_RESPONSES,
             summary="Appraise many units of one commune; each item its own result and UnitAppraised")
async def batch_appraisals(body: BatchAppraisals, request: Request, ctx: Ctx) -> Response:
    items: list[tuple[str, CycleCommand]] = [
        (i.unit_id, handlers.step_appraise(body.year, i.recommended, i.note)) for i in body.items]
    return await _batch(request, ctx, body, items, "cycles.appraise")


@router.post("/batches/decisions", response_model=BatchResult, tags=["batches"], responses=ERROR_RESPONSES,
             summary="Decide many units of one commune; each item its own result and event")
async def batch_decisions(body: BatchDecisions, request: Request, ctx: Ctx) -> Response:
    items: list[tuple[str, CycleCommand]] = [
        (i.unit_id, handlers.step_decide(body.year, i.recognized, i.decision_no, i.rating, i.note,
                                         decider_area=_decider_area(request), decided_on=i.decided_on))
        for i in body.items]
    return await _batch(request, ctx, body, items, "cycles.decide", needs_recognised=True)

