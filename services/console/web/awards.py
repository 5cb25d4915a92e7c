"""Leaders' pages: the proposals awaiting their level with the dossier they rest on, approval with a decision
number and date (one by one or for the selected rows), rejection with a reason, granting and printing the
certificate, and the annulled awards with their cause.

Everything is read and decided through the awards service's API with the person's own token: the awards
service checks the area and the level a leader's token reaches (`403 forbidden_level` above it), so the console
only chooses what to show first.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.clients import ApiError
from services.console.context import ConsoleContext
from services.console.i18n import TEXT, refusal
from services.console.web.pages import (
    Ctx,
    Person,
    api,
    checked_form,
    field,
    redirect,
    render,
    signed_in,
    unavailable,
    with_lang,
)
from shared.calendar import local_date
from shared.webpages import html_page

router = APIRouter(tags=["console"])

SHOWS = ("pending", "approved", "granted", "annulled", "rejected")
# The levels a leader decides at: their own and every lower one, as the awards service counts them (the province's
# People's Committee and its police are different authorities of the same rank).
REACH = {"commune": ("unit", "commune"), "police_unit": ("unit", "commune", "police_unit"),
         "province": ("unit", "commune", "province"),
         "ministry": ("unit", "commune", "police_unit", "province", "ministry")}
PAGE_SIZE = 100
BATCH_SECONDS_PER_ROW = 0.2  # the batch approval's allowance per row, on top of a page's timeout


def levels_of(person: Person) -> tuple[str, ...] | None:
    """The levels a leader's list shows (None: every level, for officers and admins)."""
    account = person.account
    return REACH.get(account.level or "") if account.role == "leader" else None


async def rules_for(ctx: ConsoleContext, request: Request, province: str | None) -> dict[str, Any]:
    """The award rules in force for a province (names of award types and levels, quotas), cached."""

    async def load() -> dict[str, Any]:
        data: dict[str, Any] = await ctx.apis.call(None, "awards", "GET", "/rules", params={"province": province})
        return data

    try:
        return dict(await ctx.apis.cached(f"rules:{province or ''}", load))
    except ApiError:
        return {}


class Names:
    """Award type and level names of the rules in force, per province, in the page's language."""

    def __init__(self, rules: dict[str | None, dict[str, Any]], lang: str):
        self.rules = rules
        self.lang = lang

    def _of(self, award: dict[str, Any]) -> dict[str, Any]:
        return self.rules.get(award.get("province_code")) or self.rules.get(None) or {}

    def award(self, award: dict[str, Any]) -> str:
        names = (self._of(award).get("award_types", {}).get(award["award_type"]) or {}).get("name") or {}
        return str(names.get(self.lang) or names.get("vi") or award["award_type"])

    def level(self, award: dict[str, Any], level: str | None = None) -> str:
        level = level or award["level"]
        names = self._of(award).get("levels", {}).get(level) or {}
        return str(names.get(self.lang) or names.get("vi") or level)

    def recipient(self, award: dict[str, Any]) -> str:
        if award["recipient_kind"] == "reporter":
            return TEXT[self.lang]["aw.reporter"]
        return str(award.get("recipient_name") or TEXT[self.lang]["aw.unnamed"])


async def names_for(ctx: ConsoleContext, request: Request, awards: list[dict[str, Any]], lang: str) -> Names:
    provinces = {a.get("province_code") for a in awards} | {None}
    return Names({p: await rules_for(ctx, request, p) for p in provinces}, lang)


def _refusal(lang: str, exc: ApiError) -> str:
    known = TEXT[lang].get(f"aw.refused.{exc.code}")
    return known if known else refusal(lang, exc.status, exc.code, exc.message, exc.details)


# --- the list ------------------------------------------------------------------------------------------------------
async def _list_page(ctx: ConsoleContext, request: Request, person: Person, *, show: str,
                     result: dict[str, Any] | None = None,
                     error: str | None = None, form: dict[str, str] | None = None, status: int = 200) -> Response:
    cursor = (request.query_params.get("cursor") or "")[:200] or None
    params: dict[str, Any] = {"limit": PAGE_SIZE, "cursor": cursor if result is None and error is None else None}
    if show == "pending":
        params["pending"] = "true"
        levels = levels_of(person)
        if levels is not None:
            params["level"] = list(levels)
    else:
        params["status"] = show
    try:
        page = await api(ctx, person, "awards", "GET", "/awards", params=params)
    except ApiError as exc:
        return unavailable(request, person, exc, "awards", _refusal)
    items = page["items"]
    names = await names_for(ctx, request, items, person.lang)
    now = ctx.now()
    if result is not None:
        known = {a["award_id"]: a for a in items}
        for item in result["items"]:
            item["name"] = names.recipient(known[item["award_id"]]) if item["award_id"] in known else ""
            if item.get("error"):
                e = item["error"]
                item["message"] = _refusal(person.lang, ApiError(e["status"], e["code"], e["message"],
                                                                 e.get("details")))
    return render(request, "awards.html", lang=person.lang, title_key="aw.title", person=person, items=items,
                  show=show, shows=SHOWS, names=names, result=result, error=error, form=form or {}, now=now,
                  today=local_date(now).isoformat(), status=status,
                  more_url=with_lang("/awards", person.lang, show=show if show != "pending" else "",
                                     cursor=page["next_cursor"]) if page.get("next_cursor") else None,
                  tabs=[(s, with_lang("/awards", person.lang, show=s if s != "pending" else "")) for s in SHOWS])


@router.get("/awards", response_class=HTMLResponse, summary="Proposals awaiting the leader's level; decided awards")
async def awards_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.awards")
    show = request.query_params.get("show") or "pending"
    return await _list_page(ctx, request, person, show=show if show in SHOWS else "pending")


CERTIFICATE_CSS = "/awards/certificate.css"


@router.get(CERTIFICATE_CSS, response_class=Response, summary="The certificate page's stylesheet")
async def certificate_css(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.awards")
    try:
        response = await ctx.apis.download(person.account, "awards", "/static/certificate.css")
        try:
            css = await response.aread()
        finally:
            await response.aclose()
    except ApiError:
        return Response(status_code=502)
    return Response(css, media_type="text/css",
                    headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})


@router.post("/awards/approvals", response_class=HTMLResponse,
             summary="Approve the selected proposals with one decision number and date")
async def batch_approve(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.award_action")
    form = await checked_form(request, person)
    chosen = [str(v)[:100] for v in form.getlist("award_id") if isinstance(v, str) and v][:500]
    kept = {"decision_no": field(form, "decision_no", 200) or "", "decided_on": field(form, "decided_on", 10) or ""}
    t = TEXT[person.lang]
    if not chosen:
        return await _list_page(ctx, request, person, show="pending", error=t["aw.none_selected"], form=kept,
                                status=422)
    if not kept["decision_no"]:
        return await _list_page(ctx, request, person, show="pending", error=t["aw.decision_required"], form=kept,
                                status=422)
    decided_on = _date(kept["decided_on"])
    if kept["decided_on"] and decided_on is None:
        return await _list_page(ctx, request, person, show="pending", error=t["aw.bad_date"], form=kept, status=422)
    # Names of the rows before the call: an approved row leaves the pending list.
    try:
        before = await api(ctx, person, "awards", "GET", "/awards",
                           params={"pending": "true", "limit": 500})
        # Each row is its own transaction in the awards service (about 25 ms): give the call the time it needs.
        result = await api(ctx, person, "awards", "POST", "/awards/approvals", body={
            "award_ids": chosen, "decision_no": kept["decision_no"],
            "decided_on": decided_on.isoformat() if decided_on else None},
            timeout=ctx.settings.console_http_timeout + BATCH_SECONDS_PER_ROW * len(chosen))
    except ApiError as exc:
        return await _list_page(ctx, request, person, show="pending", error=_refusal(person.lang, exc), form=kept,
                                status=exc.status if exc.status >= 400 else 502)
    names = await names_for(ctx, request, before["items"], person.lang)
    known = {a["award_id"]: names.recipient(a) for a in before["items"]}
    for item in result["items"]:
        item["label"] = known.get(item["award_id"], "")
    return await _list_page(ctx, request, person, show="pending", result=result)


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


# --- one award -----------------------------------------------------------------------------------------------------
async def _award_page(ctx: ConsoleContext, request: Request, person: Person, award_id: str, *,
                      errors: dict[str, str] | None = None, form: dict[str, str] | None = None,
                      notice: str | None = None, status: int = 200) -> Response:
    try:
        award = await api(ctx, person, "awards", "GET", f"/awards/{award_id}")
    except ApiError as exc:
        return unavailable(request, person, exc, "awards", _refusal)
    names = await names_for(ctx, request, [award], person.lang)
    recognitions: list[dict[str, Any]] = []
    if award["recipient_kind"] == "unit":
        try:
            facts = await api(ctx, person, "awards", "GET", f"/units/{award['recipient_ref']}/certifications")
        except ApiError:
            facts = []
        basis = set(award["basis"])
        recognitions = [{**f, "used": f.get("certified_event_id") in basis} for f in facts if f["certified"]]
    now = ctx.now()
    return render(request, "award.html", lang=person.lang, title_key="aw.award_title", person=person, award=award,
                  names=names, recognitions=recognitions, errors=errors or {}, form=form or {}, notice=notice,
                  today=local_date(now).isoformat(), now=now, status=status,
                  may_decide=levels_of(person) is None or award["level"] in (levels_of(person) or ()))


@router.get("/awards/{award_id}", response_class=HTMLResponse, summary="One award with its dossier and steps")
async def award_page(ctx: Ctx, request: Request, award_id: str) -> Response:
    person = await signed_in(ctx, request, "console.awards")
    done = request.query_params.get("done")
    notice = TEXT[person.lang].get(f"aw.done.{done}") if done else None
    return await _award_page(ctx, request, person, award_id, notice=notice)


async def _act(ctx: ConsoleContext, request: Request, award_id: str, action: str) -> Response:
    person = await signed_in(ctx, request, "console.award_action")
    form = await checked_form(request, person)
    t = TEXT[person.lang]
    kept = {k: field(form, k, 2000) or "" for k in ("decision_no", "decided_on", "reason")}
    body: dict[str, Any] | None = None
    if action == "approve":
        decided_on = _date(kept["decided_on"])
        if not kept["decision_no"]:
            return await _award_page(ctx, request, person, award_id, errors={"approve": t["aw.decision_required"]},
                                     form=kept, status=422)
        if kept["decided_on"] and decided_on is None:
            return await _award_page(ctx, request, person, award_id, errors={"approve": t["aw.bad_date"]}, form=kept,
                                     status=422)
        body = {"decision_no": kept["decision_no"][:200],
                "decided_on": decided_on.isoformat() if decided_on else None}
    elif action == "reject":
        if not kept["reason"]:
            return await _award_page(ctx, request, person, award_id, errors={"reject": t["aw.reason_required"]},
                                     form=kept, status=422)
        body = {"reason": kept["reason"]}
    try:
        await api(ctx, person, "awards", "POST", f"/awards/{award_id}/{action}", body=body)
    except ApiError as exc:
        return await _award_page(ctx, request, person, award_id, errors={action: _refusal(person.lang, exc)},
                                 form=kept, status=exc.status if exc.status >= 400 else 502)
    return redirect(with_lang(f"/awards/{award_id}", person.lang, done=action))


@router.post("/awards/{award_id}/approve", response_class=HTMLResponse, summary="Approve with a decision number")
async def approve(ctx: Ctx, request: Request, award_id: str) -> Response:
    return await _act(ctx, request, award_id, "approve")


@router.post("/awards/{award_id}/reject", response_class=HTMLResponse, summary="Reject with a reason")
async def reject(ctx: Ctx, request: Request, award_id: str) -> Response:
    return await _act(ctx, request, award_id, "reject")


@router.post("/awards/{award_id}/grant", response_class=HTMLResponse, summary="Grant: issue the certificate")
async def grant(ctx: Ctx, request: Request, award_id: str) -> Response:
    return await _act(ctx, request, award_id, "grant")


# --- the printable certificate -------------------------------------------------------------------------------------
@router.get("/awards/{award_id}/certificate", response_class=HTMLResponse,
            summary="The award's certificate, printable (the awards service's print page)")
async def certificate(ctx: Ctx, request: Request, award_id: str) -> Response:
    person = await signed_in(ctx, request, "console.awards")
    try:
        award = await api(ctx, person, "awards", "GET", f"/awards/{award_id}")
    except ApiError as exc:
        return unavailable(request, person, exc, "awards", _refusal)
    if not award.get("certificate_id"):
        return unavailable(request, person, ApiError(404, "not_found", "no certificate"), "awards", _refusal)
    try:
        response = await ctx.apis.download(person.account, "awards",
                                           f"/certificates/{award['certificate_id']}/print")
        try:
            html = (await response.aread()).decode()
        finally:
            await response.aclose()
    except ApiError as exc:
        return unavailable(request, person, exc, "awards", _refusal)
    # The page's stylesheet lives on the awards service: the console serves it too.
    html = html.replace('href="/static/certificate.css"', f'href="{CERTIFICATE_CSS}"')
    return html_page(html)
