"""The ANTT assessment calendar: which year a date belongs to, the year's period and the registration deadline."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

# Vietnam keeps UTC+7 all year (no daylight saving), so a fixed offset is exact and needs no tz database.
VN_TZ = timezone(timedelta(hours=7), "ICT")

# The assessment year Y runs from 16 November of Y-1 to 15 November of Y.
YEAR_START_MONTH, YEAR_START_DAY = 11, 16
# Registration is due in the first quarter of Y; later registrations are accepted but flagged late.
REGISTRATION_DUE_MONTH, REGISTRATION_DUE_DAY = 3, 31


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


def registration_deadline(year: int) -> date:
    """The last day on which registering for `year` is on time."""
    return date(year, REGISTRATION_DUE_MONTH, REGISTRATION_DUE_DAY)


def is_late_registration(year: int, on: date | datetime) -> bool:
    return local_date(on) > registration_deadline(year)
