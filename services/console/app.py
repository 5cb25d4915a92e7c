"""Composition root of the console: its database (accounts, sessions, preferences), API clients, pages."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response

from services.console import (
    admin_views,
    award_views,
    oidc_views,
    report_views,
    unit_registry_views,
    unit_views,
    views,
)
from services.console.accounts import Accounts
from services.console.clients import ServiceApis
from services.console.live import LiveHub
from services.console.oidc import ProviderSignIn
from services.console.views import ConsoleContext, ConsoleMetrics, PageRefused, SignInRequired
from shared.service import Service
from shared.settings import Settings

log = logging.getLogger(__name__)
SESSION_SWEEP_SECONDS = 60.0


async def sweep_sessions(ctx: ConsoleContext) -> None:
    """Delete expired sessions and keep the live-session gauge current; close the API clients on stop."""
    try:
        while True:
            try:
                await ctx.accounts.purge_expired(now=ctx.clock())
                ctx.metrics.sessions.set(await ctx.accounts.count_sessions())
            except Exception as exc:  # noqa: BLE001 — the next sweep tries again; /readyz reports the database
                log.warning("console sessions not swept: %s", exc)
            await asyncio.sleep(SESSION_SWEEP_SECONDS)
    finally:
        await ctx.live.close()
        await ctx.apis.close()


def build(settings: Settings) -> Service:
    service = Service("console", settings, title="antq console", bus=False, session_cookie=views.SESSION_COOKIE,
                      description="The staff console: sign-in, the tip queue, notifications, preferences.")
    metrics = ConsoleMetrics(service.registry)
    ctx = ConsoleContext(settings=settings, accounts=Accounts(service.db, settings),
                         apis=ServiceApis(settings, service.tokens), metrics=metrics,
                         live=LiveHub(settings.console_inbox_poll_seconds,
                                      polled=lambda topic: metrics.live_polls.labels(topic).inc()),
                         provider=ProviderSignIn.from_settings(settings))
    ctx.clock = lambda: service.clock()
    service.app.state.console = ctx
    service.include_router(views.router)
    service.include_router(oidc_views.router)
    service.include_router(unit_views.router)
    # Larger bodies for the pages that upload files (the shared body-limit middleware reads this).
    service.app.state.body_limits = {**getattr(service.app.state, "body_limits", {}),
                                     **unit_views.body_limits(settings)}
    service.include_router(unit_registry_views.router)
    service.include_router(report_views.router)
    service.include_router(award_views.router)
    service.include_router(admin_views.router)
    service.background("sessions", lambda _svc: sweep_sessions(ctx))

    @service.app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return views.sign_in_required(request)

    @service.app.exception_handler(PageRefused)
    async def _refused(request: Request, exc: PageRefused) -> Response:
        return views.page_refused(request, exc)

    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
