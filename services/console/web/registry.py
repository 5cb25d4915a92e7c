"""The officers' registry and workboard pages: search the registry, one unit's page, bulk import with its
progress and per-row report, and the year's workboard of an area with batch appraisal and decision.

Everything is read and changed through the units service's API with the person's own token: an officer's area
is enforced there (the workboard of another area is refused, units outside it are not found). Pages work
without JavaScript; the import page refreshes itself while the import runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.clients import ApiError
from services.console.context import ConsoleContext
from services.console.domain import unit_imports
from services.console.handlers import same_token
from services.console.i18n import TEXT, refusal
from services.console.tasks import start_import
from services.console.web.pages import (
    Ctx,
    PageRefused,
    Person,
    api,
    field,
    redirect,
    render,
    signed_in,
    unavailable,
    with_lang,
)
from shared import places
from shared.calendar import VN_TZ

router = APIRouter(tags=["console"])

PAGE_SIZE = 50
BOARD_SIZES = (50, 200, 500)
KINDS = ("enterprise", "school", "agency")
SHOWS = ("all", "not_registered", "awaiting_appraisal", "awaiting_decision", "disqualified")
RATINGS = ("excellent", "good", "pass")
BATCH_MAX = 500  # rows one batch sends; the units service has its own limit too


def _refusal(lang: str, exc: ApiError) -> str:
    if exc.code == "forbidden_scope":
        return TEXT[lang]["reg.outside_area"]
    if exc.status == 404:
        return TEXT[lang]["reg.unit_not_found"]
    return refusal(lang, exc.status, exc.code, exc.message, exc.details)


def _unit_refusal(lang: str, exc: ApiError) -> str:
    """A refusal of one unit's page: outside the person's area says so of the unit."""
    return TEXT[lang]["reg.unit_outside"] if exc.code == "forbidden_scope" else _refusal(lang, exc)


def area_choices(person: Person, chosen: str | None) -> list[places.Place]:
    """The areas an officer may pick: their province and its communes, their commune alone; admins any
    province (and the communes of the chosen one)."""
    own = person.account.area
    if own:
        here = places.place(own)
        if here is None:
            return []
        if "." in own:
            return [here]
        return [here, *places.communes_of(own)]
    out = list(places.provinces())
    if chosen:
        out += list(places.communes_of(chosen.split(".", 1)[0]))
    return out


def _text(value: str | None, limit: int = 200) -> str | None:
    value = (value or "").strip()[:limit]
    return value or None


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _year(value: str | None) -> int | None:
    try:
        year = int(value or "")
    except ValueError:
        return None
    return year if 2000 <= year <= 2200 else None


# --- the registry --------------------------------------------------------------------------------------------
@router.get("/units", response_class=HTMLResponse, summary="Search the registry of the officer's area")
async def units_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.units")
    qp = request.query_params
    query = {"q": _text(qp.get("q")), "kind": _choice(qp.get("kind"), KINDS),
             "area_code": _text(qp.get("area"), 80), "in_scope": _choice(qp.get("scope"), ("true", "false"))}
    cursor = _text(qp.get("cursor"), 500)
    try:
        page = await api(ctx, person, "units", "GET", "/units",
                         params={**query, "limit": PAGE_SIZE, "cursor": cursor})
    except ApiError as exc:
        return unavailable(request, person, exc, "units", _refusal)
    kept = {"q": query["q"] or "", "kind": query["kind"] or "", "area": query["area_code"] or "",
            "scope": query["in_scope"] or ""}
    more = with_lang("/units", person.lang, **kept, cursor=page["next_cursor"]) if page.get("next_cursor") else None
    return render(request, "units.html", lang=person.lang, title_key="reg.units_title", person=person,
                  items=page["items"], kept=kept, kinds=KINDS, areas=area_choices(person, query["area_code"]),
                  more_url=more, first_url=with_lang("/units", person.lang, **kept) if cursor else None)


@router.get("/units/{unit_id}", response_class=HTMLResponse, summary="One unit: profile, years, incidents, "
            "activities")
async def unit_page(ctx: Ctx, request: Request, unit_id: str) -> Response:
    person = await signed_in(ctx, request, "console.units")
    if len(unit_id) > 200:
        return unavailable(request, person, ApiError(404, "not_found", "no such unit"), "units", _refusal)
    path = "/units/" + quote(unit_id, safe="")
    try:
        unit = await api(ctx, person, "units", "GET", path)
        years, incidents, activities = await asyncio.gather(
            api(ctx, person, "units", "GET", path + "/cycles"),
            api(ctx, person, "units", "GET", path + "/incidents", params={"limit": 100}),
            api(ctx, person, "units", "GET", path + "/activities", params={"limit": 100}))
    except ApiError as exc:
        return unavailable(request, person, exc, "units", _unit_refusal)
    return render(request, "unit.html", lang=person.lang, title_key="reg.unit_title", person=person, unit=unit,
                  categories=await _incident_categories(ctx, request),
                  years=sorted(years, key=lambda y: -int(y["year"])), incidents=incidents["items"],
                  activities=activities["items"], more_incidents=bool(incidents.get("next_cursor")),
                  more_activities=bool(activities.get("next_cursor")))


async def _incident_categories(ctx: ConsoleContext, request: Request) -> dict[str, dict[str, str]]:
    """incident category code -> {"vi": name, "en": name}, from the units service's public frameworks."""
    apis = ctx.apis

    async def load() -> dict[str, dict[str, str]]:
        data = await apis.call(None, "units", "GET", "/frameworks")
        return {c["code"]: {"vi": c["vi"], "en": c["en"]} for lst in data["incident_categories"].values()
                for c in lst}

    try:
        return dict(await apis.cached("incident_categories", load))
    except (ApiError, KeyError, TypeError):
        return {}


# --- bulk import ---------------------------------------------------------------------------------------------
@router.get("/units-import", response_class=HTMLResponse, summary="The bulk import form")
async def import_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.units_import")
    return render(request, "units_import.html", lang=person.lang, title_key="reg.import_title", person=person,
                  job=None, error=None)


@router.post("/units-import", response_class=HTMLResponse, summary="Start a bulk import (CSV or JSON lines)")
async def import_form(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.units_import")
    form = await request.form(max_files=1, max_fields=10, max_part_size=unit_imports.MAX_BYTES)
    if not same_token(person.session.csrf, field(form, "csrf", 100)):
        return render(request, "units_import.html", lang=person.lang, title_key="reg.import_title", person=person,
                      job=None, error=TEXT[person.lang]["form_expired"], status=403)
    upload = form.get("file")
    try:
        if upload is None or isinstance(upload, str):
            raise unit_imports.ImportRefused("reg.import_no_file")
        body = await upload.read(unit_imports.MAX_BYTES + 1)
        job = start_import(ctx.imports, person.account, ctx.apis, body,
                                 upload.filename or "", upload.content_type or "")
    except unit_imports.ImportRefused as exc:
        return render(request, "units_import.html", lang=person.lang, title_key="reg.import_title", person=person,
                      job=None, error=TEXT[person.lang][exc.key].format(**exc.values), status=422)
    return redirect(with_lang(f"/units-import/{job.job_id}", person.lang))


@router.get("/units-import/{job_id}", response_class=HTMLResponse, summary="An import's progress and report")
async def import_progress(ctx: Ctx, request: Request, job_id: str) -> Response:
    person = await signed_in(ctx, request, "console.units_import")
    job = ctx.imports.get(job_id)
    if job is None or job.owner != person.account.username:
        return render(request, "error.html", lang=person.lang, title_key="error_title", person=person,
                      message=TEXT[person.lang]["reg.import_not_found"], status=404)
    return render(request, "units_import.html", lang=person.lang, title_key="reg.import_title", person=person,
                  job=job, error=None)


# --- the year's workboard ------------------------------------------------------------------------------------
@dataclass
class BoardQuery:
    year: int | None = None
    area: str | None = None
    show: str = "all"
    kind: str | None = None
    q: str | None = None
    size: int = BOARD_SIZES[0]

    @classmethod
    def parse(cls, values: Any) -> BoardQuery:
        size = _choice(values.get("size"), tuple(str(n) for n in BOARD_SIZES))
        return cls(year=_year(values.get("year")), area=_text(values.get("area"), 80),
                   show=_choice(values.get("show"), SHOWS) or "all", kind=_choice(values.get("kind"), KINDS),
                   q=_text(values.get("q")), size=int(size) if size else BOARD_SIZES[0])

    def api_params(self) -> dict[str, Any]:
        return {"year": self.year, "area_code": self.area, "show": self.show, "kind": self.kind, "q": self.q}

    def query(self) -> dict[str, str]:
        return {"year": str(self.year or ""), "area": self.area or "", "show": "" if self.show == "all" else
                self.show, "kind": self.kind or "", "q": self.q or "",
                "size": "" if self.size == BOARD_SIZES[0] else str(self.size)}


@dataclass
class BatchOutcome:
    step: str
    succeeded: int = 0
    failed: list[dict[str, str]] = dc_field(default_factory=list)


async def _workboard(ctx: ConsoleContext, request: Request, person: Person, board: BoardQuery, *,
                     outcome: BatchOutcome | None = None, error: str | None = None, status: int = 200) -> Response:
    cursor = _text(request.query_params.get("cursor"), 500) if request.method == "GET" else None
    try:
        page, counts = await asyncio.gather(
            api(ctx, person, "units", "GET", "/workboard",
                params={**board.api_params(), "limit": board.size, "cursor": cursor}),
            api(ctx, person, "units", "GET", "/workboard/counts",
                params={"year": board.year, "area_code": board.area, "kind": board.kind}))
    except ApiError as exc:
        return unavailable(request, person, exc, "units", _refusal)
    year = counts["year"]
    kept = {**board.query(), "year": str(year)}
    more = with_lang("/cycles", person.lang, **kept, cursor=page["next_cursor"]) \
        if page.get("next_cursor") else None
    area = board.area or person.account.area
    return render(request, "workboard.html", lang=person.lang, title_key="reg.board_title", person=person,
                  items=page["items"], counts=counts, year=year, board=board, area=area, kept=kept,
                  areas=area_choices(person, area), shows=SHOWS, sizes=BOARD_SIZES, size=board.size, kinds=KINDS,
                  ratings=RATINGS, outcome=outcome, error=error, status=status, more_url=more,
                  today=ctx.now().astimezone(VN_TZ).date().isoformat(),
                  first_url=with_lang("/cycles", person.lang, **kept) if cursor else None)


@router.get("/cycles", response_class=HTMLResponse, summary="The year's workboard of the officer's area")
async def workboard_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.workboard")
    return await _workboard(ctx, request, person, BoardQuery.parse(request.query_params))


@router.post("/cycles", response_class=HTMLResponse, summary="Appraise or decide the selected dossiers")
async def workboard_batch(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.workboard_action")
    form = await request.form(max_files=0, max_fields=BATCH_MAX + 30)
    if not same_token(person.session.csrf, field(form, "csrf", 100)):
        raise PageRefused(403, "form_expired")
    board = BoardQuery.parse(form)
    t = TEXT[person.lang]
    step = _choice(field(form, "step", 20), ("appraise", "decide"))
    selected = [u for u in dict.fromkeys(form.getlist("unit_id")) if isinstance(u, str) and 0 < len(u) <= 200]
    if step is None or board.year is None:
        return await _workboard(ctx, request, person, board, error=t["reg.batch_bad"], status=422)
    if not selected:
        return await _workboard(ctx, request, person, board, error=t["reg.batch_none"], status=422)
    if len(selected) > BATCH_MAX:
        return await _workboard(ctx, request, person, board, error=t["reg.batch_too_many"].format(n=BATCH_MAX),
                                status=422)
    area = board.area or person.account.area
    if area is None:
        return await _workboard(ctx, request, person, board, error=t["reg.batch_area"], status=422)
    note = field(form, "note", 2000)
    if step == "appraise":
        verdict = field(form, "recommended", 5)
        if verdict not in ("yes", "no"):
            return await _workboard(ctx, request, person, board, error=t["reg.appraise_choose"], status=422)
        path = "/batches/appraisals"
        items = [{"unit_id": u, "recommended": verdict == "yes", "note": note} for u in selected]
    else:
        verdict = field(form, "recognized", 5)
        if verdict not in ("yes", "no"):
            return await _workboard(ctx, request, person, board, error=t["reg.decide_choose"], status=422)
        decision_no = field(form, "decision_no", 200)
        decided_on = field(form, "decided_on", 10)
        rating = _choice(field(form, "rating", 20), RATINGS) if verdict == "yes" else None
        if verdict == "yes" and not decision_no:
            return await _workboard(ctx, request, person, board, error=t["reg.decision_no_needed"], status=422)
        path = "/batches/decisions"
        items = [{"unit_id": u, "recognized": verdict == "yes", "decision_no": decision_no,
                  "decided_on": decided_on, "rating": rating, "note": note} for u in selected]
    try:
        result = await api(ctx, person, "units", "POST", path,
                           body={"year": board.year, "area_code": area, "items": items})
    except ApiError as exc:
        if exc.status >= 500:
            return unavailable(request, person, exc, "units", _refusal)
        return await _workboard(ctx, request, person, board, error=_refusal(person.lang, exc), status=exc.status)
    names = await ctx.apis.unit_names(person.account, {i["unit_id"] for i in result["items"]
                                                                   if not i["ok"]})
    outcome = BatchOutcome(step=step, succeeded=int(result["succeeded"]))
    for item in result["items"]:
        if not item["ok"]:
            error = item.get("error") or {}
            outcome.failed.append({"name": names.get(item["unit_id"], t["reg.unit_unknown"]),
                                   "why": t.get(f"reg.refused.{error.get('code')}") or
                                   refusal(person.lang, int(error.get("status", 422)), str(error.get("code", "")),
                                           str(error.get("message", "")), error.get("details"))})
    return await _workboard(ctx, request, person, board, outcome=outcome)

