"""The pages of the sign-in with the site's OIDC provider: /oidc/login sends the browser there, /oidc/callback
brings it back and opens a console session like a password sign-in does.

Every refusal (state or nonce mismatch, a flow too old, an error from the provider, a refused code exchange, an
ID token that does not verify, a person without an antq role) shows the sign-in page with a readable message.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.clients import CALLBACK_PATH, FLOW_COOKIE, FLOW_SECONDS, Flow, SignInFailed
from services.console.context import ConsoleContext
from services.console.handlers import SignInRefused
from services.console.i18n import TEXT, pick_language
from services.console.policy import POLICY
from services.console.web.pages import (
    SESSION_COOKIE,
    Ctx,
    PageRefused,
    redirect,
    render,
    secure_cookies,
)
from services.console.web.session import login_form_page

log = logging.getLogger(__name__)
router = APIRouter(tags=["console"])


def _refused(ctx: ConsoleContext, request: Request, lang: str, key: str, status: int) -> Response:
    response = login_form_page(ctx, request, lang, username="", error=TEXT[lang][key], status=status)
    response.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH, httponly=True, samesite="lax",
                           secure=secure_cookies(ctx, request))
    return response


@router.get("/oidc/login", summary="Start the sign-in with the OIDC provider (public)")
async def oidc_login(ctx: Ctx, request: Request, lang: str | None = None) -> Response:
    POLICY.authorize(None, "console.sign_in")
    lang = pick_language(lang, None)
    if ctx.provider is None:
        raise PageRefused(404, "not_found")
    try:
        flow, url = await ctx.provider.start(now=ctx.now(), lang=lang)
    except SignInFailed as exc:
        log.warning("OIDC sign-in not started: %s", exc)
        return _refused(ctx, request, lang, exc.key, exc.status)
    response = redirect(url)
    # Lax, not Strict: the provider's redirect back is a cross-site navigation, which must carry this cookie.
    response.set_cookie(FLOW_COOKIE, flow.cookie(), max_age=FLOW_SECONDS, path=CALLBACK_PATH, httponly=True,
                        samesite="lax", secure=secure_cookies(ctx, request))
    return response


@router.get(CALLBACK_PATH, response_class=HTMLResponse, summary="The OIDC provider's redirect back (public)")
async def oidc_callback(ctx: Ctx, request: Request) -> Response:
    POLICY.authorize(None, "console.sign_in")
    if ctx.provider is None:
        raise PageRefused(404, "not_found")
    flow = Flow.parse(request.cookies.get(FLOW_COOKIE))
    lang = pick_language(flow.lang if flow else request.query_params.get("lang"), None)
    try:
        account = await ctx.provider.finish(request.query_params, flow, now=ctx.now())
        signed = await ctx.accounts.sign_in_provider(account, now=ctx.now())
    except SignInFailed as exc:
        log.warning("OIDC sign-in refused: %s", exc)
        ctx.metrics.sign_ins.labels("refused").inc()
        return _refused(ctx, request, lang, exc.key, exc.status)
    except SignInRefused:
        ctx.metrics.sign_ins.labels("refused").inc()
        return _refused(ctx, request, lang, "oidc.disabled", 403)
    ctx.metrics.sign_ins.labels("ok").inc()
    # A page, not a redirect: the browser came here from the provider's site, and a SameSite=Strict session
    # cookie is not sent along a redirect chain that started cross-site; the page's own navigation to / is
    # same-site, so the new session is there at once.
    response = render(request, "signed_in.html", lang=lang, title_key="login_title", status=200)
    response.set_cookie(SESSION_COOKIE, signed.cookie, httponly=True, samesite="strict",
                        secure=secure_cookies(ctx, request), path="/")
    response.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH, httponly=True, samesite="lax",
                           secure=secure_cookies(ctx, request))
    return response

