"""The person's language, notification channels and quiet hours."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.clients import ApiError, Channel
from services.console.context import ConsoleContext
from services.console.i18n import LANGUAGES, TEXT, pick_language, refusal
from services.console.web.pages import (
    Ctx,
    Person,
    api,
    checked_form,
    field,
    render,
    signed_in,
    unavailable,
)

router = APIRouter(tags=["console"])


# --- preferences ---------------------------------------------------------------------------------------------
async def _channels(ctx: ConsoleContext, person: Person) -> list[Channel] | None:
    """The channels notify offers (None, and the page says so, when notify does not give its list)."""
    try:
        return await ctx.apis.channels(person.account)
    except ApiError as exc:
        ctx.metrics.api_errors.labels("notify", str(exc.status)).inc()
        return None


async def _preferences_page(ctx: ConsoleContext, request: Request, person: Person, *, notice: str | None = None,
                            error: str | None = None, status: int = 200) -> Response:
    try:
        prefs = await api(ctx, person, "notify", "GET", "/preferences")
    except ApiError as exc:
        return unavailable(request, person, exc, "notify")
    channels = await _channels(ctx, person)
    return render(request, "preferences.html", lang=person.lang, title_key="preferences_title", person=person,
                  prefs=prefs, languages=LANGUAGES, notice=notice, error=error, status=status,
                  channels=[(c.name, c.label(person.lang)) for c in channels] if channels is not None else None,
                  language=person.session.language or "vi")


@router.get("/me/preferences", response_class=HTMLResponse, summary="Language, channels and quiet hours")
async def preferences_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.preferences")
    return await _preferences_page(ctx, request, person)


@router.post("/me/preferences", response_class=HTMLResponse, summary="Save language, channels and quiet hours")
async def preferences_form(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.preferences")
    form = await checked_form(request, person)
    language = field(form, "language")
    if language in LANGUAGES:
        await ctx.accounts.set_language(person.account.username, str(language), now=ctx.now())
        person = Person(person.session, pick_language(request.query_params.get("lang"), language))
    try:
        current = await api(ctx, person, "notify", "GET", "/preferences")
        offered = await _channels(ctx, person)
        # Without notify's list the choice cannot be checked: the channels stay as they are.
        chosen = [c for c in form.getlist("channels") if c in {o.name for o in offered}] if offered is not None \
            else current.get("channels")
        start, end = field(form, "quiet_start", 5), field(form, "quiet_end", 5)
        body = {k: current.get(k) for k in ("mode", "digest_at", "timezone", "email", "phone")}
        body.update(channels=chosen or None, language=language if language in LANGUAGES else current["language"],
                    quiet_hours={"start": start, "end": end} if start and end else None)
        await api(ctx, person, "notify", "PUT", "/preferences", body=body)
    except ApiError as exc:
        return await _preferences_page(ctx, request, person, status=exc.status,
                                       error=refusal(person.lang, exc.status, exc.code, exc.message, exc.details))
    return await _preferences_page(ctx, request, person, notice=TEXT[person.lang]["saved"])
