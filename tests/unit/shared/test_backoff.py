"""The one back-off helper gives every retry loop the waits it had: doubling from the first, capped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.backoff import Backoff, backoff_delay


def test_a_retry_loop_waits_twice_as_long_after_each_failure_up_to_the_cap_and_starts_over_after_a_success() -> None:
    backoff = Backoff(first=0.5, cap=10)
    assert [backoff.failed() for _ in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    backoff.succeeded()
    assert backoff.failed() == 0.5


@given(st.floats(min_value=0.01, max_value=5), st.floats(min_value=5, max_value=60))
def test_the_waits_never_shrink_and_never_pass_the_cap(first: float, cap: float) -> None:
    backoff = Backoff(first=first, cap=cap)
    waits = [backoff.failed() for _ in range(100)]
    assert waits[0] == first
    assert waits == sorted(waits)
    assert max(waits) == cap


def test_a_consumer_naks_a_failed_delivery_for_longer_each_time_up_to_a_minute() -> None:
    assert [backoff_delay(d, first=1.0, cap=60.0) for d in (1, 2, 3, 6, 7, 20)] == [1, 2, 4, 32, 60, 60]
