"""The unit desk (`/me`): a unit's own staff see their unit's profile, prepare this year's dossier criterion by
criterion (result, note and evidence documents), self-assess and submit it, report the movement's activities,
and read their notifications.

A unit account reaches only its own unit: no page takes a unit id; every call goes to the units service with
the account's own token, which carries its unit, so the units service refuses anything else as well.
Evidence is uploaded through the console as a multipart form (one file, at most the units service's limit plus
the form's framing) and streamed on to the units service, which checks types and sizes and stores it.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from services.console.clients import ApiError
from services.console.context import ConsoleContext
from services.console.handlers import same_token
from services.console.i18n import TEXT, refusal
from services.console.web.pages import (
    Ctx,
    PageRefused,
    Person,
    api,
    field,
    redirect,
    render,
    signed_in,
    stream_download,
    unavailable,
    with_lang,
)
from shared.bodylimit import MiB
from shared.calendar import VN_TZ, assessment_year_of

router = APIRouter(tags=["console: unit desk"])

DESK = "/me"
DOSSIER = "/me/dossier"
# Body limit of the console's upload form: the units service's largest file plus the form's framing.
UPLOAD_PATH = "/me/dossier/*/criteria/*/evidence"
RESULTS = ("met", "not_met", "na")
ACTIVITY_KINDS = ("propaganda_session", "training", "commitment_drive", "drill")


def body_limits(settings: Any) -> dict[str, int]:
    return {UPLOAD_PATH: int(settings.units_evidence_max_bytes) + MiB}


def _unit_of(person: Person) -> str:
    unit = person.account.unit
    if not unit:
        raise PageRefused(403, "refused.forbidden_role")
    return unit


def desk_refusal(lang: str, exc: ApiError) -> str:
    """A units refusal in the page's language; a refused file type is named with the accepted ones."""
    t = TEXT[lang]
    details = exc.details if isinstance(exc.details, dict) else {}
    if exc.status >= 500:
        return t["service_unavailable"].format(service="units")
    if exc.code == "evidence_type_refused":
        accepted = ", ".join(str(a) for a in details.get("accepted", []))
        if details.get("problem") == "content_mismatch":
            return t["desk.refused.content_mismatch"].format(filename=details.get("filename", ""), accepted=accepted)
        kind = details.get("content_type") or details.get("extension") or "?"
        return t["desk.refused.type"].format(kind=kind, extension=details.get("extension", ""), accepted=accepted)
    if exc.code == "evidence_too_large":
        return t["desk.refused.too_large"].format(max=_megabytes(details.get("max")))
    if exc.code == "payload_too_large":
        return t["desk.refused.too_large"].format(max=_megabytes(details.get("limit_bytes")))
    known = t.get(f"desk.refused.{exc.code}")
    if known is not None:
        return known
    if exc.status == 404:
        return t["desk.refused.not_found"]
    return refusal(lang, exc.status, exc.code, exc.message, exc.details)


def _megabytes(value: Any) -> str:
    """A size limit as people read it: "20 MB", "1.5 MB", "64 KB"."""
    try:
        size = int(value)
    except (TypeError, ValueError):
        return "?"
    if size < MiB:
        return f"{max(size // 1024, 1)} KB"
    return f"{size / MiB:.1f}".removesuffix(".0") + " MB"


def _year(ctx: ConsoleContext, request: Request) -> int:
    wanted = request.query_params.get("year")
    if wanted and wanted.isdigit() and 2000 <= int(wanted) <= 2200:
        return int(wanted)
    return assessment_year_of(ctx.now().astimezone(VN_TZ))


# --- the unit's page: profile, activities, notifications -------------------------------------------------------
async def _desk_page(ctx: ConsoleContext, request: Request, person: Person, *, errors: dict[str, str] | None = None,
                     form: dict[str, str] | None = None, notice: str | None = None, status: int = 200) -> Response:
    unit_id = _unit_of(person)
    year = _year(ctx, request)
    try:
        unit, cycles, activities, unread = await asyncio.gather(
            api(ctx, person, "units", "GET", f"/units/{quote(unit_id, safe='')}"),
            api(ctx, person, "units", "GET", f"/units/{quote(unit_id, safe='')}/cycles"),
            api(ctx, person, "units", "GET", f"/units/{quote(unit_id, safe='')}/activities",
                params={"year": year, "limit": 200}),
            api(ctx, person, "notify", "GET", "/inbox", params={"unread": "true", "limit": 5}))
    except ApiError as exc:
        return unavailable(request, person, exc, "units", desk_refusal)
    this_year = next((c for c in cycles if c["year"] == year), None)
    return render(request, "unit_desk.html", lang=person.lang, title_key="desk.title", person=person, unit=unit,
                  cycles=cycles, this_year=this_year, year=year, activities=activities["items"],
                  unread=unread["items"], kinds=ACTIVITY_KINDS, errors=errors or {}, form=form or {},
                  notice=notice, today=ctx.now().astimezone(VN_TZ).date().isoformat(),
                  status=status)


@router.get(DESK, response_class=HTMLResponse, summary="The unit's own page: profile, this year's dossier, "
            "activities, notifications (unit staff)")
async def desk_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.unit_desk")
    done = request.query_params.get("done")
    notice = {"activity": "desk.activity_saved", "profile": "desk.profile_saved"}.get(done or "")
    return await _desk_page(ctx, request, person, notice=TEXT[person.lang][notice] if notice else None)


async def _checked(request: Request, person: Person, *, files: int = 0) -> Any:
    """The form, once its CSRF token is the session's; uploads are bounded (one file, by the body limit)."""
    try:
        form = await request.form(max_files=files, max_fields=20)
    except (MultiPartException, HTTPException) as exc:  # too many files or fields, or not a form
        raise PageRefused(400, "desk.bad_form") from exc
    if not same_token(person.session.csrf, field(form, "csrf", 100)):
        raise PageRefused(403, "form_expired")
    return form


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _int(form: Any, name: str) -> int | None:
    value = field(form, name, 12)
    return int(value) if value and value.isdigit() else None


def _contact(form: Any, prefix: str) -> dict[str, str] | None:
    name = field(form, f"{prefix}_name", 200)
    if not name:
        return None
    found = {"name": name, "title": field(form, f"{prefix}_title", 200), "phone": field(form, f"{prefix}_phone", 50),
             "email": field(form, f"{prefix}_email", 320)}
    return {k: v for k, v in found.items() if v}


@router.post("/me/profile", response_class=HTMLResponse,
             summary="Change the unit's address, contacts, security staff and models (unit staff)")
async def edit_profile(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.unit_desk")
    unit_id = _unit_of(person)
    form = await _checked(request, person)
    kept = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    full, part = _int(form, "full_time"), _int(form, "part_time")
    if full is None or part is None:
        return await _desk_page(ctx, request, person, errors={"profile": TEXT[person.lang]["desk.headcount_required"]},
                                form=kept, status=422)
    models = [m.strip()[:200] for m in (field(form, "models", 5000) or "").splitlines() if m.strip()][:50]
    body = {"address": field(form, "address", 1000), "head_of_unit": _contact(form, "head"),
            "security_focal": _contact(form, "focal"), "security_force_full_time": full,
            "security_force_part_time": part, "models": models}
    try:
        await api(ctx, person, "units", "PATCH", f"/units/{quote(unit_id, safe='')}", body=body)
    except ApiError as exc:
        return await _desk_page(ctx, request, person, errors={"profile": desk_refusal(person.lang, exc)}, form=kept,
                                status=exc.status)
    return redirect(with_lang(DESK, person.lang, done="profile") + "#profile")


@router.post("/me/activities", response_class=HTMLResponse, summary="Report an activity of the unit (unit staff)")
async def report_activity(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.unit_desk")
    unit_id = _unit_of(person)
    form = await _checked(request, person)
    body = {"kind": field(form, "kind", 40) or "", "held_on": field(form, "held_on", 10) or "",
            "participants": _int(form, "participants"), "title": field(form, "title", 500),
            "commitments_signed": _int(form, "commitments_signed"), "note": field(form, "note", 2000)}
    kept = {k: str(v) for k, v in body.items() if v is not None}
    problem = None
    if body["kind"] not in ACTIVITY_KINDS:
        problem = "desk.kind_required"
    elif not _is_date(str(body["held_on"])):
        problem = "desk.date_required"
    elif body["participants"] is None:
        problem = "desk.participants_required"
    if problem is not None:
        return await _desk_page(ctx, request, person, errors={"activity": TEXT[person.lang][problem]}, form=kept,
                                status=422)
    try:
        await api(ctx, person, "units", "POST", f"/units/{quote(unit_id, safe='')}/activities",
                  body={k: v for k, v in body.items() if v is not None})
    except ApiError as exc:
        return await _desk_page(ctx, request, person, errors={"activity": desk_refusal(person.lang, exc)}, form=kept,
                                status=exc.status)
    return redirect(with_lang(DESK, person.lang, done="activity") + "#activities")


# --- the dossier ------------------------------------------------------------------------------------------------
async def _dossier_page(ctx: ConsoleContext, request: Request, person: Person, year: int, *,
                        errors: dict[str, str] | None = None, notice: str | None = None, status: int = 200) -> Response:
    unit_id = _unit_of(person)
    base = f"/units/{quote(unit_id, safe='')}"
    try:
        unit = await api(ctx, person, "units", "GET", base)
        try:
            cycle = await api(ctx, person, "units", "GET", f"{base}/cycles/{year}")
        except ApiError as exc:
            if exc.code != "cycle_not_found":
                raise
            cycle = None
        framework = evidence = None
        if cycle is not None:
            framework, evidence = await asyncio.gather(
                api(ctx, person, "units", "GET", f"/frameworks/{quote(cycle['framework_code'], safe='')}",
                    params={"kind": cycle["kind"]}),
                api(ctx, person, "units", "GET", f"{base}/cycles/{year}/evidence"))
    except ApiError as exc:
        return unavailable(request, person, exc, "units", desk_refusal)
    by_criterion: dict[str, list[dict[str, Any]]] = {}
    for doc in (evidence or {}).get("items", []):
        by_criterion.setdefault(doc["criterion"], []).append(doc)
    criteria = framework["criteria"] if framework else []
    scored = [c for c in criteria if c.get("derived") is None]
    recorded = (cycle or {}).get("criteria", {})
    max_bytes = (evidence or {}).get("max_bytes")
    return render(request, "unit_dossier.html", lang=person.lang, title_key="dossier.title", person=person,
                  unit=unit, year=year, cycle=cycle, framework=framework, criteria=criteria, scored=scored,
                  recorded=recorded, evidence=by_criterion, results=RESULTS,
                  accepted=(evidence or {}).get("accepted", []), max_size=_megabytes(max_bytes),
                  max_bytes=max_bytes, too_large=TEXT[person.lang]["desk.refused.too_large"].format(
                      max=_megabytes(max_bytes)),
                  editable=bool(cycle) and "record_criterion" in cycle["next_steps"],
                  missing=[c["code"] for c in scored if c["code"] not in recorded],
                  errors=errors or {}, notice=notice, status=status)


@router.get(DOSSIER, response_class=HTMLResponse, summary="This year's dossier, criterion by criterion (unit staff)")
async def dossier_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.unit_desk")
    done = request.query_params.get("done")
    notice = TEXT[person.lang].get(f"dossier.done.{done}") if done else None
    return await _dossier_page(ctx, request, person, _year(ctx, request), notice=notice)


def _back(person: Person, year: int, done: str, anchor: str) -> Response:
    return redirect(with_lang(DOSSIER, person.lang, year=str(year), done=done) + f"#{anchor}")


def _checked_year(year: str) -> int:
    """A year of the path, checked after the session (so that the policy answers before the form does)."""
    if not (year.isdigit() and 2000 <= int(year) <= 2200):
        raise PageRefused(404, "not_found")
    return int(year)


@router.post("/me/dossier/{year}/register", response_class=HTMLResponse,
             summary="Register the unit for the year (unit staff)")
async def dossier_register(ctx: Ctx, year: str, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.unit_desk")
    number = _checked_year(year)
    await _checked(request, person)
    unit_id = _unit_of(person)
    try:
        await api(ctx, person, "units", "POST", f"/units/{quote(unit_id, safe='')}/cycles/{number}")
    except ApiError as exc:
        return await _dossier_page(ctx, request, person, number, errors={"dossier": desk_refusal(person.lang, exc)},
                                   status=exc.status)
    return _back(person, number, "registered", "criteria")


@router.post("/me/dossier/{year}/criteria/{code}", response_class=HTMLResponse,
             summary="Record one criterion's result and note; its uploaded documents are its evidence (unit staff)")
async def dossier_criterion(ctx: Ctx, year: str, code: str, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.unit_desk")
    number = _checked_year(year)
    form = await _checked(request, person)
    unit_id = _unit_of(person)
    base = f"/units/{quote(unit_id, safe='')}/cycles/{number}"
    result = field(form, "result", 10)
    if result not in RESULTS:
        return await _dossier_page(ctx, request, person, number, status=422,
                                   errors={code: TEXT[person.lang]["dossier.result_required"]})
    try:
        docs = await api(ctx, person, "units", "GET", f"{base}/evidence", params={"criterion": code})
        await api(ctx, person, "units", "PUT", f"{base}/criteria/{quote(code, safe='')}", body={
            "result": result, "note": field(form, "note", 2000),
            "evidence": [d["evidence_id"] for d in docs["items"]][:100]})
    except ApiError as exc:
        return await _dossier_page(ctx, request, person, number, errors={code: desk_refusal(person.lang, exc)},
                                   status=exc.status)
    return _back(person, number, "saved", "c-" + code.replace(".", "_"))


@router.post(UPLOAD_PATH.replace("*", "{year}", 1).replace("*", "{code}", 1), response_class=HTMLResponse,
             summary="Upload one evidence document for a criterion (multipart `file`; unit staff)")
async def dossier_evidence(ctx: Ctx, year: str, code: str, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.unit_desk")
    number = _checked_year(year)
    form = await _checked(request, person, files=1)
    unit_id = _unit_of(person)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _dossier_page(ctx, request, person, number, status=422,
                                   errors={code: TEXT[person.lang]["dossier.file_required"]})
    path = f"/units/{quote(unit_id, safe='')}/cycles/{number}/criteria/{quote(code, safe='')}/evidence"
    try:
        await ctx.apis.upload(person.account, "units", path, filename=upload.filename,
                                          content_type=upload.content_type or "application/octet-stream",
                                          data=upload.file)
    except ApiError as exc:
        ctx.metrics.api_errors.labels("units", str(exc.status)).inc()
        return await _dossier_page(ctx, request, person, number, errors={code: desk_refusal(person.lang, exc)},
                                   status=exc.status)
    finally:
        await upload.close()
    return _back(person, number, "uploaded", "c-" + code.replace(".", "_"))


@router.get("/me/dossier/{year}/evidence/{evidence_id}", response_class=Response,
            summary="Download one of the unit's evidence documents (unit staff)")
async def dossier_download(ctx: Ctx, year: str, evidence_id: str, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.unit_desk")
    number = _checked_year(year)
    unit_id = _unit_of(person)
    base = f"/units/{quote(unit_id, safe='')}/cycles/{number}/evidence"
    try:
        listing = await api(ctx, person, "units", "GET", base)
        meta = next((d for d in listing["items"] if d["evidence_id"] == evidence_id), None)
        if meta is None:
            raise ApiError(404, "evidence_not_found", "no such document")
        upstream = await ctx.apis.download(person.account, "units",
                                                       f"{base}/{quote(evidence_id, safe='')}")
    except ApiError as exc:
        return unavailable(request, person, exc, "units", desk_refusal)

    return stream_download(upstream, meta["filename"], meta["content_type"])


@router.post("/me/dossier/{year}/{step}", response_class=HTMLResponse,
             summary="Self-assess or submit the year's dossier (unit staff)")
async def dossier_step(ctx: Ctx, year: str, step: str, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.unit_desk")
    number = _checked_year(year)
    await _checked(request, person)
    if step not in ("self-assessment", "submit"):
        raise PageRefused(404, "not_found")
    unit_id = _unit_of(person)
    try:
        await api(ctx, person, "units", "POST", f"/units/{quote(unit_id, safe='')}/cycles/"
                  f"{number}/{step}")
    except ApiError as exc:
        return await _dossier_page(ctx, request, person, number, errors={"dossier": desk_refusal(person.lang, exc)},
                                   status=exc.status)
    return _back(person, number, "assessed" if step == "self-assessment" else "submitted", "state")

