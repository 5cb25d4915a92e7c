"""Tips HTTP routes: validate, authorise, call a handler, nothing else.

Attachments travel with the tip in one multipart request, `POST /tips/with-attachments` (a `tip` part holding
the same JSON as `POST /tips`, and `files` parts), so a tip and its files are accepted or refused together and
no second credential is needed to add files later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile as StarletteUpload

from services.tips import handlers, store
from services.tips.context import TipsContext
from services.tips.handlers import (
    AREA_PATTERN,
    CloseTip,
    ExtendTip,
    IncomingFile,
    OfficerMessage,
    SubmitTip,
    TriageTip,
    VerifyTip,
)
from services.tips.policy import POLICY
from shared.areas import AREA_CODE_MAX_LENGTH, check_known_area, serves_intake_desk
from shared.auth import Principal
from shared.calendar import assessment_instants, assessment_period, assessment_year_of
from shared.contracts.events import Priority, TipChannel, UnitKind
from shared.deps import MaybeCaller, PageQuery, Paging, context
from shared.errors import Invalid, safe_details
from shared.http import ERROR_RESPONSES, Page, bearer_principal
from shared.ratelimit import RateLimiter

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store"}
JSON_BODY_LIMIT = 256 * 1024
MULTIPART_OVERHEAD = 1024 * 1024


# --- plumbing ------------------------------------------------------------------------------------------------------
Ctx = Annotated[TipsContext, Depends(context)]


async def submit_limit(request: Request, ctx: Ctx) -> None:  # async: FastAPI runs a plain def in a thread
    """Public intake is limited per client address. Officers entering tips for reporters work from one station
    address, so a valid officer or admin token is limited per person instead (a bad token is 401)."""
    principal = bearer_principal(request)  # verified once per request, kept in request.state
    if principal is not None and principal.role in POLICY.rule("tips.submit_for_reporter").grants:
        ctx.limits.staff_submit.check(RateLimiter.key_of(f"{principal.role}:{principal.sub}"))
    else:
        ctx.limits.submit(request)


async def follow_up_limit(request: Request, ctx: Ctx) -> None:  # async: FastAPI runs a plain def in a thread
    ctx.limits.follow_up(request)


# --- response models -------------------------------------------------------------------------------------------------
class CategoryOut(BaseModel):
    code: str
    label_vi: str
    label_en: str
    urgent: bool


class CategoriesOut(BaseModel):
    version: str
    effective_from: str | None
    categories: list[CategoryOut]


class Jwks(BaseModel):
    keys: list[dict[str, Any]] = Field(description="Public EC P-256 keys (use enc, alg ECDH-ES), current first")


class TipAccepted(BaseModel):
    tip_id: str
    receipt: str = Field(description="Shown once; the reporter's only key. Only its argon2 hash is stored.")
    received_at: datetime


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt: str = Field(min_length=1, max_length=100)


class ReporterMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=5000)


class TimelineStep(BaseModel):
    step: str
    at: datetime
    outcome: str | None = None


class PublicMessage(BaseModel):
    message_id: str
    author: str
    text: str
    created_at: datetime


class FollowUpOut(BaseModel):
    tip_id: str
    status: str
    category: str
    category_label_vi: str
    category_label_en: str
    received_at: datetime
    outcome: str | None
    timeline: list[TimelineStep]
    messages: list[PublicMessage]
    can_reply: bool


class MessagePosted(BaseModel):
    message_id: str


class TipSummary(BaseModel):
    tip_id: str
    status: str
    category: str
    priority: str
    channel: str
    area_code: str | None
    unit_id: str | None
    assigned_area: str | None
    assigned_officer: str | None
    anonymous: bool
    received_at: datetime
    outcome: str | None
    valuable: bool | None
    deadline: str | None = Field(description="The running deadline, if any")
    due_at: datetime | None
    overdue: bool


class EscalationOut(BaseModel):
    level: Literal["province", "national"]
    to_area: str | None = Field(description="the area whose officers it went to; none: the national desk")
    escalated_at: datetime


class DeadlineOut(BaseModel):
    deadline: str
    started_at: datetime
    due_at: datetime
    approaching_at: datetime
    ended_at: datetime | None
    overdue: bool


class ExtensionOut(BaseModel):
    ordinal: int
    requested_at: datetime
    reason: str
    due_at: datetime


class OfficerMessageOut(BaseModel):
    message_id: str
    author: str
    internal: bool
    author_sub: str | None
    text: str
    created_at: datetime


class AttachmentOut(BaseModel):
    attachment_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    url: str


class DuplicateOut(BaseModel):
    tip_id: str
    score: float
    reasons: list[str]
    status: str
    url: str


class RevealRecord(BaseModel):
    by: str = Field(description="the token subject of the person who revealed the reporter's identity")
    role: str
    at: datetime
    reason: str | None


class TipDetail(TipSummary):
    description: str
    location: str | None
    location_unknown: bool
    occurred_at: datetime | None
    categories_version: str | None
    confidentiality_requested: bool
    protection_requested: bool
    has_identity: bool
    triaged_at: datetime | None
    verification_started_at: datetime | None
    decided_at: datetime | None
    closed_at: datetime | None
    suspension_reason: str | None
    duplicate_of: str | None
    allowed_actions: list[str]
    deadlines: list[DeadlineOut]
    escalations: list[EscalationOut] = Field(description="an urgent tip's escalations while it awaited triage")
    escalation_level: Literal["province", "national"] | None = Field(description="the level it last went up to")
    extensions: list[ExtensionOut]
    messages: list[OfficerMessageOut]
    attachments: list[AttachmentOut]
    duplicates: list[DuplicateOut]
    reveals: list[RevealRecord] = Field(description="every reveal of the reporter's identity, oldest first "
                                                    "(from the audit trail)")


class DuplicateConfirmed(BaseModel):
    tip_id: str
    other_id: str
    status: str


class RevealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=10, max_length=2000, description="Why the identity is needed (audited)")


class RevealedIdentity(BaseModel):
    tip_id: str
    anonymous: bool
    reporter: dict[str, Any] | None
    on_behalf_of: dict[str, Any] | None


# --- public ----------------------------------------------------------------------------------------------------------
@router.get("/categories", response_model=CategoriesOut, tags=["public"],
            summary="The versioned list of tip categories (public)")
async def get_categories(ctx: Ctx) -> CategoriesOut:
    POLICY.authorize(None, "tips.categories")
    cats = ctx.categories
    return CategoriesOut(version=cats.version, effective_from=cats.effective_from,
                         categories=[CategoryOut(**c.model_dump()) for c in cats.categories])


@router.get("/.well-known/jwks.json", response_model=Jwks, tags=["public"], responses=ERROR_RESPONSES,
            summary="The public keys agencies seal a forwarded tip's reporter_jwe to (public), current first")
async def jwks(ctx: Ctx) -> JSONResponse:
    POLICY.authorize(None, "tips.inbound_keys")
    return JSONResponse(ctx.inbound_keys().jwks(), headers={"Cache-Control": "public, max-age=300"})


def accepted_response(accepted: handlers.Accepted) -> JSONResponse:
    # The receipt is shown once; it is never logged and only its hash is stored.
    body = TipAccepted(tip_id=accepted.tip_id, receipt=accepted.receipt, received_at=accepted.received_at)
    return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=NO_STORE)


@router.post("/tips", status_code=202, response_model=TipAccepted, tags=["public"],
             summary="Submit a tip (public; anonymous allowed)", responses=ERROR_RESPONSES,
             dependencies=[Depends(submit_limit)])
async def post_tip(body: SubmitTip, ctx: Ctx) -> JSONResponse:
    POLICY.authorize(None, "tips.submit")
    accepted = await handlers.submit_tip(body, ctx=ctx, channel="api")
    return accepted_response(accepted)


async def read_uploads(uploads: list[StarletteUpload] | list[UploadFile], ctx: TipsContext) -> list[IncomingFile]:
    """The uploaded files, reading no more than the rules allow (a file over its limit is cut at limit + 1)."""
    rules = ctx.attachment_rules
    if len(uploads) > rules.max_files:
        raise Invalid("attachments break the limits", code="attachment_rejected", details={
            "problems": [{"problem": "too_many_files", "count": len(uploads), "max": rules.max_files}],
            "rules_version": rules.version})
    per_file = max(rules.max_file_bytes, rules.max_video_bytes) + 1
    files = []
    for upload in uploads:
        if not upload.filename and not upload.size:
            continue  # an empty file input in a browser form
        data = await upload.read(per_file)
        files.append(IncomingFile(filename=upload.filename or "file", content_type=upload.content_type or "",
                                  data=data))
    return files


@router.post("/tips/with-attachments", status_code=202, response_model=TipAccepted, tags=["public"],
             summary="Submit a tip with attachments, multipart (public; anonymous allowed)",
             responses=ERROR_RESPONSES | {413: {"description": "the request body is too large"}},
             dependencies=[Depends(submit_limit)])
async def post_tip_with_attachments(
        ctx: Ctx,
        tip: Annotated[str, Form(min_length=1, description="The same JSON object as the body of POST /tips")],
        files: Annotated[list[UploadFile], File(default_factory=list, description="Images, video, documents")],
) -> JSONResponse:
    POLICY.authorize(None, "tips.submit")
    try:
        cmd = SubmitTip.model_validate_json(tip)
    except ValidationError as exc:
        raise Invalid("the tip part does not match the schema", details=safe_details(exc, prefix=("tip",))) from None
    incoming = await read_uploads(files or [], ctx)
    accepted = await handlers.submit_tip(cmd, ctx=ctx, channel="api", files=incoming)
    return accepted_response(accepted)


@router.post("/tips/follow-up", response_model=FollowUpOut, tags=["public"],
             summary="A tip's status, public timeline and messages, by receipt (public)",
             responses=ERROR_RESPONSES, dependencies=[Depends(follow_up_limit)])
async def post_follow_up(body: ReceiptIn, ctx: Ctx) -> JSONResponse:
    POLICY.authorize(None, "tips.follow_up")
    view = await handlers.follow_up(body.receipt, ctx=ctx)
    return JSONResponse(FollowUpOut.model_validate(view).model_dump(mode="json"), headers=NO_STORE)


@router.post("/tips/follow-up/messages", status_code=201, response_model=MessagePosted, tags=["public"],
             summary="Write to the officers handling a tip, by receipt (public)",
             responses=ERROR_RESPONSES, dependencies=[Depends(follow_up_limit)])
async def post_follow_up_message(body: ReporterMessageIn, ctx: Ctx) -> JSONResponse:
    POLICY.authorize(None, "tips.reporter_message")
    message_id = await handlers.post_reporter_message(body.receipt, body.text, ctx=ctx)
    return JSONResponse({"message_id": message_id}, status_code=201, headers=NO_STORE)


# --- officers --------------------------------------------------------------------------------------------------------
QueueSort = Literal["received", "deadline"]


class QueueCounts(BaseModel):
    """How many tips of the (filtered) queue each filter value covers."""

    total: int
    status: dict[str, int] = Field(description="per state, and `open` (received, triaged or verifying)")
    priority: dict[str, int]
    channel: dict[str, int]
    assigned: dict[str, int] = Field(description="`me` (assigned to the caller) and `none` (unassigned)")
    deadline: dict[str, int] = Field(description="`overdue`, and `due_soon`: a running deadline due within "
                                                 "`soon_days` days, not passed yet")
    soon_days: int


async def queue_filter(
        caller: MaybeCaller,
        ctx: Ctx,
        status: Annotated[str | None, Query(max_length=32, description="a state, or `open` (received, triaged "
                                                                       "or verifying)")] = None,
        category: Annotated[str | None, Query(max_length=64)] = None,
        area_code: Annotated[str | None, Query(max_length=AREA_CODE_MAX_LENGTH, pattern=AREA_PATTERN)] = None,
        overdue: Annotated[bool | None, Query(description="a running legal deadline has passed (or not)")] = None,
        priority: Priority | None = None,
        channel: TipChannel | None = None,
        assigned: Annotated[Literal["me", "none"] | None,
                            Query(description="`me`: assigned to the caller; `none`: unassigned")] = None,
        due_within_days: Annotated[int | None, Query(ge=0, le=366, description=(
            "a running deadline not passed yet falls within this many days"))] = None,
) -> tuple[Principal, store.QueueFilter]:
    """The queue's filters and the caller, authorised: an officer sees their own area (and below) only."""
    principal = POLICY.require_caller(caller, "tips.list")
    check_known_area(area_code)
    if area_code is not None:
        POLICY.authorize(principal, "tips.list", area=area_code)
    scope = None if principal.role == "admin" else principal.area
    return principal, store.QueueFilter(
        now=ctx.now(), scope=scope, officer=principal.sub, status=status, category=category,
        area_code=area_code, overdue=overdue, priority=priority, channel=channel, assigned=assigned,
        due_within_days=due_within_days, intake_desk=serves_intake_desk(principal.area, ctx.intake_desk))


def _deadline_after(paging: Paging) -> tuple[str, datetime, str] | None:
    """A `sort=deadline` cursor: [phase, instant, tip id], phase "due" (by due time) or "none" (no deadline)."""
    after = paging.after(str, datetime, str)
    if after is not None and after[0] not in ("due", "none"):
        raise Invalid("cursor is not valid", code="invalid_cursor")
    return after


def _deadline_key(tip: TipSummary) -> tuple[str, datetime, str]:
    return ("due", tip.due_at, tip.tip_id) if tip.due_at is not None else ("none", tip.received_at, tip.tip_id)


@router.get("/tips", response_model=Page[TipSummary], tags=["tips"], responses=ERROR_RESPONSES,
            summary="The officer queue, scoped to the officer's area: newest first, or nearest deadline first")
async def list_tips(
        ctx: Ctx,
        queue: Annotated[tuple[Principal, store.QueueFilter], Depends(queue_filter)],
        paging: PageQuery,
        sort: Annotated[QueueSort, Query(description=(
            "`received`: newest first; `deadline`: the nearest running legal deadline first, then the tips "
            "without one (decided, closed) newest first"))] = "received",
) -> Page[TipSummary]:
    _, f = queue
    async with ctx.db.read() as session:
        if sort == "deadline":
            rows = await store.list_tips_by_deadline(session=session, limit=paging.limit,
                                                     after=_deadline_after(paging), f=f)
        else:
            rows = await store.list_tips(session=session, limit=paging.limit,
                                         after=paging.after(datetime, str), f=f)
    items = [TipSummary.model_validate(handlers.tip_summary(r, f.now)) for r in rows]
    if sort == "deadline":
        return paging.page(items, _deadline_key, probed=True)
    return paging.page(items, lambda tip: (tip.received_at, tip.tip_id), probed=True)


@router.get("/tips/counts", response_model=QueueCounts, tags=["tips"], responses=ERROR_RESPONSES,
            summary="How many tips of the queue (with the same filters as GET /tips) each filter value covers")
async def queue_counts(
        ctx: Ctx,
        queue: Annotated[tuple[Principal, store.QueueFilter], Depends(queue_filter)],
        soon_days: Annotated[int, Query(ge=0, le=366, description="the horizon of `deadline.due_soon`")] = 5,
) -> QueueCounts:
    _, f = queue
    async with ctx.db.read() as session:
        counts = await store.queue_counts(session=session, f=f, soon_days=soon_days)
    return QueueCounts(soon_days=soon_days, **counts)


class TipStats(BaseModel):
    """The tips figures of the police reports for one assessment year (16 Nov of Y-1 to 15 Nov of Y, Vietnam
    time, by the time a tip was received), an area and optionally a category. Counts only."""

    year: int
    area_code: str | None
    category: str | None
    kind: UnitKind | None
    period: dict[str, str] = Field(description="first and last day of the assessment year")
    received: int
    anonymous: int
    with_unit: int = Field(description="tips naming a unit")
    by_unit_kind: dict[str, int] = Field(description="tips naming a unit, by its kind (unknown: not registered)")
    by_category: dict[str, int]
    by_channel: dict[str, int]
    by_priority: dict[str, int]
    by_area: dict[str, int] = Field(description="one level below area_code: provinces, or communes of a province")
    by_status: dict[str, int] = Field(description="where the year's tips stand now")
    verified: int = Field(description="tips whose verification said valuable or not")
    valuable: int
    valuable_rate: float | None
    valuable_by_category: dict[str, int]
    by_outcome: dict[str, int]
    overdue_now: int = Field(description="a legal deadline is running and has passed")
    missed_deadline: int = Field(description="tips that passed a legal deadline at some point")
    missed_by_deadline: dict[str, int]


@router.get("/stats", response_model=TipStats, tags=["tips"], responses=ERROR_RESPONSES,
            summary="Report figures: received, by category and area, valuable, overdue (counts only)")
async def get_stats(
        caller: MaybeCaller,
        ctx: Ctx,
        year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
        area_code: Annotated[str | None, Query(pattern=AREA_PATTERN)] = None,
        category: Annotated[str | None, Query(max_length=64)] = None,
        kind: Annotated[UnitKind | None, Query(description="only tips naming a unit of this kind")] = None,
) -> TipStats:
    principal = POLICY.require_caller(caller, "tips.stats")
    check_known_area(area_code)
    if area_code is None and principal.role in ("officer", "leader"):
        area_code = principal.area  # an officer's (a leader's) own area by default
    POLICY.authorize(principal, "tips.stats", area=area_code)
    now = ctx.now()
    year = year or assessment_year_of(now)
    start, end = assessment_instants(year)
    first, last = assessment_period(year)
    async with ctx.db.read() as session:
        figures = await store.report_figures(session=session, start=start, end=end, now=now, scope=area_code,
                                             category=category, unit_kind=kind)
    return TipStats(year=year, area_code=area_code, category=category, kind=kind,
                    period={"from": first.isoformat(), "to": last.isoformat()}, **figures)


@router.get("/tips/{tip_id}", response_model=TipDetail, tags=["tips"], responses=ERROR_RESPONSES,
            summary="One tip with its deadlines, messages, internal notes, attachments and likely duplicates")
async def get_tip(tip_id: str, caller: MaybeCaller, ctx: Ctx) -> JSONResponse:
    principal = POLICY.require_caller(caller, "tips.read")
    async with ctx.db.unit_of_work() as uow:
        detail = await handlers.tip_detail(tip_id, uow, principal=principal, ctx=ctx, now=ctx.now())
    return JSONResponse(TipDetail.model_validate(detail).model_dump(mode="json"), headers=NO_STORE)


async def _summary(ctx: TipsContext, tip_id: str) -> TipSummary:
    async with ctx.db.read() as session:
        row = await store.get_tip_row(session=session, tip_id=tip_id)
    assert row is not None
    return TipSummary.model_validate(handlers.tip_summary(row, ctx.now()))


@router.post("/tips/{tip_id}/triage", response_model=TipSummary, tags=["tips"], responses=ERROR_RESPONSES,
             summary="Forward (triage) a tip: category, priority, assigned area and officer")
async def post_triage(tip_id: str, body: TriageTip, caller: MaybeCaller, ctx: Ctx) -> TipSummary:
    principal = POLICY.require_caller(caller, "tips.triage")
    async with ctx.db.unit_of_work() as uow:
        await handlers.triage_tip(tip_id, body, uow, principal=principal, ctx=ctx, now=ctx.now())
    return await _summary(ctx, tip_id)


@router.post("/tips/{tip_id}/begin-verification", response_model=TipSummary, tags=["tips"],
             responses=ERROR_RESPONSES, summary="Start verifying a triaged tip")
async def post_begin_verification(tip_id: str, caller: MaybeCaller, ctx: Ctx) -> TipSummary:
    principal = POLICY.require_caller(caller, "tips.begin_verification")
    async with ctx.db.unit_of_work() as uow:
        await handlers.begin_verification_of(tip_id, uow, principal=principal, ctx=ctx, now=ctx.now())
    return await _summary(ctx, tip_id)


@router.post("/tips/{tip_id}/verify", response_model=TipSummary, tags=["tips"], responses=ERROR_RESPONSES,
             summary="Record the decision (prosecuted / not / suspended) or dismissal, and whether it was valuable")
async def post_verify(tip_id: str, body: VerifyTip, caller: MaybeCaller, ctx: Ctx) -> TipSummary:
    principal = POLICY.require_caller(caller, "tips.verify")
    async with ctx.db.unit_of_work() as uow:
        await handlers.verify_tip(tip_id, body, uow, principal=principal, ctx=ctx, now=ctx.now())
    return await _summary(ctx, tip_id)


@router.post("/tips/{tip_id}/extend", response_model=TipSummary, tags=["tips"], responses=ERROR_RESPONSES,
             summary="Extend the decide period (at least 5 days before it expires; twice at most)")
async def post_extend(tip_id: str, body: ExtendTip, caller: MaybeCaller, ctx: Ctx) -> TipSummary:
    principal = POLICY.require_caller(caller, "tips.extend")
    async with ctx.db.unit_of_work() as uow:
        await handlers.extend_tip(tip_id, body, uow, principal=principal, ctx=ctx, now=ctx.now())
    return await _summary(ctx, tip_id)


@router.post("/tips/{tip_id}/close", response_model=TipSummary, tags=["tips"], responses=ERROR_RESPONSES,
             summary="Close a decided or dismissed tip")
async def post_close(tip_id: str, caller: MaybeCaller, ctx: Ctx, body: CloseTip | None = None) -> TipSummary:
    principal = POLICY.require_caller(caller, "tips.close")
    async with ctx.db.unit_of_work() as uow:
        await handlers.close_tip(tip_id, body or CloseTip(), uow, principal=principal, ctx=ctx, now=ctx.now())
    return await _summary(ctx, tip_id)


@router.post("/tips/{tip_id}/messages", status_code=201, response_model=MessagePosted, tags=["tips"],
             responses=ERROR_RESPONSES,
             summary="Reply to the reporter (read with the receipt) or keep an internal note (internal: true)")
async def post_officer_message(tip_id: str, body: OfficerMessage, caller: MaybeCaller, ctx: Ctx) -> MessagePosted:
    principal = POLICY.require_caller(caller, "tips.officer_message")
    async with ctx.db.unit_of_work() as uow:
        message_id = await handlers.post_officer_message(tip_id, body, uow, principal=principal, ctx=ctx,
                                                         now=ctx.now())
    return MessagePosted(message_id=message_id)


@router.post("/tips/{tip_id}/duplicates/{other_id}/confirm", response_model=DuplicateConfirmed, tags=["tips"],
             responses=ERROR_RESPONSES, summary="Confirm that two tips report the same thing")
async def post_confirm_duplicate(tip_id: str, other_id: str, caller: MaybeCaller, ctx: Ctx) -> DuplicateConfirmed:
    principal = POLICY.require_caller(caller, "tips.confirm_duplicate")
    async with ctx.db.unit_of_work() as uow:
        await handlers.confirm_duplicate(tip_id, other_id, uow, principal=principal, ctx=ctx, now=ctx.now())
    return DuplicateConfirmed(tip_id=tip_id, other_id=other_id, status="confirmed")


@router.post("/tips/{tip_id}/reporter", response_model=RevealedIdentity, tags=["tips"], responses=ERROR_RESPONSES,
             summary="Reveal the reporter's identity (admin, or officer of the tip's area; reason required; audited)")
async def post_reveal(tip_id: str, body: RevealIn, caller: MaybeCaller, ctx: Ctx) -> JSONResponse:
    principal = POLICY.require_caller(caller, "tips.reveal_reporter")
    async with ctx.db.unit_of_work() as uow:
        identity = await handlers.reveal_reporter(tip_id, body.reason, uow, principal=principal, ctx=ctx,
                                                  now=ctx.now())
        row = await store.get_tip_row(session=uow.session, tip_id=tip_id)
    assert row is not None
    out = RevealedIdentity(tip_id=tip_id, anonymous=row["anonymous"], reporter=identity.get("reporter"),
                           on_behalf_of=identity.get("on_behalf_of"))
    return JSONResponse(out.model_dump(mode="json"), headers=NO_STORE)


@router.get("/tips/{tip_id}/attachments/{attachment_id}", tags=["tips"], response_class=Response,
            responses=ERROR_RESPONSES | {200: {"description": "the file", "content": {"application/octet-stream": {}}}},
            summary="Download an attachment (audited)")
async def get_attachment(tip_id: str, attachment_id: str, caller: MaybeCaller, ctx: Ctx) -> Response:
    principal = POLICY.require_caller(caller, "tips.read_attachment")
    async with ctx.db.unit_of_work() as uow:
        meta, data = await handlers.read_attachment(tip_id, attachment_id, uow, principal=principal, ctx=ctx,
                                                    now=ctx.now())
    return Response(data, media_type=meta["content_type"], headers={
        "Content-Disposition": f"attachment; filename=\"{meta['attachment_id']}\"", "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store", "X-Content-SHA256": meta["sha256"]})
