"""The console's pages: sign-in, the tip queue, one tip, the inbox, preferences, and the live-update stream.

Every page but `/login` needs a session (a redirect to `/login` otherwise); every form carries the session's
CSRF token (the sign-in form a double-submit cookie). Pages are rendered on the server and work without
JavaScript; `static/console.js` only refreshes the live region when the event stream says something changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.console import queue
from services.console.accounts import Accounts, ActiveSession, SignInRefused, same_token
from services.console.clients import ApiError, ServiceApis
from services.console.domain import Account
from services.console.i18n import LANGUAGES, TEXT, pick_language, refusal, template_globals, vn_time
from services.console.live import LiveHub
from services.console.oidc import ProviderSignIn
from services.console.policy import POLICY
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import Forbidden, Unauthorized
from shared.settings import Settings
from shared.webpages import html_page

router = APIRouter(tags=["console"])

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "antq_console_session"
LOGIN_COOKIE = "antq_console_login"  # the sign-in form's double-submit CSRF value
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   auto_reload=False)
_env.globals.update(template_globals())



class ConsoleMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.sign_ins = Counter("antq_console_sign_ins_total", "Sign-in attempts by result", ["result"],
                                registry=registry)
        self.sessions = Gauge("antq_console_sessions", "Live sessions (expired ones are purged every minute)",
                              registry=registry)
        self.api_errors = Counter("antq_console_api_errors_total", "Calls to a service's API that were refused "
                                  "or failed, by service and status", ["service", "status"], registry=registry)
        self.streams = Gauge("antq_console_open_streams", "Open live-update streams", registry=registry)
        self.live_polls = Counter("antq_console_live_polls_total", "Polls of the services by the shared live "
                                  "pollers, by topic (tips, inbox)", ["topic"], registry=registry)


@dataclass
class ConsoleContext:
    settings: Settings
    accounts: Accounts
    apis: ServiceApis
    metrics: ConsoleMetrics
    live: LiveHub
    clock: Any = utcnow
    provider: ProviderSignIn | None = None  # sign-in with the site's OIDC provider, when configured

    @property
    def password_sign_in(self) -> bool:
        return self.provider is None or self.settings.console_password_sign_in


class SignInRequired(Exception):
    """No live session: the page answers with a redirect to /login."""


class PageRefused(Exception):
    """The page cannot be shown to this person (403) or the form is stale (CSRF): an HTML page says why."""

    def __init__(self, status: int, message_key: str):
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key


@dataclass
class Person:
    """The signed-in person of one request, with the page's language."""

    session: ActiveSession
    lang: str

    @property
    def account(self) -> Account:
        return self.session.account


def ctx_of(request: Request) -> ConsoleContext:
    ctx: ConsoleContext = request.app.state.console
    return ctx


def secure_cookies(request: Request) -> bool:
    public = ctx_of(request).settings.console_public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def principal_of(account: Account) -> Principal:
    return Principal(sub=account.username, role=account.role, area=account.area, unit=account.unit)


async def signed_in(request: Request, action: str) -> Person:
    ctx = ctx_of(request)
    active = await ctx.accounts.resolve(request.cookies.get(SESSION_COOKIE), now=ctx.clock())
    if active is None:
        raise SignInRequired()
    try:
        POLICY.require_caller(principal_of(active.account), action)
    except (Forbidden, Unauthorized) as exc:
        raise PageRefused(403, "refused.forbidden_role") from exc
    return Person(active, pick_language(request.query_params.get("lang"), active.language))


async def checked_form(request: Request, person: Person) -> Any:
    form = await request.form(max_files=0, max_fields=50)
    if not same_token(person.session.csrf, field(form, "csrf", 100)):
        raise PageRefused(403, "form_expired")
    return form


def field(form: Any, name: str, limit: int = 5000) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()[:limit]
    return value or None


def with_lang(path: str, lang: str, **params: str) -> str:
    """A link that keeps a language chosen with ?lang= for this visit."""
    query = {k: v for k, v in params.items() if v}
    if lang != "vi":
        query["lang"] = lang
    return path + ("?" + urlencode(query) if query else "")


def render(request: Request, name: str, *, lang: str, title_key: str, person: Person | None = None,
           status: int = 200, **context: Any) -> HTMLResponse:
    t = TEXT[lang]
    other = "en" if lang == "vi" else "vi"
    switch = dict(request.query_params)
    switch["lang"] = other
    html = _env.get_template(name).render(
        lang=lang, t=t, title=t[title_key], person=person, csrf=person.session.csrf if person else None,
        path=request.url.path, switch_url=request.url.path + "?" + urlencode(switch), other_lang=other,
        link=lambda path, **params: with_lang(path, lang, **params), **context)
    return html_page(html, status=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


async def api(request: Request, person: Person | None, service: str, method: str, path: str, **kw: Any) -> Any:
    ctx = ctx_of(request)
    try:
        return await ctx.apis.call(person.account if person else None, service, method, path, **kw)
    except ApiError as exc:
        ctx.metrics.api_errors.labels(service, str(exc.status)).inc()
        raise


# --- sign-in -------------------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse, summary="The sign-in form (public)")
async def login_page(request: Request, lang: str | None = None) -> Response:
    POLICY.authorize(None, "console.sign_in")
    ctx = ctx_of(request)
    if await ctx.accounts.resolve(request.cookies.get(SESSION_COOKIE), now=ctx.clock()) is not None:
        return redirect("/")
    return _login_form(request, pick_language(lang, None), username="", error=None, status=200)


def _login_form(request: Request, lang: str, *, username: str, error: str | None, status: int) -> Response:
    token = secrets.token_urlsafe(24)
    ctx = ctx_of(request)
    response = render(request, "login.html", lang=lang, title_key="login_title", username=username, error=error,
                      login_csrf=token, status=status, signed_out=request.query_params.get("out") == "1",
                      provider=ctx.provider is not None, password_form=ctx.password_sign_in)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request),
                        path="/login")
    return response


@router.post("/login", response_class=HTMLResponse, summary="The sign-in form's handler (public)")
async def login_form(request: Request) -> Response:
    POLICY.authorize(None, "console.sign_in")
    ctx = ctx_of(request)
    form = await request.form(max_files=0, max_fields=10)
    lang = pick_language(field(form, "lang"), None)
    username = field(form, "username", 64) or ""
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    if not same_token(request.cookies.get(LOGIN_COOKIE) or "", field(form, "csrf", 100)) \
            or not request.cookies.get(LOGIN_COOKIE):
        return _login_form(request, lang, username=username, error=TEXT[lang]["form_expired"], status=403)
    if not ctx.password_sign_in:
        return _login_form(request, lang, username="", error=TEXT[lang]["oidc.password_off"], status=403)
    try:
        signed = await ctx.accounts.sign_in(username, str(password), now=ctx.clock())
    except SignInRefused:
        ctx.metrics.sign_ins.labels("refused").inc()
        return _login_form(request, lang, username=username, error=TEXT[lang]["login_failed"], status=401)
    ctx.metrics.sign_ins.labels("ok").inc()
    response = redirect("/")
    # No Max-Age: the cookie ends with the browser; the server ends the session after idle or absolute time.
    response.set_cookie(SESSION_COOKIE, signed.cookie, httponly=True, samesite="strict",
                        secure=secure_cookies(request), path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict",
                           secure=secure_cookies(request))
    return response


def _signed_out(request: Request) -> Response:
    response = redirect("/login?out=1")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookies(request))
    return response


@router.post("/logout", summary="End this session")
async def logout(request: Request) -> Response:
    person = await signed_in(request, "console.sign_out")
    await checked_form(request, person)
    await ctx_of(request).accounts.sign_out(person.session)
    return _signed_out(request)


@router.post("/logout/everywhere", summary="End every session of the account")
async def logout_everywhere(request: Request) -> Response:
    person = await signed_in(request, "console.sign_out")
    await checked_form(request, person)
    await ctx_of(request).accounts.sign_out_everywhere(person.account.username)
    return _signed_out(request)


@router.get("/", summary="The person's main page (a redirect)")
async def home(request: Request) -> Response:
    person = await signed_in(request, "console.home")
    main = {"admin": "/tips", "officer": "/tips", "unit": "/me", "leader": "/awards"}.get(person.account.role,
                                                                                           "/inbox")
    return redirect(with_lang(main, person.lang) if request.query_params.get("lang") else main)


# --- tips ----------------------------------------------------------------------------------------------------
def _unavailable(request: Request, person: Person, exc: ApiError, service: str) -> HTMLResponse:
    t = TEXT[person.lang]
    message = t["service_unavailable"].format(service=service) if exc.status >= 500 else \
        refusal(person.lang, exc.status, exc.code, exc.message, exc.details)
    return render(request, "error.html", lang=person.lang, title_key="error_title", person=person,
                  message=message, status=exc.status if exc.status >= 400 else 502)


@router.get("/tips", response_class=HTMLResponse, summary="The tip queue of the officer's area")
async def tips_page(request: Request) -> Response:
    person = await signed_in(request, "console.tips")
    ctx = ctx_of(request)
    filters = queue.Filters.parse(request.query_params)
    wanted = filters.api_params()
    cursor = queue.page_cursor(request.query_params)
    # The tips service filters, orders and pages in SQL; the options' counts are those of the whole queue, and
    # the filtered total comes with them when no filter is set.
    calls = [api(request, person, "tips", "GET", "/tips", params={
                 **wanted, "sort": "deadline", "limit": queue.PAGE_SIZE, "cursor": cursor}),
             api(request, person, "tips", "GET", "/tips/counts", params={"soon_days": queue.DUE_SOON_DAYS})]
    if wanted:
        calls.append(api(request, person, "tips", "GET", "/tips/counts", params=wanted))
    try:
        page, whole, *filtered = await asyncio.gather(*calls)
    except ApiError as exc:
        return _unavailable(request, person, exc, "tips")
    shown = page["items"]
    categories = await ctx.apis.categories()
    units = await ctx.apis.unit_names(person.account, {i["unit_id"] for i in shown if i.get("unit_id")})
    more = with_lang("/tips", person.lang, **filters.query(), cursor=page["next_cursor"]) \
        if page.get("next_cursor") else None
    return render(request, "tips.html", lang=person.lang, title_key="tips_title", person=person, items=shown,
                  total=(filtered[0] if filtered else whole)["total"], counts=queue.option_counts(whole),
                  filters=filters, now=ctx.clock(), categories=categories, units=units, options=queue.OPTIONS,
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


async def _tip_page(request: Request, person: Person, tip_id: str, *, errors: dict[str, str] | None = None,
                    form: dict[str, dict[str, str]] | None = None, notice: str | None = None,
                    revealed: dict[str, Any] | None = None, status: int = 200) -> Response:
    ctx = ctx_of(request)
    try:
        tip = await api(request, person, "tips", "GET", f"/tips/{tip_id}")
    except ApiError as exc:
        return _unavailable(request, person, exc, "tips")
    categories = await ctx.apis.categories()
    units = await ctx.apis.unit_names(person.account, {tip["unit_id"]} if tip.get("unit_id") else set())
    return render(request, "tip.html", lang=person.lang, title_key="tip_title", person=person, tip=tip,
                  timeline=_timeline(tip), categories=categories, units=units, now=ctx.clock(),
                  errors=errors or {}, form=form or {}, notice=notice, revealed=revealed,
                  revealed_at=vn_time(ctx.clock(), person.lang) if revealed else None,
                  replies=[m for m in tip["messages"] if not m["internal"]],
                  notes=[m for m in tip["messages"] if m["internal"]], status=status)


@router.get("/tips/{tip_id}", response_class=HTMLResponse, summary="One tip: description, deadlines, actions")
async def tip_page(tip_id: str, request: Request) -> Response:
    person = await signed_in(request, "console.tips")
    done = request.query_params.get("done")
    notice = {"message": "message_sent", "note": "note_saved"}.get(done or "", "done" if done else None)
    return await _tip_page(request, person, tip_id, notice=TEXT[person.lang][notice] if notice else None)


# Types a browser may be told as they are: they cannot run script in the console's origin. Anything else (HTML,
# SVG, XML, scripts) is sent as application/octet-stream, always as a download, with nosniff.
SAFE_DOWNLOAD_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "application/pdf", "text/plain",
    "video/mp4", "video/webm", "video/quicktime", "audio/mpeg", "audio/mp4", "audio/ogg", "audio/wav",
})


def download_headers(filename: str, content_type: str | None) -> dict[str, str]:
    """Content-Type and Content-Disposition of a downloaded attachment: always `attachment`, the original name
    (RFC 6266 `filename*`, with an ASCII fallback), the original type only when it is safe."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return {"Content-Type": kind if kind in SAFE_DOWNLOAD_TYPES else "application/octet-stream",
            "Content-Disposition": f"attachment; filename=\"{ascii_name or 'file'}\"; "
                                   f"filename*=UTF-8''{quote(filename, safe='')}",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


@router.get("/tips/{tip_id}/attachments/{attachment_id}", summary="Download a tip's attachment (the tips service "
            "checks the officer's scope and audits the download)", response_class=Response)
async def tip_attachment(tip_id: str, attachment_id: str, request: Request) -> Response:
    person = await signed_in(request, "console.tips")
    ctx = ctx_of(request)
    path = f"/tips/{quote(tip_id, safe='')}"
    try:
        tip = await api(request, person, "tips", "GET", path)
        meta = next((a for a in tip["attachments"] if a["attachment_id"] == attachment_id), None)
        if meta is None:
            raise ApiError(404, "not_found", "no such attachment")
        upstream = await ctx.apis.download(person.account, "tips",
                                           f"{path}/attachments/{quote(attachment_id, safe='')}")
    except ApiError as exc:
        return _unavailable(request, person, exc, "tips")

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        finally:
            await upstream.aclose()

    headers = download_headers(meta["filename"], upstream.headers.get("content-type"))
    if "content-length" in upstream.headers:
        headers["Content-Length"] = upstream.headers["content-length"]
    return StreamingResponse(body(), headers=headers)


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
async def tip_action(tip_id: str, action: str, request: Request) -> Response:
    person = await signed_in(request, "console.tip_action")
    form = await checked_form(request, person)
    if action not in ACTIONS:
        raise PageRefused(404, "not_found")
    suffix, body = _body(action, form)
    try:
        result = await api(request, person, "tips", "POST", f"/tips/{tip_id}{suffix}", body=body)
    except ApiError as exc:
        message = refusal(person.lang, exc.status, exc.code, exc.message, exc.details, reason_field="reason")
        kept = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        return await _tip_page(request, person, tip_id, errors={action: message}, form={action: kept},
                               status=exc.status)
    if action == "reveal":
        # Shown on this answer only (no-store); the reveal is in the tips service's audit trail.
        return await _tip_page(request, person, tip_id, revealed=result or {})
    anchor = {"message": "messages", "note": "notes"}.get(action, "actions")
    return redirect(with_lang(f"/tips/{tip_id}", person.lang, done=action) + f"#{anchor}")


# --- inbox ---------------------------------------------------------------------------------------------------
@router.get("/inbox", response_class=HTMLResponse, summary="The person's notifications, unread first")
async def inbox_page(request: Request) -> Response:
    person = await signed_in(request, "console.inbox")
    try:
        unread = await api(request, person, "notify", "GET", "/inbox", params={"unread": "true", "limit": 200})
        read = await api(request, person, "notify", "GET", "/inbox", params={"unread": "false", "limit": 50})
    except ApiError as exc:
        return _unavailable(request, person, exc, "notify")
    return render(request, "inbox.html", lang=person.lang, title_key="inbox_title", person=person,
                  unread=unread["items"], read=read["items"])


@router.post("/inbox/{notification_id}/read", summary="Mark a notification read")
async def inbox_read(notification_id: str, request: Request) -> Response:
    person = await signed_in(request, "console.inbox")
    await checked_form(request, person)
    try:
        await api(request, person, "notify", "POST", f"/inbox/{notification_id}/read")
    except ApiError as exc:
        return _unavailable(request, person, exc, "notify")
    return redirect(with_lang("/inbox", person.lang))


LIVE_TOPICS = ("tips", "inbox")
LIVE_POLLER = "console-live"  # the token subject of a queue's shared poller (it reads the newest tip only)


def _newest_of(ctx: ConsoleContext, account: Account, service: str, path: str, key: str) -> Any:
    """A poll of the newest item of one list, as a live topic's poller asks it."""
    async def poll() -> str | None:
        try:
            page = await ctx.apis.call(account, service, "GET", path, params={"limit": 1})
        except ApiError as exc:
            ctx.metrics.api_errors.labels(service, str(exc.status)).inc()
            return None  # a service that does not answer now is asked again at the next poll
        return str(page["items"][0][key]) if page["items"] else ""

    return poll


def _live_topics(ctx: ConsoleContext, account: Account, wanted: list[str]) -> list[tuple[tuple[str, ...], Any]]:
    """The topics a page listens to. A tip queue is the same for everyone of one role and area, so its poller is
    shared by all of them (it asks with a token of that role and area); an inbox is the person's own."""
    topics: list[tuple[tuple[str, ...], Any]] = []
    if "tips" in wanted and account.role in ("admin", "officer"):
        poller = Account(LIVE_POLLER, account.role, area=account.area)
        topics.append((("tips", account.role, account.area or ""),
                       _newest_of(ctx, poller, "tips", "/tips", "tip_id")))
    if "inbox" in wanted:
        topics.append((("inbox", account.username), _newest_of(ctx, account, "notify", "/inbox", "notification_id")))
    return topics


@router.get("/events", summary="Server-sent events: `tips` and `inbox` when something new arrives "
            "(`?topic=tips` or `?topic=inbox` for one of them)")
async def events(request: Request) -> Response:
    person = await signed_in(request, "console.inbox")
    ctx = ctx_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    wanted = [t for t in request.query_params.getlist("topic") if t in LIVE_TOPICS] or list(LIVE_TOPICS)
    interval = ctx.settings.console_inbox_poll_seconds

    async def stream() -> AsyncIterator[str]:
        ctx.metrics.streams.inc()
        try:
            async with contextlib.AsyncExitStack() as stack:
                news: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
                for key, poll in _live_topics(ctx, person.account, wanted):
                    inbox = await stack.enter_async_context(ctx.live.subscribe(key, poll))
                    stack.push_async_callback(_cancelled, asyncio.create_task(_forward(key[0], inbox, news)))
                yield f"retry: {int(interval * 1000)}\n\n"
                while True:
                    with contextlib.suppress(TimeoutError):
                        name, mark = await asyncio.wait_for(news.get(), timeout=interval)
                        yield f"event: {name}\ndata: {mark}\n\n"
                    # An open page must not keep a session alive: resolve without touching it.
                    if await ctx.accounts.resolve(cookie, now=ctx.clock(), touch=False) is None:
                        yield "event: signed-out\ndata: \n\n"
                        return
                    yield ": keep-alive\n\n"
        finally:
            ctx.metrics.streams.dec()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _forward(name: str, inbox: asyncio.Queue[str], news: asyncio.Queue[tuple[str, str]]) -> None:
    while True:
        news.put_nowait((name, await inbox.get()))


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# --- preferences ---------------------------------------------------------------------------------------------
CHANNEL_CHOICES = ("inbox", "email", "sms", "webhook")


async def _preferences_page(request: Request, person: Person, *, notice: str | None = None,
                            error: str | None = None, status: int = 200) -> Response:
    try:
        prefs = await api(request, person, "notify", "GET", "/preferences")
    except ApiError as exc:
        return _unavailable(request, person, exc, "notify")
    return render(request, "preferences.html", lang=person.lang, title_key="preferences_title", person=person,
                  prefs=prefs, channels=CHANNEL_CHOICES, languages=LANGUAGES, notice=notice, error=error,
                  status=status, language=person.session.language or "vi")


@router.get("/me/preferences", response_class=HTMLResponse, summary="Language, channels and quiet hours")
async def preferences_page(request: Request) -> Response:
    person = await signed_in(request, "console.preferences")
    return await _preferences_page(request, person)


@router.post("/me/preferences", response_class=HTMLResponse, summary="Save language, channels and quiet hours")
async def preferences_form(request: Request) -> Response:
    person = await signed_in(request, "console.preferences")
    form = await checked_form(request, person)
    ctx = ctx_of(request)
    language = field(form, "language")
    if language in LANGUAGES:
        await ctx.accounts.set_language(person.account.username, str(language), now=ctx.clock())
        person = Person(person.session, pick_language(request.query_params.get("lang"), language))
    try:
        current = await api(request, person, "notify", "GET", "/preferences")
        chosen = [c for c in form.getlist("channels") if c in CHANNEL_CHOICES]
        start, end = field(form, "quiet_start", 5), field(form, "quiet_end", 5)
        body = {k: current.get(k) for k in ("mode", "digest_at", "timezone", "email", "phone")}
        body.update(channels=chosen or None, language=language if language in LANGUAGES else current["language"],
                    quiet_hours={"start": start, "end": end} if start and end else None)
        await api(request, person, "notify", "PUT", "/preferences", body=body)
    except ApiError as exc:
        return await _preferences_page(request, person, status=exc.status,
                                       error=refusal(person.lang, exc.status, exc.code, exc.message, exc.details))
    return await _preferences_page(request, person, notice=TEXT[person.lang]["saved"])


# --- assets --------------------------------------------------------------------------------------------------
@router.get("/static/{name}", summary="The console's stylesheet and script (public)", response_class=Response)
async def static(name: str) -> Response:
    if name not in STATIC:
        return Response(status_code=404)
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name],
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


def page_refused(request: Request, exc: PageRefused) -> HTMLResponse:
    lang = pick_language(request.query_params.get("lang"), None)
    return render(request, "error.html", lang=lang, title_key="error_title", message=TEXT[lang][exc.message_key],
                  status=exc.status)


def sign_in_required(request: Request) -> Response:
    if request.url.path == "/events":
        return Response(status_code=401, headers={"Cache-Control": "no-store"})
    return redirect("/login")
