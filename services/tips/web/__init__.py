"""The public web pages: submit a tip (`/`) and follow it up with the receipt (`/follow-up`).

Every page works without JavaScript: the place is chosen by name, a province then (a second step, the same form
posted back with `step=province`) its communes, then (`step=commune`) the units of that commune, by name and kind,
from the tips service's own read model of units. With JavaScript, /static/places.js fills the commune list from
`/places/{province}` and the unit list from `/places/{commune}/units`, and filters each as the person types.
The form handlers call the same handlers as the JSON API. The receipt travels only in POST bodies, every page is
`no-store`, and the Content-Security-Policy allows nothing but this origin's own stylesheet and script
(`shared.webpages`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from services.tips import handlers
from services.tips.api import Ctx, read_uploads
from services.tips.context import TipsContext
from services.tips.handlers import SubmitTip
from services.tips.policy import POLICY
from services.tips.web.i18n import TEXT, language
from shared import places
from shared.calendar import VN_TZ
from shared.errors import DomainError, NotFound, TooManyRequests, problems
from shared.http import ERROR_RESPONSES, ErrorResponse
from shared.webpages import html_page
from shared.webpages import stylesheet as stylesheet_response

router = APIRouter(tags=["web"])

HERE = Path(__file__).resolve().parent
_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   auto_reload=False)


def vn_time(value: datetime) -> str:
    """An instant as a person in Vietnam reads it; the page names the zone beside it."""
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


_env.filters["vn_time"] = vn_time

def render(name: str, *, lang: str, path: str, title_key: str, status: int = 200, **context: Any) -> HTMLResponse:
    t = TEXT[lang]
    html = _env.get_template(name).render(lang=lang, t=t, path=path, title=t[title_key], **context)
    return html_page(html, status=status)


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _command_from_form(form: Any) -> SubmitTip:
    identified = form.get("who") == "identified"
    reporter = None
    if identified:
        reporter = {k: _field(form, k) for k in ("name", "phone", "email", "id_number")}
        reporter = {k: v for k, v in reporter.items() if v is not None}
    org = None
    if _field(form, "org_name") or _field(form, "tax_code"):
        org = {"org_name": _field(form, "org_name"), "tax_code": _field(form, "tax_code")}
    unknown_place = bool(form.get("location_unknown"))
    # The commune chosen, else the province; none when the person does not know the place.
    area_code = None if unknown_place else (_field(form, "commune") or _field(form, "province"))
    occurred = _field(form, "occurred_at")
    occurred_at: datetime | str | None = None
    if occurred:
        try:
            # datetime-local carries no zone; the form says Vietnam time.
            occurred_at = datetime.fromisoformat(occurred).replace(tzinfo=VN_TZ)
        except ValueError:
            occurred_at = "invalid"  # let the model report it
    raw: dict[str, Any] = {
        "category": _field(form, "category") or "", "description": _field(form, "description") or "",
        "location": _field(form, "location"), "location_unknown": True if unknown_place else None,
        "area_code": area_code, "occurred_at": occurred_at, "unit_id": _field(form, "unit"),
        "anonymous": not identified, "reporter": reporter, "on_behalf_of": org,
        "confidentiality_requested": bool(form.get("confidentiality")),
        "protection_requested": bool(form.get("protection")),
    }
    return SubmitTip.model_validate(raw)


_FIELD_NAMES = {"category": "category", "description": "description", "location": "location",
                "area_code": "commune", "occurred_at": "occurred_at", "reporter": "name", "on_behalf_of": "org_name"}
_PROBLEMS = {"missing": "err_required", "string_too_short": "err_required", "string_too_long": "err_too_long"}
_DOMAIN_MESSAGES = {"unknown_category": "err_category", "unknown_area": "err_area"}


def _validation_messages(exc: ValidationError, lang: str) -> list[str]:
    t = TEXT[lang]
    out = []
    for problem in problems(exc):
        loc = [str(p) for p in problem.loc]
        label = t.get(_FIELD_NAMES.get(loc[0], ""), "") if loc else ""
        if len(loc) > 1 and loc[0] in ("reporter", "on_behalf_of"):
            label = t.get(loc[1], label)
        message = t[_PROBLEMS.get(problem.type, "err_invalid")]
        out.append(f"{label}: {message}" if label else message)
    return out


def _accept(ctx: TipsContext) -> str:
    rules = ctx.attachment_rules
    return ",".join([t.content_type for t in rules.types] + [e for t in rules.types for e in t.extensions])


def _is_commune(code: str | None) -> bool:
    found = places.place(code)
    return found is not None and found.code != found.province_code


async def _units_of(ctx: TipsContext, commune: str | None, lang: str) -> list[dict[str, str]]:
    """The units of the chosen commune as the form lists them: id, name and the kind's label."""
    if not commune or not _is_commune(commune):
        return []
    t = TEXT[lang]
    return [{"unit_id": u["unit_id"], "name": u["name"], "kind": u["kind"],
             "kind_label": t.get(f"kind.{u['kind']}", u["kind"])}
            for u in await handlers.commune_units(commune, ctx=ctx, limit=handlers.COMMUNE_UNITS_MAX + 1)]


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _form_body(fields: dict[str, str], *, required: tuple[str, ...] = (), multipart: bool = False) -> dict[str, Any]:
    """The request body of a form handler, urlencoded (and multipart where files may come), for the OpenAPI
    document: the fields the handler reads, as text (a browser sends nothing else; an unknown `lang` is Vietnamese,
    a field that is too long or names nothing in the lists answers 422 with the form again)."""
    properties: dict[str, Any] = {name: {"type": "string", "description": text} for name, text in fields.items()}
    schema = {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}
    content: dict[str, Any] = {"application/x-www-form-urlencoded": {"schema": schema}}
    if multipart:
        files = {"files": {"type": "array", "items": {},
                           "description": "The attachments (parts that are not files are ignored)"}}
        content["multipart/form-data"] = {"schema": {**schema, "properties": {**properties, **files}}}
    return {"requestBody": {"required": True, "content": content}}


LANG = "vi (default) or en"
SUBMIT_FORM = _form_body({
    "lang": LANG,
    "step": "province or commune, without JavaScript: the form again with the province's communes or the "
            "commune's units",
    "category": "A code from GET /categories", "description": "What happened (at most 20,000 characters)",
    "location": "Where it happened", "location_unknown": "on: \"I don't remember the location\"",
    "province": "A province code", "commune": "A commune code of that province", "unit": "A unit of that commune",
    "occurred_at": "When (date and time, Vietnam time)", "who": "anonymous (default) or identified",
    "name": "The reporter's name (identified)", "phone": "", "email": "", "id_number": "",
    "org_name": "On behalf of an organisation", "tax_code": "",
    "confidentiality": "on: keep my identity confidential", "protection": "on: I ask for protection",
}, multipart=True)
FORM_REFUSED: dict[str, Any] = {"description": "The form could not be read (too many fields or files)",
                                "model": ErrorResponse}
SUBMIT_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: _page("The receipt page, or the form again at a `step`"),
    400: FORM_REFUSED,
    413: _page("The attachments are too large; the form again"),
    415: _page("An attachment's type is not accepted; the form again"),
    422: _page("The form again with what to correct: a missing or too long field, a category, commune or unit "
               "that is not in the lists, a time outside 2000-2199 or without a zone, a name missing when "
               "identified, a location together with \"I don't remember\""),
    429: _page("Too many submissions from this address; the form again, with Retry-After"),
}
RECEIPT = "The receipt shown when the tip was submitted"
FOLLOW_UP_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: _page("The tip's status page"),
    400: FORM_REFUSED,
    404: _page("No tip has this receipt; the follow-up form again"),
    429: _page("Too many look-ups from this address; the follow-up form again, with Retry-After"),
}
REPLY_ANSWERS: dict[int | str, dict[str, Any]] = {
    **FOLLOW_UP_ANSWERS,
    200: _page("The tip's status page with the message sent"),
    409: _page("The tip is closed: it takes no more messages; the status page"),
    422: _page("The message is empty; the status page"),
}


@router.get("/", response_class=HTMLResponse, summary="The tip submission page (public)")
async def submit_page(ctx: Ctx, lang: str | None = None) -> HTMLResponse:
    POLICY.authorize(None, "tips.submit")
    language_ = language(lang)
    return render("submit.html", lang=language_, path="/", title_key="submit_title", form={}, errors=[],
                  categories=ctx.categories.categories, accept=_accept(ctx),
                  provinces=places.provinces(), communes=(), units=[])


@router.post("/submit", response_class=HTMLResponse, summary="The submission form's handler (public)",
             responses=SUBMIT_ANSWERS, openapi_extra=SUBMIT_FORM)
async def submit_form(request: Request, ctx: Ctx) -> HTMLResponse:
    POLICY.authorize(None, "tips.submit")
    form = await request.form(max_files=ctx.attachment_rules.max_files + 1, max_fields=100)
    lang = language(_field(form, "lang"))
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    province = values.get("province") or ""
    commune = values.get("commune") or ""
    chosen = places.place(commune) if commune else None
    if chosen is not None and chosen.province_code != province:
        values.pop("commune")  # a commune of the province chosen before: the person chooses again
        commune = ""
    units = (await _units_of(ctx, commune, lang))[:handlers.COMMUNE_UNITS_MAX]

    async def again(errors: list[str], status: int) -> HTMLResponse:
        return render("submit.html", lang=lang, path="/", title_key="submit_title", form=values, errors=errors,
                      categories=ctx.categories.categories, accept=_accept(ctx), status=status,
                      provinces=places.provinces(), communes=places.communes_of(province), units=units)

    if form.get("step") in ("province", "commune"):  # the steps without JavaScript: the same form again, with
        await form.close()                            # the province's communes, the commune's units
        return await again([], 200)

    try:
        ctx.limits.submit(request)
    except TooManyRequests as exc:
        response = await again([TEXT[lang]["too_many"]], 429)
        response.headers["Retry-After"] = str(int(exc.details["retry_after"]))
        return response
    try:
        cmd = _command_from_form(form)
        if cmd.unit_id and not (commune and await handlers.unit_is_in(cmd.unit_id, commune, ctx=ctx)):
            return await again([TEXT[lang]["err_unit"]], 422)
        uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        files = await read_uploads(uploads, ctx)
        accepted = await handlers.submit_tip(cmd, ctx=ctx, channel="web", files=files)
    except ValidationError as exc:
        return await again(_validation_messages(exc, lang), 422)
    except DomainError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        problems = [f"{p.get('filename') or ''} {p.get('problem')}".strip() for p in details.get("problems", [])]
        known = _DOMAIN_MESSAGES.get(exc.code)
        return await again([TEXT[lang][known] if known else exc.message, *problems], exc.status)
    finally:
        await form.close()
    return render("received.html", lang=lang, path="/", title_key="received_title", receipt=accepted.receipt,
                  received_at=accepted.received_at)


@router.get("/follow-up", response_class=HTMLResponse, summary="The follow-up page (public)")
async def follow_up_page(lang: str | None = None) -> HTMLResponse:
    POLICY.authorize(None, "tips.follow_up")
    return render("follow_up.html", lang=language(lang), path="/follow-up", title_key="follow_up_title")


async def _status_page(ctx: TipsContext, receipt: str, lang: str, *, notice: str | None = None,
                       status: int = 200) -> HTMLResponse:
    try:
        view = await handlers.follow_up(receipt, ctx=ctx)
    except NotFound:
        return render("follow_up.html", lang=lang, path="/follow-up", title_key="follow_up_title",
                      error=TEXT[lang]["not_found"], status=404)
    return render("status.html", lang=lang, path="/follow-up", title_key="follow_up_title", view=view,
                  receipt=receipt, notice=notice, status=status)


def _limited(request: Request, ctx: TipsContext, lang: str) -> Response | None:
    try:
        ctx.limits.follow_up(request)
    except TooManyRequests as exc:
        response = render("follow_up.html", lang=lang, path="/follow-up", title_key="follow_up_title",
                          error=TEXT[lang]["too_many"], status=429)
        response.headers["Retry-After"] = str(int(exc.details["retry_after"]))
        return response
    return None


@router.post("/follow-up", response_class=HTMLResponse, summary="The follow-up form's handler (public)",
             responses=FOLLOW_UP_ANSWERS,
             openapi_extra=_form_body({"lang": LANG, "receipt": RECEIPT}, required=("receipt",)))
async def follow_up_form(request: Request, ctx: Ctx) -> Response:
    POLICY.authorize(None, "tips.follow_up")
    form = await request.form(max_files=0, max_fields=10)
    lang = language(_field(form, "lang"))
    limited = _limited(request, ctx, lang)
    if limited is not None:
        return limited
    return await _status_page(ctx, (_field(form, "receipt") or "")[:100], lang)


@router.post("/follow-up/reply", response_class=HTMLResponse, summary="The reply form's handler (public)",
             responses=REPLY_ANSWERS,
             openapi_extra=_form_body({"lang": LANG, "receipt": RECEIPT,
                                                  "text": "The message (cut at 5,000 characters)"},
                                      required=("receipt", "text")))
async def reply_form(request: Request, ctx: Ctx) -> Response:
    POLICY.authorize(None, "tips.reporter_message")
    form = await request.form(max_files=0, max_fields=10)
    lang = language(_field(form, "lang"))
    limited = _limited(request, ctx, lang)
    if limited is not None:
        return limited
    receipt = (_field(form, "receipt") or "")[:100]
    text = (_field(form, "text") or "")[:5000]
    if not text:
        return await _status_page(ctx, receipt, lang, status=422)
    try:
        await handlers.post_reporter_message(receipt, text, ctx=ctx)
    except NotFound:
        return await _status_page(ctx, receipt, lang)
    except DomainError:
        return await _status_page(ctx, receipt, lang, status=409)
    return await _status_page(ctx, receipt, lang, notice=TEXT[lang]["reply_sent"])


@router.get("/places/{province_code}", summary="A province's communes for the submission form's list (public)",
            responses=ERROR_RESPONSES)
async def province_communes(request: Request, ctx: Ctx,
                            province_code: Annotated[str, PathParam(max_length=20)]) -> JSONResponse:
    POLICY.authorize(None, "tips.submit")
    ctx.limits.lookup(request)
    if places.province(province_code) is None:
        raise NotFound(f"{province_code} is not a province")
    return JSONResponse([{"code": c.code, "name": c.name} for c in places.communes_of(province_code)])


class CommuneUnit(BaseModel):
    unit_id: str = Field(description="What the form sends as `unit`; never shown to the person")
    name: str = Field(description="The unit's name, as registered")
    kind: str = Field(description="agency, enterprise or school")
    kind_label: str = Field(description="The kind in the page's language")


class CommuneUnits(BaseModel):
    items: list[CommuneUnit] = Field(description=f"By name, at most {handlers.COMMUNE_UNITS_MAX}")
    truncated: bool = Field(description="True when the commune has more units than listed")


@router.get("/places/{commune_code}/units", response_model=CommuneUnits,
            summary="A commune's units for the submission form's list (public)",
            responses=ERROR_RESPONSES,
            description="The units registered in exactly this commune (name and kind only), from the tips "
                        "service's own read model of units; limited per client like the other public routes "
                        "(429 with Retry-After); 404 for a code that is not a commune of the national list.")
async def commune_units(request: Request, ctx: Ctx, commune_code: Annotated[str, PathParam(max_length=40)],
                        lang: Annotated[str | None, Query(max_length=5)] = None) -> CommuneUnits:
    POLICY.authorize(None, "tips.commune_units")
    ctx.limits.lookup(request)
    if not _is_commune(commune_code):
        raise NotFound(f"{commune_code} is not a commune")
    listed = await _units_of(ctx, commune_code, language(lang))
    return CommuneUnits(items=[CommuneUnit(**u) for u in listed[:handlers.COMMUNE_UNITS_MAX]],
                        truncated=len(listed) > handlers.COMMUNE_UNITS_MAX)


@router.get("/static/places.js", summary="The submission form's place lists (public)", response_class=Response)
async def places_script() -> Response:
    return Response((HERE / "places.js").read_bytes(), media_type="text/javascript",
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


@router.get("/static/tips.css", summary="The pages' stylesheet (public)", response_class=Response)
async def stylesheet() -> Response:
    return stylesheet_response(HERE / "tips.css")
