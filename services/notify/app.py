"""Composition root of the notify service: the only module that builds its engine, broker, channels and app."""

from __future__ import annotations

import yaml
from fastapi import FastAPI

from services.notify import api, keys, subscribers
from services.notify.channels import (
    Channel,
    ChannelRegistry,
    EmailChannel,
    FailoverChannel,
    InboxChannel,
    SmsChannel,
    SmsGatewaySettings,
    SmtpSettings,
    WebhookChannel,
)
from services.notify.context import NotifyContext
from services.notify.domain import RetryPolicy, Templates, load_rules
from services.notify.domain.names import place_labeller
from services.notify.domain.targets import Network, parse_networks
from services.notify.metrics import NotifyMetrics
from services.notify.tasks import DeliveryWorker
from shared.deps import install_context
from shared.places import area_label
from shared.service import Service
from shared.settings import Settings


def build_channels(settings: Settings, webhook_networks: tuple[Network, ...]) -> ChannelRegistry:
    """Inbox and webhooks always; email when an SMTP host is set; SMS when a gateway is, with its backup."""
    channels: list[Channel] = [InboxChannel(), WebhookChannel(timeout_seconds=settings.notify_http_timeout_seconds,
                                                              allowed_networks=webhook_networks)]
    if settings.notify_smtp_host:
        channels.append(EmailChannel(SmtpSettings(
            host=settings.notify_smtp_host, port=settings.notify_smtp_port, username=settings.notify_smtp_user,
            password=settings.notify_smtp_password, starttls=settings.notify_smtp_starttls,
            from_address=settings.notify_smtp_from, timeout_seconds=settings.notify_smtp_timeout_seconds)))
    if settings.notify_sms_gateway_url:
        def gateway(url: str, provider: str) -> SmsChannel:
            return SmsChannel(SmsGatewaySettings(url=url, token=settings.notify_sms_gateway_token,
                                                 timeout_seconds=settings.notify_http_timeout_seconds),
                              provider=provider)

        sms: Channel = gateway(settings.notify_sms_gateway_url, "sms-gateway")
        if settings.notify_sms_backup_gateway_url:
            sms = FailoverChannel(sms, gateway(settings.notify_sms_backup_gateway_url, "sms-backup-gateway"),
                                  threshold=settings.notify_sms_failover_threshold,
                                  cooldown_seconds=settings.notify_sms_failover_cooldown_seconds)
        channels.append(sms)
    return ChannelRegistry(channels)


def build(settings: Settings) -> Service:
    service = Service("notify", settings, title="antq notify",
                      description="Tells the right people about the right events on the channel they chose.")
    webhook_networks = parse_networks(settings.notify_webhook_allowed_networks)
    channels = build_channels(settings, webhook_networks)
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
