"""Sign-in with a password, sign-out, the main page's redirect, and the console's stylesheet and script."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.context import ConsoleContext
from services.console.handlers import SignInRefused, same_token
from services.console.i18n import TEXT, pick_language
from services.console.policy import POLICY
from services.console.web.pages import (
    HERE,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Ctx,
    checked_form,
    field,
    redirect,
    render,
    secure_cookies,
    signed_in,
    with_lang,
)

router = APIRouter(tags=["console"])


# --- sign-in -------------------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse, summary="The sign-in form (public)")
async def login_page(ctx: Ctx, request: Request, lang: str | None = None) -> Response:
    POLICY.authorize(None, "console.sign_in")
    if await ctx.accounts.resolve(request.cookies.get(SESSION_COOKIE), now=ctx.now()) is not None:
        return redirect("/")
    return login_form_page(ctx, request, pick_language(lang, None), username="", error=None, status=200)


def login_form_page(ctx: ConsoleContext, request: Request, lang: str, *, username: str, error: str | None,
                    status: int) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", lang=lang, title_key="login_title", username=username, error=error,
                      login_csrf=token, status=status, signed_out=request.query_params.get("out") == "1",
                      provider=ctx.provider is not None, password_form=ctx.password_sign_in)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(ctx, request),
                        path="/login")
    return response


@router.post("/login", response_class=HTMLResponse, summary="The sign-in form's handler (public)")
async def login_form(ctx: Ctx, request: Request) -> Response:
    POLICY.authorize(None, "console.sign_in")
    form = await request.form(max_files=0, max_fields=10)
    lang = pick_language(field(form, "lang"), None)
    username = field(form, "username", 64) or ""
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    if not same_token(request.cookies.get(LOGIN_COOKIE) or "", field(form, "csrf", 100)) \
            or not request.cookies.get(LOGIN_COOKIE):
        return login_form_page(ctx, request, lang, username=username, error=TEXT[lang]["form_expired"], status=403)
    if not ctx.password_sign_in:
        return login_form_page(ctx, request, lang, username="", error=TEXT[lang]["oidc.password_off"], status=403)
    try:
        signed = await ctx.accounts.sign_in(username, str(password), now=ctx.now())
    except SignInRefused:
        ctx.metrics.sign_ins.labels("refused").inc()
        return login_form_page(ctx, request, lang, username=username, error=TEXT[lang]["login_failed"], status=401)
    ctx.metrics.sign_ins.labels("ok").inc()
    response = redirect("/")
    # No Max-Age: the cookie ends with the browser; the server ends the session after idle or absolute time.
    response.set_cookie(SESSION_COOKIE, signed.cookie, httponly=True, samesite="strict",
                        secure=secure_cookies(ctx, request), path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict",
                           secure=secure_cookies(ctx, request))
    return response


def _signed_out(ctx: ConsoleContext, request: Request) -> Response:
    response = redirect("/login?out=1")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=secure_cookies(ctx, request))
    return response


@router.post("/logout", summary="End this session")
async def logout(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.sign_out")
    await checked_form(request, person)
    await ctx.accounts.sign_out(person.session)
    return _signed_out(ctx, request)


@router.post("/logout/everywhere", summary="End every session of the account")
async def logout_everywhere(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.sign_out")
    await checked_form(request, person)
    await ctx.accounts.sign_out_everywhere(person.account.username)
    return _signed_out(ctx, request)


@router.get("/", summary="The person's main page (a redirect)")
async def home(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.home")
    main = {"admin": "/tips", "officer": "/tips", "unit": "/me", "leader": "/awards"}.get(person.account.role,
                                                                                           "/inbox")
    return redirect(with_lang(main, person.lang) if request.query_params.get("lang") else main)


STATIC = {"console.css": "text/css", "console.js": "text/javascript"}


# --- assets --------------------------------------------------------------------------------------------------
@router.get("/static/{name}", summary="The console's stylesheet and script (public)", response_class=Response)
async def static(name: str) -> Response:
    if name not in STATIC:
        return Response(status_code=404)
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name],
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})
