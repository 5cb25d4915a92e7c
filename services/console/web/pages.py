"""The helpers every page of the console shares: the session and its CSRF token, the page's language, rendering,
calls to the services' APIs, and the pages that say why something cannot be shown.

Every page but `/login` needs a session (a redirect to `/login` otherwise); every form carries the session's
CSRF token (the sign-in form a double-submit cookie). Pages are rendered on the server and work without
JavaScript; `static/console.js` only refreshes the live region when the event stream says something changed.
Routes take the console's context as `ctx: Ctx` (installed by app.py with `shared.deps.install_context`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.console.clients import ApiError
from services.console.context import ConsoleContext
from services.console.domain.accounts import Account
from services.console.handlers import ActiveSession, same_token
from services.console.i18n import TEXT, pick_language, refusal, template_globals
from services.console.policy import POLICY
from shared.auth import Principal
from shared.deps import context
from shared.errors import Forbidden, Unauthorized
from shared.webpages import html_page

Ctx = Annotated[ConsoleContext, Depends(context)]

HERE = Path(__file__).resolve().parents[1]
SESSION_COOKIE = "antq_console_session"
LOGIN_COOKIE = "antq_console_login"  # the sign-in form's double-submit CSRF value

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   auto_reload=False)
_env.globals.update(template_globals())


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


def secure_cookies(ctx: ConsoleContext, request: Request) -> bool:
    public = ctx.settings.console_public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def principal_of(account: Account) -> Principal:
    return Principal(sub=account.username, role=account.role, area=account.area, unit=account.unit)


async def signed_in(ctx: ConsoleContext, request: Request, action: str) -> Person:
    active = await ctx.accounts.resolve(request.cookies.get(SESSION_COOKIE), now=ctx.now())
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


async def api(ctx: ConsoleContext, person: Person | None, service: str, method: str, path: str, **kw: Any) -> Any:
    try:
        return await ctx.apis.call(person.account if person else None, service, method, path, **kw)
    except ApiError as exc:
        ctx.metrics.api_errors.labels(service, str(exc.status)).inc()
        raise


Refused = Callable[[str, ApiError], str]  # an area's words for a service's refusal: (language, error) -> message


def service_message(lang: str, exc: ApiError, service: str, refused: Refused | None = None) -> str:
    """Why a service's answer cannot be shown: it did not answer (5xx), or its refusal in the page's language, in
    the area's own words (`refused`) or the generic ones."""
    if exc.status >= 500:
        return TEXT[lang]["service_unavailable"].format(service=TEXT[lang].get(f"ad.service.{service}", service))
    if refused is not None:
        return refused(lang, exc)
    return refusal(lang, exc.status, exc.code, exc.message, exc.details)


def unavailable(request: Request, person: Person, exc: ApiError, service: str,
                refused: Refused | None = None) -> HTMLResponse:
    """The page of a service that refused the call or did not answer, with the service's status (502 for an
    answer that was neither a success nor an error)."""
    return render(request, "error.html", lang=person.lang, title_key="error_title", person=person,
                  message=service_message(person.lang, exc, service, refused),
                  status=exc.status if exc.status >= 400 else 502)


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


def stream_download(upstream: Any, filename: str, content_type: str | None) -> StreamingResponse:
    """Pass a service's file response through to the browser as it arrives (never held in memory), with the
    download headers; the upstream response is closed when the browser has it all or goes away."""

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        finally:
            await upstream.aclose()

    headers = download_headers(filename, content_type)
    if "content-length" in upstream.headers:
        headers["Content-Length"] = upstream.headers["content-length"]
    return StreamingResponse(body(), headers=headers)


def page_refused(request: Request, exc: PageRefused) -> HTMLResponse:
    lang = pick_language(request.query_params.get("lang"), None)
    return render(request, "error.html", lang=lang, title_key="error_title", message=TEXT[lang][exc.message_key],
                  status=exc.status)


def sign_in_required(request: Request) -> Response:
    if request.url.path == "/events":
        return Response(status_code=401, headers={"Cache-Control": "no-store"})
    return redirect("/login")
