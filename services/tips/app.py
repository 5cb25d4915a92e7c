"""Composition root of the tips service: the only module that builds its engine, broker and app."""

from __future__ import annotations

from fastapi import FastAPI

from services.tips import api, keys, scheduler, subscribers, web
from services.tips.handlers import TipsContext
from services.tips.metrics import TipsMetrics
from services.tips.storage import DiskStorage
from shared.service import Service
from shared.settings import Settings


def build(settings: Settings) -> Service:
    service = Service("tips", settings, title="antq tips",
                      description="Receives crime tips from anyone, keeps reporters' identity secret, "
                                  "tracks legal deadlines.")
    ctx = TipsContext(
        cipher=keys.load_cipher(settings),
        storage=DiskStorage(settings.tips_attachment_dir or settings.data_dir / "attachments"),
        argon2=TipsContext.argon2_profile(settings.tips_argon2_profile),
        metrics=TipsMetrics(service.registry),
        # Read through the service so that a test replacing service.clock moves every handler's time.
        clock=lambda: service.clock(),
    )
    service.app.state.tips_ctx = ctx
    service.app.state.tips_limits = api.RateLimits(submit_per_minute=settings.tips_submit_rate_per_minute,
                                                   follow_up_per_minute=settings.tips_follow_up_rate_per_minute)
    service.app.add_middleware(
        api.BodyLimit, multipart_limit=lambda: ctx.attachment_rules.max_total_bytes + api.MULTIPART_OVERHEAD)
    subscribers.register(service, ctx)
    service.background("deadlines", lambda svc: scheduler.deadline_loop(svc, ctx, settings.tips_scheduler_interval))
    service.include_router(api.router)
    service.include_router(web.router)
    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
