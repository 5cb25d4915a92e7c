"""Composition root of the tips service: the only module that builds its engine, broker and app."""

from __future__ import annotations

from fastapi import FastAPI

from services.tips import api, subscribers
from services.tips.handlers import TipSecrets
from shared.service import Service
from shared.settings import Settings


def build(settings: Settings) -> Service:
    service = Service("tips", settings, title="antq tips",
                      description="Receives crime tips from anyone, keeps reporters' identity secret, "
                                  "tracks legal deadlines.")
    tip_secrets = TipSecrets.from_settings(settings.tips_identity_keys,
                                           settings.data_dir / "keys" / "tips_identity.key",
                                           fast_hash=settings.tips_argon2_profile == "fast")
    service.app.state.tip_secrets = tip_secrets
    subscribers.register(service, tip_secrets)
    service.include_router(api.router)
    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
