"""Composition root of the console: its database (accounts, sessions, preferences), API clients, pages."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from services.console.clients import ProviderSignIn, ServiceApis
from services.console.context import ConsoleContext
from services.console.handlers import Accounts
from services.console.metrics import ConsoleMetrics
from services.console.tasks import LiveHub, sweep_sessions
from services.console.web import ROUTERS, pages, units
from services.console.web.pages import PageRefused, SignInRequired
from shared.deps import install_context
from shared.service import Service
from shared.settings import Settings


def build(settings: Settings) -> Service:
    service = Service("console", settings, title="antq console", bus=False, session_cookie=pages.SESSION_COOKIE,
                      description="The staff console: sign-in, the tip queue, notifications, preferences.")
    metrics = ConsoleMetrics(service.registry)
    ctx = ConsoleContext(settings=settings, db=service.db, accounts=Accounts(service.db, settings),
                         apis=ServiceApis(settings, service.tokens), metrics=metrics,
                         live=LiveHub(settings.console_inbox_poll_seconds,
                                      polled=lambda topic: metrics.live_polls.labels(topic).inc()),
                         clock=lambda: service.clock(), provider=ProviderSignIn.from_settings(settings))
    install_context(service.app, ctx)
    for router in ROUTERS:
        service.include_router(router)
    # Larger bodies for the pages that upload files (the shared body-limit middleware reads this).
    service.app.state.body_limits = {**getattr(service.app.state, "body_limits", {}),
                                     **units.body_limits(settings)}
    service.background("sessions", lambda _svc: sweep_sessions(ctx))

    @service.app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return pages.sign_in_required(request)

    @service.app.exception_handler(PageRefused)
    async def _refused(request: Request, exc: PageRefused) -> Response:
        return pages.page_refused(request, exc)

    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
