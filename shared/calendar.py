"""Dates in Vietnam and the ANTT assessment year, shared by every service that reports "by year".

Vietnam keeps UTC+7 all year (no daylight saving), so a fixed offset is exact and needs no tz database.
The assessment year Y runs from 16 November of Y-1 to 15 November of Y (Circular 124/2021/TT-BCA).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

VN_TZ = timezone(timedelta(hours=7), "ICT")
YEAR_START_MONTH, YEAR_START_DAY = 11, 16


def local_date(value: date | datetime) -> date:
    """The calendar date in Vietnam. An aware datetime is converted; a naive one is taken as local time."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(VN_TZ)
        return value.date()
    return value


def assessment_year_of(value: date | datetime) -> int:
    """The assessment year a day falls in: 16 Nov 2025 … 15 Nov 2026 is year 2026."""
    day = local_date(value)
    if (day.month, day.day) >= (YEAR_START_MONTH, YEAR_START_DAY):
        return day.year + 1
    return day.year


def assessment_period(year: int) -> tuple[date, date]:
    """First and last day (both inclusive) of an assessment year."""
    return date(year - 1, YEAR_START_MONTH, YEAR_START_DAY), date(year, YEAR_START_MONTH, YEAR_START_DAY - 1)


def assessment_instants(year: int) -> tuple[datetime, datetime]:
    """The assessment year as a half-open UTC interval [start, end): for range queries on timestamps."""
    first, last = assessment_period(year)
    start = datetime.combine(first, time(), VN_TZ).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), VN_TZ).astimezone(UTC)
    return start, end
