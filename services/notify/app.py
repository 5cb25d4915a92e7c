"""Composition root of the notify service: the only module that builds its engine, broker and app."""

from __future__ import annotations

from fastapi import FastAPI

from services.notify import api, subscribers
from shared.service import Service
from shared.settings import Settings


def build(settings: Settings) -> Service:
    service = Service("notify", settings, title="antq notify",
                      description="Tells the right people about the right events on the channel they chose.")
    subscribers.register(service)
    service.include_router(api.router)
    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
