"""Awards HTTP routes: validate, authorise, call a handler, nothing else."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from services.awards import handlers, store
from services.awards.context import AwardsContext
from services.awards.domain import Award, Nomination, RuleSet, qr_svg, rules_in_force
from services.awards.domain.certificates import ANTQ_CONTEXT, ANTQ_CONTEXT_PATH
from services.awards.policy import POLICY, authorize_level
from shared.areas import AREA_CODE_PATTERN, check_known_area
from shared.auth import Principal
from shared.calendar import local_date
from shared.contracts.instants import BoundedDate
from shared.deps import context
from shared.errors import DomainError, Invalid, NotFound
from shared.http import (
    ERROR_RESPONSES,
    LIMIT_SCHEMA,
    Page,
    bearer_principal,
    clamp_limit,
    decode_cursor,
    encode_cursor,
)
from shared.webpages import html_page, stylesheet

router = APIRouter()
Ctx = Annotated[AwardsContext, Depends(context)]

AREA_PATTERN = AREA_CODE_PATTERN  # shared/areas.py: the same codes in every service
PENDING = ("proposed", "reviewed")
# The statuses of an award that stands (an annulled one no longer counts); `held`: imported, decided before antq.
COMMENDED = ("approved", "granted", "held")
AREA_SCOPED = frozenset({"officer", "leader"})  # roles whose lists and figures are limited to their token's area
_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_TEMPLATES = Environment(loader=FileSystemLoader(_TEMPLATE_DIR), autoescape=select_autoescape(["html"]))


# --- helpers -------------------------------------------------------------------------------------------------------
def _caller(request: Request, action: str) -> Principal:
    """Authenticate and check the role (the scope is checked once the resource's area is known)."""
    return POLICY.require_caller(bearer_principal(request), action)


def _scope_check(principal: Principal, action: str) -> handlers.AwardCheck:
    """The policy's scope for one award: its area and, once the service knows it, its recipient's area now.

    The recipient's area comes from the units events, never from a caller: an award whose stored area is not its
    recipient's (its unit moved, or it was proposed before areas were derived) is decided only by someone whose
    scope covers both."""
    def check(award: Award, recipient_area: str | None = None) -> None:
        unit = award.recipient_ref if award.recipient_kind == "unit" else None
        POLICY.authorize(principal, action, area=award.area_code, unit=unit)
        if recipient_area is not None and recipient_area != award.area_code:
            POLICY.authorize(principal, action, area=recipient_area, unit=unit)
    return check


def _actor(principal: Principal) -> handlers.Actor:
    return handlers.Actor(principal.sub, principal.role)


# --- models --------------------------------------------------------------------------------------------------------
class AwardOut(BaseModel):
    award_id: str
    award_type: str
    recipient_kind: str
    recipient_ref: str
    recipient_name: str | None = None
    year: int
    basis: list[str]
    level: str
    area_code: str | None
    province_code: str | None
    rule_version: str
    evidence: list[str]
    origin: str
    status: str
    allowed_actions: list[str]
    proposed_at: datetime
    review_due_at: datetime
    overdue: bool
    reviewed_at: datetime | None
    decision_no: str | None
    approved_by_level: str | None
    approved_at: datetime | None
    certificate_id: str | None
    granted_at: datetime | None
    reason: str | None
    closed_at: datetime | None
    updated_at: datetime


class AuditStepOut(BaseModel):
    at: datetime
    actor: str
    role: str
    action: str
    reason: str | None
    details: dict[str, Any]
    hash: str


class QuotaOut(BaseModel):
    scope: Literal["province", "area"] = Field(description="whether the ceiling counts the province or the area")
    used: int = Field(description="approved or granted awards of the same type and year in that scope (this one "
                                  "excluded)")
    limit: int | None = Field(description="the ceiling of the rules in force; None when unlimited")
    left: int | None = Field(description="places left; None when unlimited")


class AwardDetail(AwardOut):
    nomination: dict[str, Any] | None = None
    audit: list[AuditStepOut]
    quota: QuotaOut | None = Field(default=None, description="the quota an approval draws on (from the rules in "
                                                              "force); null for an award type no longer in them")
    decided_on: date | None = Field(default=None, description="the date the approving decision bears, as given "
                                                               "with the approval")
    tip_outcome: dict[str, Any] | None = Field(
        default=None, description="a tip reporter's reward: the verification it rests on ({outcome, valuable, "
                                  "verified_on}); the tip itself is not named")


def _award_out(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    award = store.award_from_row(row)
    return {**award.model_dump(), "basis": list(award.basis), "evidence": list(award.evidence),
            "recipient_name": None if award.recipient_kind == "reporter" else row.get("recipient_name"),
            "allowed_actions": award.allowed_actions, "overdue": award.review_overdue(now)}


class NominationIn(BaseModel):
    """A manual nomination. For the commemorative medal give `category`, `gender`, `service_started_on` and the
    evidence of the years of service (document references)."""

    model_config = ConfigDict(extra="forbid")

    award_type: str = Field(min_length=1, max_length=64)
    recipient_kind: Literal["unit", "person"]
    recipient_ref: str = Field(min_length=1, max_length=200, description="unit id, or the person's staff reference")
    recipient_name: str | None = Field(default=None, max_length=500)
    year: int = Field(ge=2000, le=2200)
    area_code: str | None = Field(
        default=None, pattern=AREA_PATTERN,
        description="a person's area (it must lie in the nominator's), when omitted the area of the person's latest "
                    "award (422 area_code_required if none). A unit's area is always the one the service knows from "
                    "the units events: omit it, or repeat it exactly (422 area_mismatch otherwise; 422 "
                    "unit_not_known before the unit's registration has reached the service)")
    proposer: Literal["unit", "police", "commune", "province"] = "police"
    level: str | None = Field(default=None, max_length=32)
    basis: list[str] = Field(default_factory=list, max_length=50)
    evidence: list[str] = Field(default_factory=list, max_length=50)
    category: str | None = Field(default=None, max_length=64)
    gender: Literal["male", "female"] | None = None
    service_started_on: date | None = None
    prior_commendations: list[str] = Field(default_factory=list, max_length=50)
    serious_incident_in_unit: bool = False
    standing: list[str] = Field(default_factory=list, max_length=10)
    justification: str | None = Field(
        default=None, max_length=2000,
        description="why a unit that misses the collective rule should have the award: required for an exception "
                    "(rules with allows_exception), shown to the approver in `nomination.exception`")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision_no: str = Field(min_length=1, max_length=200)
    level: str | None = Field(default=None, max_length=32, description="defaults to the proposal's level")
    note: str | None = Field(default=None, max_length=2000)
    standing: list[str] | None = Field(
        default=None, max_length=10,
        description="a person's standing at approval, e.g. [\"prosecuted\"] or [\"disciplined\"] ([] for none); "
                    "when omitted, the standing given at nomination is checked again")
    decided_on: BoundedDate | None = Field(default=None, description="the date the decision bears (recorded in "
                                                                      "the audit trail; the award's `decided_on`)")


class BatchApproveIn(BaseModel):
    """One decision approving several proposals (a decision lists every recipient it commends)."""

    model_config = ConfigDict(extra="forbid")
    award_ids: list[str] = Field(min_length=1, max_length=500)
    decision_no: str = Field(min_length=1, max_length=200)
    decided_on: BoundedDate | None = None
    note: str | None = Field(default=None, max_length=2000)


class BatchApproveItem(BaseModel):
    award_id: str
    ok: bool
    status: str | None = Field(default=None, description="the award's status after the call (when readable)")
    error: dict[str, Any] | None = Field(default=None, description="the refusal, as the single approval would "
                                                                   "answer it: {status, code, message, details}")


class BatchApproveOut(BaseModel):
    approved: int
    refused: int
    items: list[BatchApproveItem]


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class CertificateOut(BaseModel):
    certificate_id: str
    award_id: str
    status: Literal["valid", "revoked", "invalid"]
    reason: str
    message: str
    kid: str
    issued_at: datetime
    revoked_at: datetime | None
    verify_url: str
    jws: str = Field(description="the compact JWS (EdDSA/Ed25519) whose payload is the credential")
    credential: dict[str, Any]


class VerifyIn(BaseModel):
    certificate: str | dict[str, Any] = Field(
        description="the compact JWS, or the JSON of GET /certificates/{id} ({jws, credential, ...})")


class VerifyOut(BaseModel):
    status: Literal["valid", "revoked", "invalid"]
    reason: str
    message: str
    certificate_id: str | None
    kid: str | None
    credential: dict[str, Any] | None


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt: str = Field(min_length=1, max_length=200)


class ClaimOut(BaseModel):
    reward_status: str = Field(description="proposed | reviewed | approved | rejected | granted | annulled | "
                                           "not_eligible")
    award_type: str | None
    year: int | None
    decision_no: str | None
    certificate_id: str | None
    updated_at: datetime


class Counts(BaseModel):
    """Counts by current status: `approved` are the awards standing now (approved or granted, so an annulled
    award is not counted as commended), `granted` those whose certificate was issued and not annulled."""

    proposed: int = Field(default=0, description="every award proposed in antq (any status but held)")
    pending: int = Field(default=0, description="proposed or reviewed")
    approved: int = Field(default=0, description="commended now: status approved, granted or held")
    held: int = Field(default=0, description="awards decided before antq, from the history import")
    granted: int = Field(default=0, description="status granted")
    rejected: int = 0
    annulled: int = 0


COLLECTIVE_KINDS = frozenset({"unit"})  # collectives; persons and reporters of valuable tips are individuals


class StatsOut(BaseModel):
    year: int | None
    area_code: str | None
    totals: Counts
    by_type: dict[str, Counts]
    by_level: dict[str, Counts]
    by_area: dict[str, Counts]
    by_year: dict[str, Counts]
    by_recipient_kind: dict[str, Counts] = Field(default_factory=dict,
                                                 description="by recipient kind: unit, person, reporter")
    collectives: Counts = Field(default_factory=Counts, description="awards to units")
    individuals: Counts = Field(default_factory=Counts, description="awards to persons and to tip reporters")


class CertificationFact(BaseModel):
    unit_id: str
    year: int
    certified: bool
    revoked: bool
    rating: str | None
    decision_no: str | None
    consecutive_years: int | None
    certified_event_id: str | None
    revoked_event_id: str | None


class Jwks(BaseModel):
    keys: list[dict[str, Any]]


# --- awards --------------------------------------------------------------------------------------------------------
@router.get("/awards", response_model=Page[AwardOut], tags=["awards"], responses=ERROR_RESPONSES,
            summary="List awards (officers within their area; a unit its own)")
async def list_awards(
    request: Request,
    ctx: Ctx,
    status: Literal["proposed", "reviewed", "approved", "rejected", "granted", "annulled", "held"] | None = None,
    year: int | None = Query(default=None, ge=2000, le=2200),
    recipient_kind: Literal["unit", "person", "reporter"] | None = None,
    award_type: str | None = Query(default=None, max_length=64),
    area_code: str | None = Query(default=None, pattern=AREA_PATTERN),
    recipient_ref: str | None = Query(default=None, max_length=200),
    overdue: bool | None = Query(default=None, description="only pending awards past their review deadline"),
    level: list[str] | None = Query(default=None, max_length=8,
                                    description="only awards decided at these levels (repeat the parameter)"),
    pending: bool | None = Query(default=None, description="only awards awaiting a decision (proposed or "
                                                           "reviewed)"),
    limit: int | None = Query(default=None, json_schema_extra=LIMIT_SCHEMA),
    cursor: str | None = None,
) -> Page[AwardOut]:
    principal = _caller(request, "awards.read")
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    if after is not None and (not isinstance(after, int) or not 0 <= after < 2**63):
        raise Invalid("cursor is not valid", code="invalid_cursor")
    now = ctx.now()
    within: list[str] = []
    check_known_area(area_code)
    if area_code is not None:
        POLICY.authorize(principal, "awards.read", area=area_code, unit=principal.unit)
        within.append(area_code)
    if principal.role in AREA_SCOPED and principal.area is not None:
        within.append(principal.area)
    where = store.AwardFilter(
        within=tuple(within), collective_only=principal.role == "unit", unit=principal.unit, status=status, year=year,
        recipient_kind=recipient_kind, award_type=award_type, recipient_ref=recipient_ref,
        levels=tuple(v[:32] for v in level or ()), pending=pending, overdue=overdue)
    async with ctx.db.read() as session:
        rows = await store.list_awards(session=session, where=where, now=now, before=after, limit=size + 1)
    more = len(rows) > size
    rows = rows[:size]
    return Page[AwardOut](items=[AwardOut.model_validate(_award_out(r, now)) for r in rows],
                          next_cursor=encode_cursor(rows[-1]["seq"]) if more else None)


@router.get("/awards/{award_id}", response_model=AwardDetail, tags=["awards"], responses=ERROR_RESPONSES,
            summary="One award with the audit trail of its steps (who, when, why)")
async def get_award(award_id: str, request: Request, ctx: Ctx) -> AwardDetail:
    principal = _caller(request, "awards.read")
    async with ctx.db.read() as session:
        row = await store.get_award_row(session=session, award_id=award_id)
        if row is None:
            raise NotFound("no such award", details={"award_id": award_id})
        _scope_check(principal, "awards.read")(store.award_from_row(row), None)
        entries = await store.audit_of(session=session, target=award_id)
        audit = [AuditStepOut(at=e["at"], actor=e["actor"], role=e["role"], action=e["action"], reason=e["reason"],
                              details=json.loads(e["details"]), hash=e["hash"]) for e in entries]
        try:
            quota = await handlers.quota_of(store.award_from_row(row), session, now=ctx.now())
        except NotFound:  # the award's type is not in the rules in force any more
            quota = None
        tip_outcome = await store.tip_outcome_of_reward(session=session, reward_ref=row["recipient_ref"]) \
            if row["recipient_kind"] == "reporter" else None
    out = _award_out(row, ctx.now())
    decided = [s.details.get("decided_on") for s in audit if s.action == "award.approve"]
    return AwardDetail.model_validate({**out, "audit": audit, "quota": quota, "tip_outcome": tip_outcome,
                                       "decided_on": decided[-1] if decided else None,
                                       "nomination": json.loads(row["nomination"]) if row["nomination"] else None})


async def _detail(request: Request, ctx: AwardsContext, award_id: str) -> AwardDetail:
    return await get_award(award_id, request, ctx)


async def _unit_area(ctx: AwardsContext, unit_id: str) -> str:
    """A unit's area as the service knows it from the units events (422 unit_not_known before its registration
    has reached the service)."""
    async with ctx.db.read() as session:
        known = await store.recipient_area(session=session, recipient_kind="unit", recipient_ref=unit_id)
    if known is None:
        raise Invalid("the awards service has not learnt this unit's area yet (from its registration)",
                      code="unit_not_known", details={"unit_id": unit_id})
    return known


async def _person_area(ctx: AwardsContext, body: NominationIn) -> str:
    """A person's area: the one given, else the area of the person's latest award (422 when neither)."""
    if body.area_code is not None:
        check_known_area(body.area_code)
        return body.area_code
    async with ctx.db.read() as session:
        known = await store.recipient_area(session=session, recipient_kind=body.recipient_kind,
                                           recipient_ref=body.recipient_ref)
    if known is None:
        raise Invalid("area_code is required: the awards service knows no area for this recipient",
                      code="area_code_required",
                      details={"field": "area_code", "loc": ["body", "area_code"],
                               "recipient_kind": body.recipient_kind, "recipient_ref": body.recipient_ref})
    return known


async def _nomination_area(ctx: AwardsContext, principal: Principal, body: NominationIn) -> str:
    """Authorise a nomination and return the award's area: the recipient's, which must lie in the nominator's.

    A unit's token proposes only its own unit (the domain's "the grassroots unit … proposes" a collective award);
    its people are nominated through the police, who hold the dossier of their years of service and standing."""
    unit = body.recipient_ref if body.recipient_kind == "unit" else None
    if principal.role == "unit":
        # The policy's unit scope: the recipient must be the token's unit (a person has no unit here: refused).
        POLICY.authorize(principal, "awards.nominate", unit=unit)
        if "proposer" in body.model_fields_set and body.proposer != "unit":
            raise Invalid("a unit's token proposes as the unit", code="proposer_mismatch",
                          details={"field": "proposer", "loc": ["body", "proposer"], "expected": "unit"})
    area_code = await (_unit_area(ctx, unit) if unit is not None else _person_area(ctx, body))
    POLICY.authorize(principal, "awards.nominate", area=area_code, unit=unit)
    if unit is not None and body.area_code is not None and body.area_code != area_code:
        # Older clients repeat the unit's area; none may choose another (checked after the scope, so that the
        # answer tells the unit's area only to whoever may nominate there).
        raise Invalid("area_code is not the unit's area", code="area_mismatch",
                      details={"field": "area_code", "loc": ["body", "area_code"], "expected": area_code})
    return area_code


@router.post("/awards", status_code=201, response_model=AwardDetail, tags=["awards"], responses=ERROR_RESPONSES,
             summary="Nominate manually (e.g. the commemorative medal with years of service as evidence)")
async def post_award(body: NominationIn, request: Request, ctx: Ctx) -> AwardDetail:
    principal = _caller(request, "awards.nominate")
    area_code = await _nomination_area(ctx, principal, body)
    proposer = "unit" if principal.role == "unit" else body.proposer
    nomination = Nomination(
        award_type=body.award_type, recipient_kind=body.recipient_kind, recipient_ref=body.recipient_ref,
        year=body.year, proposer=proposer, level=body.level, area_code=area_code,
        province_code=store.province_of(area_code), basis=tuple(body.basis), evidence=tuple(body.evidence),
        category=body.category, gender=body.gender, service_started_on=body.service_started_on,
        prior_commendations=tuple(body.prior_commendations), serious_incident_in_unit=body.serious_incident_in_unit,
        standing=tuple(body.standing), justification=body.justification)
    async with ctx.db.unit_of_work() as uow:
        award = await handlers.nominate(nomination, uow, actor=_actor(principal), now=ctx.now(),
                                        recipient_name=body.recipient_name)
    return await _detail(request, ctx, award.award_id)


@router.post("/awards/{award_id}/review", response_model=AwardDetail, tags=["awards"], responses=ERROR_RESPONSES,
             summary="Mark a proposal reviewed by the managing level (proposed → reviewed)")
async def post_review(award_id: str, request: Request, ctx: Ctx, body: ReviewIn | None = None) -> AwardDetail:
    principal = _caller(request, "awards.review")
    async with ctx.db.unit_of_work() as uow:
        await handlers.review(award_id, uow, actor=_actor(principal), now=ctx.now(),
                              note=body.note if body else None, check=_scope_check(principal, "awards.review"))
    return await _detail(request, ctx, award_id)


@router.post("/awards/{award_id}/approve", response_model=AwardDetail, tags=["awards"], responses=ERROR_RESPONSES,
             summary="Approve with a decision number (proposed or reviewed → approved; a proposal not reviewed yet "
                     "is reviewed by the approver in the same step; 409 quota_exceeded when full)")
async def post_approve(award_id: str, body: ApproveIn, request: Request, ctx: Ctx) -> AwardDetail:
    principal = _caller(request, "awards.approve")
    await _approve(ctx, principal, award_id, body)
    return await _detail(request, ctx, award_id)


async def _approve(ctx: AwardsContext, principal: Principal, award_id: str, body: ApproveIn) -> Award:
    """One approval with every check of `POST /awards/{id}/approve`, in its own transaction."""
    scope = _scope_check(principal, "awards.approve")

    def check(award: Award, recipient_area: str | None) -> None:
        scope(award, recipient_area)
        authorize_level(principal, body.level or award.level)
        if award.status == "proposed":
            # The approval records the review too: the approver must also be allowed to review it.
            POLICY.require_caller(principal, "awards.review")
            _scope_check(principal, "awards.review")(award, recipient_area)

    async with ctx.db.unit_of_work() as uow:
        return await handlers.approve(award_id, uow, actor=_actor(principal), now=ctx.now(),
                                      decision_no=body.decision_no, level=body.level, note=body.note, check=check,
                                      standing=body.standing, decided_on=body.decided_on)


@router.post("/awards/approvals", response_model=BatchApproveOut, tags=["awards"], responses=ERROR_RESPONSES,
             summary="Approve several proposals with one decision number: each as POST /awards/{id}/approve (same "
                     "checks, one transaction each), the refusals listed per award")
async def post_batch_approve(body: BatchApproveIn, request: Request, ctx: Ctx) -> BatchApproveOut:
    principal = _caller(request, "awards.approve")
    items: list[BatchApproveItem] = []
    one = ApproveIn(decision_no=body.decision_no, decided_on=body.decided_on, note=body.note)
    for award_id in dict.fromkeys(body.award_ids):
        try:
            award = await _approve(ctx, principal, award_id, one)
        except DomainError as exc:
            items.append(BatchApproveItem(award_id=award_id, ok=False, error={
                "status": exc.status, "code": exc.code, "message": exc.message, "details": exc.details}))
            continue
        items.append(BatchApproveItem(award_id=award_id, ok=True, status=award.status))
    approved = sum(1 for i in items if i.ok)
    return BatchApproveOut(approved=approved, refused=len(items) - approved, items=items)


@router.post("/awards/{award_id}/reject", response_model=AwardDetail, tags=["awards"], responses=ERROR_RESPONSES,
             summary="Reject a pending proposal with a reason")
async def post_reject(award_id: str, body: ReasonIn, request: Request, ctx: Ctx) -> AwardDetail:
    principal = _caller(request, "awards.reject")
    async with ctx.db.unit_of_work() as uow:
        await handlers.reject(award_id, uow, actor=_actor(principal), now=ctx.now(), reason=body.reason,
                              check=_scope_check(principal, "awards.reject"))
    return await _detail(request, ctx, award_id)


@router.post("/awards/{award_id}/grant", response_model=AwardDetail, tags=["awards"], responses=ERROR_RESPONSES,
             summary="Grant an approved award: issue and sign its certificate (AwardGranted)")
async def post_grant(award_id: str, request: Request, ctx: Ctx) -> AwardDetail:
    principal = _caller(request, "awards.grant")
    async with ctx.db.unit_of_work() as uow:
        await handlers.grant(award_id, uow, actor=_actor(principal), now=ctx.now(), issuer=ctx.issuer,
                             check=_scope_check(principal, "awards.grant"))
    return await _detail(request, ctx, award_id)


@router.post("/awards/{award_id}/annul", response_model=AwardDetail, tags=["awards"], responses=ERROR_RESPONSES,
             summary="Annul an approved or granted award (e.g. fraud); its certificate then verifies as revoked")
async def post_annul(award_id: str, body: ReasonIn, request: Request, ctx: Ctx) -> AwardDetail:
    principal = _caller(request, "awards.annul")
    scope = _scope_check(principal, "awards.annul")

    def check(award: Award, recipient_area: str | None) -> None:
        scope(award, recipient_area)
        authorize_level(principal, award.approved_by_level or award.level)

    async with ctx.db.unit_of_work() as uow:
        await handlers.annul(award_id, uow, actor=_actor(principal), now=ctx.now(), reason=body.reason,
                             check=check)
    return await _detail(request, ctx, award_id)


@router.get("/units/{unit_id}/certifications", response_model=list[CertificationFact], tags=["awards"],
            responses=ERROR_RESPONSES, summary="The recognitions (and revocations) the awards service holds for a unit")
async def unit_certifications(unit_id: str, request: Request, ctx: Ctx) -> list[CertificationFact]:
    principal = _caller(request, "awards.read")
    async with ctx.db.read() as session:
        unit = await store.get_unit(session=session, unit_id=unit_id)
        POLICY.authorize(principal, "awards.read", area=unit["area_code"] if unit else None, unit=unit_id)
        rows = await store.list_certifications(session=session, unit_id=unit_id)
    return [CertificationFact(unit_id=r["unit_id"], year=r["year"], certified=r["certified_event_id"] is not None,
                              revoked=r["revoked"], rating=r["rating"], decision_no=r["decision_no"],
                              consecutive_years=r["consecutive_years"], certified_event_id=r["certified_event_id"],
                              revoked_event_id=r["revoked_event_id"]) for r in rows]


# --- figures -------------------------------------------------------------------------------------------------------
@router.get("/stats", response_model=StatsOut, tags=["awards"], responses=ERROR_RESPONSES,
            summary="Figures for the dashboard: proposed, approved, granted, annulled by type, level, area, year")
async def stats(request: Request, ctx: Ctx, year: int | None = Query(default=None, ge=2000, le=2200),
                area_code: str | None = Query(default=None, pattern=AREA_PATTERN)) -> StatsOut:
    principal = _caller(request, "awards.stats")
    check_known_area(area_code)
    if area_code is None and principal.role in AREA_SCOPED:
        area_code = principal.area
    POLICY.authorize(principal, "awards.stats", area=area_code)
    out = StatsOut(year=year, area_code=area_code, totals=Counts(), by_type={}, by_level={}, by_area={}, by_year={})
    async with ctx.db.read() as session:
        rows = await store.award_counts(session=session, year=year, area_code=area_code)
    for r in rows:
        kind = r["recipient_kind"]
        buckets = [out.totals, out.by_type.setdefault(r["award_type"], Counts()),
                   out.by_level.setdefault(r["level"], Counts()),
                   out.by_area.setdefault(r["area_code"] or "unknown", Counts()),
                   out.by_year.setdefault(str(r["year"]), Counts()),
                   out.by_recipient_kind.setdefault(kind, Counts()),
                   out.collectives if kind in COLLECTIVE_KINDS else out.individuals]
        n, status = int(r["n"]), r["status"]
        for counts in buckets:
            counts.proposed += n if status != "held" else 0
            counts.held += n if status == "held" else 0
            counts.pending += n if status in PENDING else 0
            counts.approved += n if status in COMMENDED else 0
            counts.granted += n if status == "granted" else 0
            counts.rejected += n if status == "rejected" else 0
            counts.annulled += n if status == "annulled" else 0
    return out


# --- rules and keys (public) ----------------------------------------------------------------------------------------
@router.get("/rules", response_model=RuleSet, tags=["public"], responses=ERROR_RESPONSES,
            summary="The award rules in force (public): national catalogue merged with the province's overlay")
async def get_rules(ctx: Ctx,
                    province: str | None = Query(default=None, pattern=r"^[0-9]{1,4}$",
                                                 description="province code, e.g. 79; national defaults if omitted"),
                    on: date | None = Query(default=None,
                                            description="the day (default today in Vietnam)")) -> RuleSet:
    POLICY.authorize(None, "rules.read")
    return rules_in_force(province, on or local_date(ctx.now()))


@router.get("/.well-known/jwks.json", response_model=Jwks, tags=["public"], responses=ERROR_RESPONSES,
            summary="The public keys that verify certificates, current first (public)")
async def jwks(ctx: Ctx) -> JSONResponse:
    POLICY.authorize(None, "keys.read")
    return JSONResponse(ctx.issuer.keys.keyring().jwks(),
                        headers={"Cache-Control": "public, max-age=300"})


@router.get(ANTQ_CONTEXT_PATH, tags=["public"], responses={**ERROR_RESPONSES, 200: {
    "content": {"application/ld+json": {}}, "description": "the JSON-LD context"}},
            summary="The JSON-LD context of the `antq` block of certificates (public)")
async def antq_context() -> JSONResponse:
    POLICY.authorize(None, "certificates.read")
    return JSONResponse(ANTQ_CONTEXT, media_type="application/ld+json",
                        headers={"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"})


@router.get("/status/revocation/{list_no}", response_class=Response, tags=["public"], responses={
    **ERROR_RESPONSES, 200: {"content": {"application/vc+jwt": {"schema": {"type": "string"}}},
                             "description": "the signed BitstringStatusListCredential (compact JWS)"}},
            summary="A revocation status list (W3C Bitstring Status List), signed, as it stands now (public)")
async def revocation_list(ctx: Ctx, list_no: int = FastPath(ge=0, le=1_000_000)) -> Response:
    POLICY.authorize(None, "certificates.verify")
    async with ctx.db.read() as session:
        token = await handlers.revocation_list(list_no, session, issuer=ctx.issuer, now=ctx.now())
    return Response(token, media_type="application/vc+jwt",
                    headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})


# --- certificates (public) -------------------------------------------------------------------------------------------
async def _certificate(ctx: AwardsContext, certificate_id: str) -> dict[str, Any]:
    async with ctx.db.read() as session:
        row = await store.get_certificate(session=session, certificate_id=certificate_id)
        if row is None:
            raise NotFound("no such certificate", details={"certificate_id": certificate_id})
        result = await handlers.verify(row["jws"], session, keys=ctx.issuer.keys, now=ctx.now())
        award = await store.get_award_row(session=session, award_id=row["award_id"])
    return {**row, "credential": json.loads(row["credential"]), "result": result, "award": award}


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


@router.get("/certificates/{certificate_id}", response_model=CertificateOut, tags=["public"],
            responses={**ERROR_RESPONSES, 200: {"content": {"text/html": {}}}},
            summary="A certificate: the signed credential and its current status (public; HTML for browsers)")
async def get_certificate(certificate_id: str, request: Request, ctx: Ctx) -> Any:
    POLICY.authorize(None, "certificates.read")
    if _wants_html(request):
        return await print_certificate(certificate_id, ctx)
    cert = await _certificate(ctx, certificate_id)
    result = cert["result"]
    return CertificateOut(certificate_id=certificate_id, award_id=cert["award_id"], status=result.status,
                          reason=result.reason, message=result.message, kid=cert["kid"], issued_at=cert["issued_at"],
                          revoked_at=cert["revoked_at"], verify_url=ctx.issuer.verify_url(certificate_id),
                          jws=cert["jws"], credential=cert["credential"])


@router.get("/certificates/{certificate_id}/print", response_class=HTMLResponse, tags=["public"],
            responses=ERROR_RESPONSES,
            summary="The printable certificate page with a QR code of its verification link (public)")
async def print_certificate(certificate_id: str, ctx: Ctx) -> HTMLResponse:
    POLICY.authorize(None, "certificates.read")
    cert = await _certificate(ctx, certificate_id)
    credential, result = cert["credential"], cert["result"]
    achievement = credential["credentialSubject"]["achievement"]
    verify_url = ctx.issuer.verify_url(certificate_id)
    antq = credential.get("antq", {})
    authority = (antq.get("approving_authority") or {}).get("vi")
    labels = {"valid": "Còn hiệu lực / Valid", "revoked": "Đã thu hồi / Revoked", "invalid": "Không hợp lệ / Invalid"}
    html = _TEMPLATES.get_template("certificate.html").render(
        name=achievement["name"], name_en=achievement.get("description", ""),
        recipient=credential["credentialSubject"].get("name") or credential["credentialSubject"]["id"],
        criteria=achievement.get("criteria", {}).get("narrative", ""), decision_no=antq.get("decision_no"),
        authority=authority, year=antq.get("year"), issued_at=_vn_day(credential.get("validFrom")),
        issuer=credential["issuer"]["name"], certificate_id=certificate_id, kid=cert["kid"], status=result.status,
        status_label=labels[result.status], reason=cert["revoked_reason"] if result.status == "revoked" else None,
        qr=qr_svg(verify_url), verify_url=verify_url, jws=cert["jws"])
    return html_page(html)


def _vn_day(instant: str | None) -> str:
    """A credential's ISO instant as its day in Vietnam, as a certificate writes it ("03/12/2026")."""
    try:
        return local_date(datetime.fromisoformat(str(instant).replace("Z", "+00:00"))).strftime("%d/%m/%Y")
    except ValueError:
        return str(instant or "")[:10]


@router.get("/static/certificate.css", response_class=Response, tags=["public"],
            summary="The certificate page's stylesheet (public)")
async def certificate_stylesheet() -> Response:
    POLICY.authorize(None, "certificates.read")
    return stylesheet(_TEMPLATE_DIR / "certificate.css")


@router.post("/certificates/verify", response_model=VerifyOut, tags=["public"], responses=ERROR_RESPONSES,
             summary="Verify a certificate: valid, revoked or invalid, with the reason (public)")
async def verify_certificate(body: VerifyIn, ctx: Ctx) -> VerifyOut:
    POLICY.authorize(None, "certificates.verify")
    async with ctx.db.read() as session:
        result = await handlers.verify(body.certificate, session, keys=ctx.issuer.keys, now=ctx.now())
    return VerifyOut.model_validate(result.to_public())


# --- anonymous reward claims (public) ------------------------------------------------------------------------------
async def _claim_limit(request: Request, ctx: Ctx) -> None:  # async: FastAPI runs a plain def in a thread
    ctx.claim_limiter(request)


@router.post("/rewards/claim", response_model=ClaimOut, tags=["public"], responses=ERROR_RESPONSES,
             dependencies=[Depends(_claim_limit)],
             summary="The reward status of an anonymous reporter's valuable tip, by receipt (public; rate-limited)")
async def claim_reward(body: ClaimIn, ctx: Ctx) -> JSONResponse:
    POLICY.authorize(None, "rewards.claim")
    async with ctx.db.read() as session:
        found = await handlers.claim(body.receipt, session)
    return JSONResponse(ClaimOut.model_validate(found).model_dump(mode="json"),
                        headers={"Cache-Control": "no-store"})

