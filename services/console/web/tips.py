"""The tip queue of an officer's area, one tip with its actions, and its attachments' downloads."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.clients import ApiError
from services.console.context import ConsoleContext
from services.console.domain import queue
from services.console.i18n import TEXT, refusal, vn_time
from services.console.web.pages import (
    Ctx,
    PageRefused,
    Person,
    api,
    checked_form,
    field,
    redirect,
    render,
    signed_in,
    stream_download,
    unavailable,
    with_lang,
)

router = APIRouter(tags=["console"])


# --- tips ----------------------------------------------------------------------------------------------------

@router.get("/tips", response_class=HTMLResponse, summary="The tip queue of the officer's area")
async def tips_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.tips")
    filters = queue.Filters.parse(request.query_params)
    wanted = filters.api_params()
    cursor = queue.page_cursor(request.query_params)
    # The tips service filters, orders and pages in SQL; the options' counts are those of the whole queue, and
    # the filtered total comes with them when no filter is set.
    calls = [api(ctx, person, "tips", "GET", "/tips", params={
                 **wanted, "sort": "deadline", "limit": queue.PAGE_SIZE, "cursor": cursor}),
             api(ctx, person, "tips", "GET", "/tips/counts", params={"soon_days": queue.DUE_SOON_DAYS})]
    if wanted:
        calls.append(api(ctx, person, "tips", "GET", "/tips/counts", params=wanted))
    try:
        page, whole, *filtered = await asyncio.gather(*calls)
    except ApiError as exc:
        return unavailable(request, person, exc, "tips")
    shown = page["items"]
    categories = await ctx.apis.categories()
    units = await ctx.apis.unit_names(person.account, {i["unit_id"] for i in shown if i.get("unit_id")})
    more = with_lang("/tips", person.lang, **filters.query(), cursor=page["next_cursor"]) \
        if page.get("next_cursor") else None
    return render(request, "tips.html", lang=person.lang, title_key="tips_title", person=person, items=shown,
                  total=(filtered[0] if filtered else whole)["total"], counts=queue.option_counts(whole),
                  filters=filters, now=ctx.now(), categories=categories, units=units, options=queue.OPTIONS,
                  more_url=more, first_url=with_lang("/tips", person.lang, **filters.query()) if cursor else None)


def _timeline(tip: dict[str, Any]) -> list[dict[str, Any]]:
    steps = [{"step": "received", "at": tip["received_at"]}]
    for step, key in (("triaged", "triaged_at"), ("verification_started", "verification_started_at")):
        if tip.get(key):
            steps.append({"step": step, "at": tip[key]})
    steps.extend({"step": "extended", "at": e["requested_at"], "note": e["reason"]} for e in tip["extensions"])
    if tip.get("decided_at"):
        steps.append({"step": "dismissed" if tip["status"] == "dismissed" or tip.get("outcome") in
                      ("unfounded", "duplicate", "prank") else "decided", "at": tip["decided_at"],
                      "outcome": tip.get("outcome")})
    if tip.get("closed_at"):
        steps.append({"step": "closed", "at": tip["closed_at"]})
    return sorted(steps, key=lambda s: str(s["at"]))


async def _tip_page(ctx: ConsoleContext, request: Request, person: Person, tip_id: str, *,
                    errors: dict[str, str] | None = None,
                    form: dict[str, dict[str, str]] | None = None, notice: str | None = None,
                    revealed: dict[str, Any] | None = None, status: int = 200) -> Response:
    try:
        tip = await api(ctx, person, "tips", "GET", f"/tips/{tip_id}")
    except ApiError as exc:
        return unavailable(request, person, exc, "tips")
    categories = await ctx.apis.categories()
    units = await ctx.apis.unit_names(person.account, {tip["unit_id"]} if tip.get("unit_id") else set())
    return render(request, "tip.html", lang=person.lang, title_key="tip_title", person=person, tip=tip,
                  timeline=_timeline(tip), categories=categories, units=units, now=ctx.now(),
                  errors=errors or {}, form=form or {}, notice=notice, revealed=revealed,
                  revealed_at=vn_time(ctx.now(), person.lang) if revealed else None,
                  replies=[m for m in tip["messages"] if not m["internal"]],
                  notes=[m for m in tip["messages"] if m["internal"]], status=status)


@router.get("/tips/{tip_id}", response_class=HTMLResponse, summary="One tip: description, deadlines, actions")
async def tip_page(ctx: Ctx, tip_id: str, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.tips")
    done = request.query_params.get("done")
    notice = {"message": "message_sent", "note": "note_saved"}.get(done or "", "done" if done else None)
    return await _tip_page(ctx, request, person, tip_id, notice=TEXT[person.lang][notice] if notice else None)


# Types a browser may be told as they are: they cannot run script in the console's origin. Anything else (HTML,
@router.get("/tips/{tip_id}/attachments/{attachment_id}", summary="Download a tip's attachment (the tips service "
            "checks the officer's scope and audits the download)", response_class=Response)
async def tip_attachment(ctx: Ctx, tip_id: str, attachment_id: str, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.tips")
    path = f"/tips/{quote(tip_id, safe='')}"
    try:
        tip = await api(ctx, person, "tips", "GET", path)
        meta = next((a for a in tip["attachments"] if a["attachment_id"] == attachment_id), None)
        if meta is None:
            raise ApiError(404, "not_found", "no such attachment")
        upstream = await ctx.apis.download(person.account, "tips",
                                           f"{path}/attachments/{quote(attachment_id, safe='')}")
    except ApiError as exc:
        return unavailable(request, person, exc, "tips")

    return stream_download(upstream, meta["filename"], upstream.headers.get("content-type"))


def _optional(form: Any, *names: str) -> dict[str, Any]:
    return {name: field(form, name) for name in names if field(form, name) is not None}


def _body(action: str, form: Any) -> tuple[str, Any]:
    """The tips API call (path suffix, JSON body) of a form on a tip's page."""
    if action == "triage":
        return "/triage", _optional(form, "category", "priority", "assigned_area", "assigned_officer")
    if action == "begin_verification":
        return "/begin-verification", None
    if action == "verify":
        body = {"outcome": field(form, "outcome") or "", "valuable": form.get("valuable") == "yes"}
        return "/verify", body | _optional(form, "suspension_reason", "note")
    if action == "extend":
        return "/extend", {"reason": field(form, "reason", 2000) or ""}
    if action == "close":
        return "/close", _optional(form, "note")
    if action in ("message", "note"):
        return "/messages", {"text": field(form, "text") or "", "internal": action == "note"}
    if action == "reveal":
        return "/reporter", {"reason": field(form, "reason", 2000) or ""}
    if action == "confirm_duplicate":
        return f"/duplicates/{field(form, 'other_id', 64) or '-'}/confirm", None
    raise KeyError(action)


ACTIONS = ("triage", "begin_verification", "verify", "extend", "close", "message", "note", "reveal",
           "confirm_duplicate")


@router.post("/tips/{tip_id}/{action}", response_class=HTMLResponse,
             summary="An officer's action on a tip, sent to the tips service with the officer's token")
async def tip_action(ctx: Ctx, tip_id: str, action: str, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.tip_action")
    form = await checked_form(request, person)
    if action not in ACTIONS:
        raise PageRefused(404, "not_found")
    suffix, body = _body(action, form)
    try:
        result = await api(ctx, person, "tips", "POST", f"/tips/{tip_id}{suffix}", body=body)
    except ApiError as exc:
        message = refusal(person.lang, exc.status, exc.code, exc.message, exc.details, reason_field="reason")
        kept = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        return await _tip_page(ctx, request, person, tip_id, errors={action: message}, form={action: kept},
                               status=exc.status)
    if action == "reveal":
        # Shown on this answer only (no-store); the reveal is in the tips service's audit trail.
        return await _tip_page(ctx, request, person, tip_id, revealed=result or {})
    anchor = {"message": "messages", "note": "notes"}.get(action, "actions")
    return redirect(with_lang(f"/tips/{tip_id}", person.lang, done=action) + f"#{anchor}")


