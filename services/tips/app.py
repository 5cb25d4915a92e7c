"""Composition root of the tips service: the only module that builds its engine, broker and app."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from fastapi import FastAPI

from services.tips import api, keys, subscribers, tasks, web
from services.tips.context import RateLimits, TipsContext
from services.tips.metrics import TipsMetrics
from services.tips.policy import POLICY
from services.tips.store import audit_log
from shared.audit import audit_router
from shared.blobs import blob_storage
from shared.deps import install_context
from shared.service import Service
from shared.settings import Settings


def build(settings: Settings) -> Service:
    service = Service("tips", settings, title="antq tips",
                      description="Receives crime tips from anyone, keeps reporters' identity secret, "
                                  "tracks legal deadlines.")
    inbound_keys = keys.inbound_keys(settings)
    inbound_keys.ensure()
    ctx = TipsContext(
        db=service.db,
        cipher=keys.load_cipher(settings),
        inbound_keys=inbound_keys.keyring,
        storage=blob_storage(settings, "tips", settings.tips_attachment_dir or settings.data_dir / "attachments"),
        receipts=keys.load_receipt_keys(settings),
        metrics=TipsMetrics(service.registry),
        # Read through the service so that a test replacing service.clock moves every handler's time.
        clock=lambda: service.clock(),
        limits=RateLimits(submit_per_minute=settings.tips_submit_rate_per_minute,
                          follow_up_per_minute=settings.tips_follow_up_rate_per_minute,
                          staff_submit_per_minute=settings.tips_staff_submit_rate_per_minute),
        intake_desk=settings.tips_intake_desk_area,
        agency_keys=keys.agency_keys(settings),
    )
    install_context(service.app, ctx)
    # The shared body-limit middleware (every service has it) bounds JSON bodies to 256 KiB here, and a tip with
    # its attachments to the attachment rules' total plus room for the multipart framing.
    service.app.state.body_limits = _BodyLimits(ctx)
    subscribers.register(service, ctx)
    service.background("deadlines", lambda svc: tasks.deadline_loop(ctx, settings.tips_scheduler_interval))
    service.include_router(api.router)
    service.include_router(audit_router(POLICY, audit_log, service.db, action_example="tip.reveal_reporter",
                                        target_description="a tip id"))
    service.include_router(web.router)
    return service


class _BodyLimits(Mapping[str, int]):
    """Read at each request, so the multipart limit follows the attachment rules in force."""

    _MULTIPART = ("/tips/with-attachments", "/submit")

    def __init__(self, ctx: TipsContext):
        self.ctx = ctx

    def __getitem__(self, path: str) -> int:
        if path in self._MULTIPART:
            return self.ctx.attachment_rules.max_total_bytes + api.MULTIPART_OVERHEAD
        if path == "/":
            return api.JSON_BODY_LIMIT
        raise KeyError(path)

    def __iter__(self) -> Iterator[str]:
        return iter(("/", *self._MULTIPART))

    def __len__(self) -> int:
        return 1 + len(self._MULTIPART)


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
