"""What the awards routes, consumers and background jobs need besides the request: the database, the clock, the
certificate issuer (keys and issuer profile), the claim rate limiter and the awards gauge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.awards.handlers import CertificateIssuer
from services.awards.metrics import AwardsCollector
from shared.db import Database
from shared.ratelimit import RateLimiter


@dataclass
class AwardsContext:
    db: Database
    # Built in app.py as `lambda: service.clock()`: a test replacing `service.clock` moves every handler's time.
    clock: Callable[[], datetime]
    issuer: CertificateIssuer
    claim_limiter: RateLimiter
    gauge: AwardsCollector

    def now(self) -> datetime:
        return self.clock()
