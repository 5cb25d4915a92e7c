"""The ANTT assessment calendar: which year a date belongs to, the year's period and the registration deadline."""

from __future__ import annotations

from datetime import date, datetime

from shared.calendar import (
    VN_TZ,
    YEAR_START_DAY,
    YEAR_START_MONTH,
    assessment_instants,
    assessment_period,
    assessment_year_of,
    local_date,
)

__all__ = ["VN_TZ", "YEAR_START_DAY", "YEAR_START_MONTH", "assessment_instants", "assessment_period",
           "assessment_year_of", "is_late_registration", "local_date", "registration_deadline"]

# Registration is due in the first quarter of Y; later registrations are accepted but flagged late.
REGISTRATION_DUE_MONTH, REGISTRATION_DUE_DAY = 3, 31


def registration_deadline(year: int) -> date:
    """The last day on which registering for `year` is on time."""
    return date(year, REGISTRATION_DUE_MONTH, REGISTRATION_DUE_DAY)


def is_late_registration(year: int, on: date | datetime) -> bool:
    return local_date(on) > registration_deadline(year)
