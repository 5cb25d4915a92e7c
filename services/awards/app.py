"""Composition root of the awards service: the only module that builds its engine, broker and app."""

from __future__ import annotations

from fastapi import FastAPI

from services.awards import api, subscribers
from shared.service import Service
from shared.settings import Settings


def build(settings: Settings) -> Service:
    service = Service("awards", settings, title="antq awards",
                      description="Commendations driven by events, multi-level approval, verifiable certificates.")
    subscribers.register(service)
    service.include_router(api.router)
    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
