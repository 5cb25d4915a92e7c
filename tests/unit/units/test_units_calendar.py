"""Assessment-year boundaries and the registration deadline."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.units.domain import assessment_period, assessment_year_of, is_late_registration, registration_deadline


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (date(2025, 11, 15), 2025),
        (date(2025, 11, 16), 2026),
        (date(2026, 1, 1), 2026),
        (date(2026, 11, 15), 2026),
        (date(2026, 11, 16), 2027),
        (date(2026, 12, 31), 2027),
    ],
)
def test_assessment_year_runs_from_16_november_to_15_november(day: date, year: int) -> None:
    assert assessment_year_of(day) == year


def test_assessment_year_of_an_aware_datetime_uses_vietnam_time() -> None:
    # 17:00 UTC on 15 Nov is 00:00 on 16 Nov in Vietnam: already the next year.
    assert assessment_year_of(datetime(2025, 11, 15, 17, 0, tzinfo=UTC)) == 2026
    assert assessment_year_of(datetime(2025, 11, 15, 16, 59, tzinfo=UTC)) == 2025


def test_assessment_period_bounds_are_inclusive() -> None:
    assert assessment_period(2026) == (date(2025, 11, 16), date(2026, 11, 15))


@given(st.dates(min_value=date(2001, 1, 1), max_value=date(2199, 1, 1)))
def test_every_day_lies_in_the_period_of_its_assessment_year(day: date) -> None:
    start, end = assessment_period(assessment_year_of(day))
    assert start <= day <= end


def test_registration_is_late_only_after_31_march() -> None:
    assert registration_deadline(2026) == date(2026, 3, 31)
    assert not is_late_registration(2026, date(2025, 11, 20))
    assert not is_late_registration(2026, date(2026, 3, 31))
    assert is_late_registration(2026, date(2026, 4, 1))
