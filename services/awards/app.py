"""Composition root of the awards service: the only module that builds its engine, broker and app."""

from __future__ import annotations

from fastapi import FastAPI

from services.awards import api, subscribers
from services.awards.context import AwardsContext
from services.awards.domain import Issuer
from services.awards.handlers import CertificateIssuer
from services.awards.keys import KeyStore, key_dir
from services.awards.metrics import AwardsCollector
from services.awards.policy import POLICY
from services.awards.store import audit_log
from services.awards.tasks import review_deadlines
from shared.audit import audit_router
from shared.deps import install_context
from shared.ratelimit import RateLimiter
from shared.service import Service
from shared.settings import Settings


def build(settings: Settings) -> Service:
    service = Service("awards", settings, title="antq awards",
                      description="Commendations driven by events, multi-level approval, verifiable certificates.")
    keys = KeyStore(key_dir(settings))
    keys.ensure()  # the first start generates the signing key
    base_url = settings.awards_public_base_url or f"http://{settings.http_host}:{settings.http_port_for('awards')}"
    # The issuer's id is its base URL: a verifier finds the keys at <issuer id>/.well-known/jwks.json.
    issuer = Issuer(id=base_url.rstrip("/"), name=settings.awards_issuer_name, url=base_url.rstrip("/"))
    ctx = AwardsContext(
        db=service.db,
        # Read through the service so that a test replacing service.clock moves every handler's time.
        clock=lambda: service.clock(),
        issuer=CertificateIssuer(keys=keys, issuer=issuer, base_url=base_url),
        claim_limiter=RateLimiter("reward claims", rate=settings.awards_claim_rate_per_minute, per=60),
        gauge=AwardsCollector())
    install_context(service.app, ctx)
    service.registry.register(ctx.gauge)
    service.background("review-deadlines", review_deadlines(ctx, settings.awards_deadline_check_interval))
    subscribers.register(service, ctx)
    service.include_router(api.router)
    service.include_router(audit_router(POLICY, audit_log, ctx.db, action_example="award.approve",
                                        target_description="an award id"))
    return service


def create_app(settings: Settings) -> FastAPI:
    return build(settings).app
