"""What the awards routes need besides the database: the certificate issuer and the claim rate limiter."""

from __future__ import annotations

from dataclasses import dataclass

from services.awards.handlers import CertificateIssuer
from shared.ratelimit import RateLimiter


@dataclass
class AwardsContext:
    issuer: CertificateIssuer
    claim_limiter: RateLimiter
