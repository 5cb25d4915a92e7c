"""Retry policy: full-jitter backoff bounds per channel and the permanent/transient classification."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain import (
    Backoff,
    PermanentDeliveryError,
    TransientDeliveryError,
    backoff_delay,
    classify_http_status,
    classify_smtp_code,
    default_policy,
    next_attempt,
)

NOW = datetime(2026, 11, 22, 3, tzinfo=UTC)


class Fixed:
    """A deterministic stand-in for random.Random: always picks the same fraction of the range."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


def test_policy_file_defines_every_channel() -> None:
    policy = default_policy()
    assert set(policy.channels) == {"inbox", "email", "webhook", "sms"}
    assert all(b.max_attempts >= 1 and b.cap_seconds >= b.base_seconds for b in policy.channels.values())


def test_ceiling_doubles_until_the_cap() -> None:
    backoff = Backoff(base_seconds=5, cap_seconds=60, max_attempts=10)
    assert [backoff.ceiling(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


@given(st.sampled_from(["inbox", "email", "webhook", "sms"]), st.integers(min_value=1, max_value=500),
       st.integers(min_value=0, max_value=2**32))
def test_full_jitter_delay_stays_within_zero_and_the_ceiling(channel: str, attempt: int, seed: int) -> None:
    backoff = default_policy().for_channel(channel)
    delay = backoff_delay(backoff, attempt, random.Random(seed))
    assert timedelta(0) <= delay <= timedelta(seconds=backoff.cap_seconds)
    assert delay.total_seconds() <= backoff.ceiling(attempt)


def test_transient_failure_is_retried_later_until_attempts_run_out() -> None:
    backoff = Backoff(base_seconds=10, cap_seconds=100, max_attempts=3)
    error = TransientDeliveryError("HTTP 503")
    first = next_attempt(backoff, attempts=1, error=error, now=NOW, rng=Fixed(1.0))
    assert first.retry and first.at == NOW + timedelta(seconds=10)
    second = next_attempt(backoff, attempts=2, error=error, now=NOW, rng=Fixed(0.5))
    assert second.retry and second.at == NOW + timedelta(seconds=10)
    last = next_attempt(backoff, attempts=3, error=error, now=NOW, rng=Fixed(0.5))
    assert not last.retry and "3 attempts" in last.reason and "HTTP 503" in last.reason


def test_permanent_failure_is_never_retried() -> None:
    backoff = Backoff(base_seconds=10, cap_seconds=100, max_attempts=3)
    decision = next_attempt(backoff, attempts=1, error=PermanentDeliveryError("HTTP 410"), now=NOW)
    assert not decision.retry and decision.reason == "permanent: HTTP 410"


def test_server_retry_after_hint_is_honoured_up_to_the_cap() -> None:
    backoff = Backoff(base_seconds=1, cap_seconds=120, max_attempts=5)
    hinted = next_attempt(backoff, attempts=1, error=TransientDeliveryError("429", retry_after=90), now=NOW,
                          rng=Fixed(0.0))
    assert hinted.at == NOW + timedelta(seconds=90)
    capped = next_attempt(backoff, attempts=1, error=TransientDeliveryError("429", retry_after=9999), now=NOW,
                          rng=Fixed(0.0))
    assert capped.at == NOW + timedelta(seconds=120)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, None), (204, None), (400, "permanent"), (401, "permanent"), (404, "permanent"), (410, "permanent"),
     (408, "transient"), (429, "transient"), (500, "transient"), (502, "transient"), (503, "transient")],
)
def test_http_status_classification(status: int, kind: str | None) -> None:
    assert classify_http_status(status) == kind


@pytest.mark.parametrize(("code", "kind"), [(250, None), (354, None), (421, "transient"), (451, "transient"),
                                            (452, "transient"), (550, "permanent"), (553, "permanent")])
def test_smtp_code_classification(code: int, kind: str | None) -> None:
    assert classify_smtp_code(code) == kind


def test_backoff_refuses_a_cap_below_the_base() -> None:
    with pytest.raises(ValueError):
        Backoff(base_seconds=10, cap_seconds=1, max_attempts=1)
