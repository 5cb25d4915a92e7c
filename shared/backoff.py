"""Exponential back-off: how long to wait before trying again after failures in a row.

One helper for every loop that retries a dependency (start-up migrations and the bus, the outbox relay, the
consumers' NAK delays, the process supervisor of `antq up`). notify's delivery retries are policy data with
jitter (`services/notify/domain/retry.py`), not this.
"""

from __future__ import annotations


def backoff_delay(failures: int, *, first: float, cap: float) -> float:
    """The wait after `failures` failures in a row (1 for the first): `first`, doubled each time, at most `cap`."""
    return min(first * 2 ** max(0, failures - 1), cap)


class Backoff:
    """The waits of one retry loop: `failed()` after each failure gives the next wait, `succeeded()` resets."""

    def __init__(self, *, first: float, cap: float):
        self.first = first
        self.cap = cap
        self.failures = 0

    def failed(self) -> float:
        self.failures += 1
        return backoff_delay(self.failures, first=self.first, cap=self.cap)

    def succeeded(self) -> None:
        self.failures = 0
