"""The movement's report pages: `/reports` (a year and an area, the figures beside the previous year's, charts)
and its exports `/reports/report.xlsx` and `/reports/report.pdf`.

Every figure comes from the units, tips and awards services' `GET /stats`, asked with the person's own token,
so a service's scope rules apply as they do to any client; the console also refuses an area outside the person's
before asking (officers and leaders: their area and what it contains; admins: any, or the whole country).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from services.console.clients import ApiError
from services.console.context import ConsoleContext
from services.console.domain import reports
from services.console.i18n import TEXT, refusal
from services.console.policy import POLICY
from services.console.web.pages import Ctx, PageRefused, Person, api, principal_of, render, signed_in, with_lang
from shared import places
from shared.calendar import assessment_year_of
from shared.errors import Forbidden, Unauthorized

router = APIRouter(tags=["console"])

YEARS_BACK = 10  # years the form offers before the current assessment year
FIRST_YEAR, LAST_YEAR = 2001, 2200  # the services answer 2000..2200; a report also reads the year before


class BadQuery(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _query(request: Request, person: Person, now: datetime) -> tuple[int, str | None]:
    """The year and area asked for; by default this assessment year and the person's own area."""
    raw_year = request.query_params.get("year")
    if raw_year in (None, ""):
        year = assessment_year_of(now)
    else:
        try:
            year = int(str(raw_year))
        except ValueError:
            raise BadQuery("report.bad_year") from None
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise BadQuery("report.bad_year")
    if "area" in request.query_params:
        area = (request.query_params.get("area") or "").strip() or None
    else:
        area = person.account.area
    if area is not None and not places.is_known_area(area):
        raise BadQuery("report.bad_area")
    try:
        POLICY.authorize(principal_of(person.account), "console.reports", area=area)
    except (Forbidden, Unauthorized) as exc:
        raise PageRefused(403, "report.outside_area") from exc
    return year, area


def area_choices(person: Person, chosen: str | None) -> list[tuple[str, str]]:
    """(code, name) of the areas the form offers: an officer's or leader's area and the communes of a province;
    for an admin (or an unscoped leader) the whole country and the provinces."""
    lang = person.lang
    own = person.account.area
    if own is None or person.account.role == "admin":
        choices = [("", reports.area_name(None, lang))]
        choices += [(p.code, reports.area_name(p.code, lang)) for p in places.provinces()]
    else:
        choices = [(own, reports.area_name(own, lang))]
        choices += [(p.code, reports.area_name(p.code, lang)) for p in places.communes_of(own)]
    if chosen and chosen not in {c for c, _ in choices}:
        choices.insert(1, (chosen, reports.area_name(chosen, lang)))
    return choices


async def _names(ctx: ConsoleContext, request: Request, person: Person, area: str | None) -> dict[str, dict[str, str]]:
    """Names of the breakdowns' codes the services publish: tip categories, award types (the rules in force)."""
    names: dict[str, dict[str, str]] = {
        "category": {code: pair[person.lang] for code, pair in (await ctx.apis.categories()).items()}}
    province = area.split(".", 1)[0] if area else None

    async def load() -> dict[str, dict[str, str]]:
        rules = await ctx.apis.call(None, "awards", "GET", "/rules", params={"province": province})
        return {code: dict(t.get("name") or {}) for code, t in (rules.get("award_types") or {}).items()}

    try:
        types = await ctx.apis.cached(f"award_types:{province}", load)
        names["award_type"] = {code: name.get(person.lang) or code for code, name in types.items()}
    except (ApiError, AttributeError, TypeError):
        pass  # the codes are shown instead
    return names


async def load_report(ctx: ConsoleContext, request: Request, person: Person, year: int,
                      area: str | None) -> reports.Report:
    """The three services' `/stats` of the year and the year before (six calls at once), as a report."""
    params = [{"year": y, "area_code": area} for y in (year, year - 1)]
    answers = await asyncio.gather(*(api(ctx, person, source, "GET", "/stats", params=p)
                                     for p in params for source in reports.SOURCES))
    n = len(reports.SOURCES)
    now = dict(zip(reports.SOURCES, answers[:n], strict=True))
    before = dict(zip(reports.SOURCES, answers[n:], strict=True))
    return reports.build(now, before, year=year, area_code=area, lang=person.lang, made_at=ctx.now(),
                         names=await _names(ctx, request, person, area))


def _form(person: Person, now: datetime, year: int | None = None, area: str | None = None) -> dict[str, Any]:
    """The query form's choices and values: this assessment year and the ten before (and the year asked for)."""
    this_year = assessment_year_of(now)
    years = list(range(this_year, this_year - YEARS_BACK - 1, -1))
    if year is not None and year not in years:
        years = sorted({*years, year}, reverse=True)
    area = person.account.area if area is None and year is None else area
    return {"years": years, "year": year or this_year, "area": area or "", "areas": area_choices(person, area)}


def _refused_page(request: Request, person: Person, message: str, status: int, **form: Any) -> HTMLResponse:
    return render(request, "reports.html", lang=person.lang, title_key="reports_title", person=person,
                  report=None, error=message, status=status, **form)


def _service_refusal(person: Person, exc: ApiError) -> str:
    t = TEXT[person.lang]
    if exc.status >= 500:
        return t["service_unavailable"].format(service="/stats")
    if exc.status == 403:
        return t["report.outside_area"]
    return refusal(person.lang, exc.status, exc.code, exc.message, exc.details)


@router.get("/reports", response_class=HTMLResponse,
            summary="The movement's figures for a year and an area beside the previous year's, with charts")
async def reports_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.reports")
    now = ctx.now()
    try:
        year, area = _query(request, person, now)
    except BadQuery as exc:
        return _refused_page(request, person, TEXT[person.lang][exc.key], 400, **_form(person, now))
    form = _form(person, now, year, area)
    try:
        report = await load_report(ctx, request, person, year, area)
    except ApiError as exc:
        return _refused_page(request, person, _service_refusal(person, exc), exc.status if exc.status < 500
                             else 503, **form)
    t = TEXT[person.lang]
    legend = (t["report.year"].format(y=year), t["report.year"].format(y=year - 1))
    charts = {}
    for section in report.sections:
        svg = reports.chart_svg(section, report, legend=legend, title=t["report.chart"].format(
            section=section.title, y=year, p=year - 1))
        if svg:
            charts[section.code] = Markup(svg)  # chart_svg escapes every text it writes
    query = {"year": str(year), "area": area or ""}
    return render(request, "reports.html", lang=person.lang, title_key="reports_title", person=person,
                  report=report, charts=charts, number=reports.number, error=None,
                  xlsx_url=with_lang("/reports/report.xlsx", person.lang, **query),
                  pdf_url=with_lang("/reports/report.pdf", person.lang, **query), **form)


def _report_file(kind: str, report: reports.Report) -> bytes:
    """The spreadsheet or the PDF, made in a worker thread. Their libraries (openpyxl, fpdf2 with fontTools, Pillow
    and lxml: 27 MiB) are loaded by the first export, not when the console starts."""
    from services.console.domain import report_files

    return report_files.xlsx(report) if kind == "xlsx" else report_files.pdf(report)


async def _export(ctx: ConsoleContext, request: Request, kind: str) -> Response:
    person = await signed_in(ctx, request, "console.reports")
    now = ctx.now()
    try:
        year, area = _query(request, person, now)
    except BadQuery as exc:
        return _refused_page(request, person, TEXT[person.lang][exc.key], 400, **_form(person, now))
    try:
        report = await load_report(ctx, request, person, year, area)
    except ApiError as exc:
        return _refused_page(request, person, _service_refusal(person, exc),
                             exc.status if exc.status < 500 else 503, **_form(person, now, year, area))
    body = await asyncio.to_thread(_report_file, kind, report)
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if kind == "xlsx" \
        else "application/pdf"
    name = f"bao-cao-antq-{year}-{(area or 'toan-quoc').replace('.', '-')}.{kind}"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


@router.get("/reports/report.xlsx", response_class=Response,
            summary="The report as a workbook: the report sheet and every /stats figure by key")
async def report_xlsx(ctx: Ctx, request: Request) -> Response:
    return await _export(ctx, request, "xlsx")


@router.get("/reports/report.pdf", response_class=Response,
            summary="The report as a PDF laid out like a police summary report (sơ kết / tổng kết)")
async def report_pdf(ctx: Ctx, request: Request) -> Response:
    return await _export(ctx, request, "pdf")
