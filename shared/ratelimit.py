"""Per-client token-bucket rate limits for public endpoints (answered with 429 and Retry-After).

Clients are keyed by a keyed hash of their address that lives only in memory: no IP address is stored. The
address is the TCP peer's, or the one a trusted reverse proxy forwarded (ANTQ_TRUSTED_PROXIES, shared.server);
a client cannot choose it with a header of its own.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

from fastapi import Request

from shared.errors import TooManyRequests

_SALT = os.urandom(16)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`rate` requests per `per` seconds per client, with bursts up to `burst`."""

    def __init__(self, name: str, *, rate: float, per: float, burst: int | None = None, max_clients: int = 100_000):
        self.name = name
        self.refill = rate / per
        self.capacity = float(burst if burst is not None else max(1, int(rate)))
        self.max_clients = max_clients
        # Least recently checked first: at max_clients the oldest bucket is dropped, one at a time. (Clearing them
        # all let a flood of new addresses give every client, the flooder included, a full bucket again.)
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @staticmethod
    def key_of(value: str) -> str:
        return hashlib.blake2b(value.encode(), key=_SALT, digest_size=12).hexdigest()

    @classmethod
    def client_key(cls, request: Request) -> str:
        return cls.key_of(request.client.host if request.client else "unknown")

    def check(self, key: str, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            while len(self._buckets) >= self.max_clients:
                self._buckets.popitem(last=False)
            bucket = self._buckets[key] = _Bucket(self.capacity, t)
        else:
            self._buckets.move_to_end(key)
        bucket.tokens = min(self.capacity, bucket.tokens + (t - bucket.updated) * self.refill)
        bucket.updated = t
        if bucket.tokens < 1:
            retry = math.ceil((1 - bucket.tokens) / self.refill)
            raise TooManyRequests(f"too many requests to {self.name}; retry later",
                                  details={"retry_after": retry})
        bucket.tokens -= 1

    def __call__(self, request: Request) -> None:
        """A FastAPI dependency."""
        self.check(self.client_key(request))
