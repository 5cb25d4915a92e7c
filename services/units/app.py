"""Composition root of the units service: the only module that builds its engine, broker and app."""

from __future__ import annotations

from fastapi import FastAPI

from services.units import api, subscribers
from shared.service import Service
from shared.settings import Settings


def build(settings: Settings) -> Service:
    service = Service("units", settings, title="antq units",
                      description="The registry of agencies, enterprises and schools and their yearly ANTT cycle.")
    subscribers.register(service)
    service.include_router(api.router)
    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
