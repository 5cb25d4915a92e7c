"""Composition root of the notify service: the only module that builds its engine, broker, channels and app."""

from __future__ import annotations

import yaml
from fastapi import FastAPI

from services.notify import api, keys, subscribers
from services.notify.channels import build_channels
from services.notify.context import NotifyContext
from services.notify.domain import RetryPolicy, Templates, load_rules
from services.notify.domain.names import place_labeller
from services.notify.domain.targets import parse_networks
from services.notify.metrics import NotifyMetrics
from services.notify.tasks import DeliveryWorker
from shared.deps import install_context
from shared.places import area_label
from shared.service import Service
from shared.settings import Settings


def build(settings: Settings) -> Service:
    service = Service("notify", settings, title="antq notify",
                      description="Tells the right people about the right events on the channel they chose.")
    webhook_networks = parse_networks(settings.notify_webhook_allowed_networks)
    # Every channel module wires its own channel from the settings (services/notify/channels/wiring.py).
    channels = build_channels(settings)
    secrets = keys.load_secrets(settings)
    # The clock is read through the service so that tests can move it (quiet hours, digests, retries).
    ctx = NotifyContext(db=service.db, clock=lambda: service.clock(), metrics=NotifyMetrics(service.registry),
                        channels=channels, secrets=secrets,
                        rules=load_rules(settings.notify_rules_file) if settings.notify_rules_file else None,
                        webhook_networks=webhook_networks, intake_desk=settings.tips_intake_desk_area,
                        templates=Templates(place_label=place_labeller(area_label),
                                            console_url=settings.console_link_base()))
    policy = None
    if settings.notify_retry_file:
        policy = RetryPolicy.model_validate(yaml.safe_load(settings.notify_retry_file.read_text(encoding="utf-8")))
    worker = DeliveryWorker(ctx, concurrency=settings.notify_channel_concurrency,
                            poll_seconds=settings.notify_worker_poll_seconds,
                            lease_seconds=settings.notify_delivery_lease_seconds, policy=policy)
    service.db.on_outbox_commit(worker.wake)
    subscribers.register(service, ctx)
    service.background("delivery", lambda _svc: worker.run())
    install_context(service.app, ctx)
    service.include_router(api.router)
    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
