"""Retry policy as data: full-jitter exponential backoff per channel, and which failures are worth retrying."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.notify.domain.channels import ChannelName

RETRY_FILE = Path(__file__).resolve().parent / "retry.yaml"
ErrorKind = Literal["permanent", "transient"]


class DeliveryError(Exception):
    """A channel could not deliver. `kind` says whether trying again can help."""

    kind: ErrorKind = "transient"

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        # A server's own hint (HTTP Retry-After, seconds); the next attempt is not earlier than this.
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    kind: ErrorKind = "permanent"


class TransientDeliveryError(DeliveryError):
    kind: ErrorKind = "transient"


def classify_http_status(status: int) -> ErrorKind | None:
    """None for success (2xx/3xx). 408 and 429 are the client-side codes that mean "later"; other 4xx say
    the request itself is wrong (bad URL, refused signature, gone), which retrying does not fix."""
    if status < 400:
        return None
    if status in (408, 425, 429):
        return "transient"
    if status < 500:
        return "permanent"
    return "transient"


def classify_smtp_code(code: int) -> ErrorKind | None:
    """SMTP reply codes (RFC 5321): 2xx/3xx fine, 4xx a temporary refusal (greylisting, full mailbox), 5xx final."""
    if code < 400:
        return None
    return "transient" if code < 500 else "permanent"


class Backoff(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_seconds: float = Field(gt=0)
    cap_seconds: float = Field(gt=0)
    max_attempts: int = Field(ge=1)

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Backoff:
        if self.cap_seconds < self.base_seconds:
            raise ValueError("cap_seconds must be at least base_seconds")
        return self

    def ceiling(self, attempt: int) -> float:
        """The largest delay after the `attempt`-th failed attempt (1-based)."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        # Cap the exponent first so a large attempt number does not build a huge float.
        return float(min(self.cap_seconds, self.base_seconds * 2 ** min(attempt - 1, 62)))


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    channels: dict[ChannelName, Backoff]
    # For a channel without a row of its own (a channel added to the table after the policy was written).
    default: Backoff | None = None

    def for_channel(self, channel: str) -> Backoff:
        backoff = self.channels.get(channel, self.default)
        if backoff is None:
            raise KeyError(f"no retry policy for the {channel} channel")
        return backoff


@lru_cache(maxsize=1)
def default_policy() -> RetryPolicy:
    with RETRY_FILE.open(encoding="utf-8") as handle:
        return RetryPolicy.model_validate(yaml.safe_load(handle))


class Uniform(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


def backoff_delay(backoff: Backoff, attempt: int, rng: Uniform) -> timedelta:
    """Full jitter (AWS architecture blog): uniform over [0, ceiling]. Spreads retries of many deliveries that
    failed together, so a recovering receiver is not hit by them all at once."""
    return timedelta(seconds=rng.uniform(0.0, backoff.ceiling(attempt)))


class RetryDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    retry: bool
    at: datetime | None = None
    reason: str


def next_attempt(
    backoff: Backoff,
    *,
    attempts: int,
    error: DeliveryError,
    now: datetime,
    rng: Uniform | None = None,
) -> RetryDecision:
    """After `attempts` attempts failed with `error`: when to try again, or give up (and why)."""
    if error.kind == "permanent":
        return RetryDecision(retry=False, reason=f"permanent: {error.reason}")
    if attempts >= backoff.max_attempts:
        return RetryDecision(retry=False, reason=f"gave up after {attempts} attempts: {error.reason}")
    delay = backoff_delay(backoff, attempts, rng or random.Random())
    if error.retry_after is not None:
        delay = max(delay, timedelta(seconds=min(error.retry_after, backoff.cap_seconds)))
    return RetryDecision(retry=True, at=now + delay, reason=f"transient: {error.reason}")
