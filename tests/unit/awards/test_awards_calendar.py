"""Award dates follow Vietnam (UTC+7): the first hours of 1 January in Vietnam are still 31 December in UTC.

The awards service takes "today" from `shared.calendar.local_date` (rule set in force, tip reward year, years of
service); these tests pin what that means for its instants (the service clock and event times are aware UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.awards import handlers
from services.awards.domain import Nomination, rules_in_force, validate_nomination
from shared.calendar import local_date


@pytest.mark.parametrize(("moment", "day"), [
    (datetime(2025, 12, 31, 17, 0, tzinfo=UTC), date(2026, 1, 1)),  # 00:00 in Vietnam
    (datetime(2025, 12, 31, 23, 59, tzinfo=UTC), date(2026, 1, 1)),  # 06:59 in Vietnam
    (datetime(2025, 12, 31, 16, 59, tzinfo=UTC), date(2025, 12, 31)),  # 23:59 in Vietnam
    (datetime(2026, 1, 1, 0, 30, tzinfo=UTC), date(2026, 1, 1)),
])
def test_today_in_vietnam(moment: datetime, day: date) -> None:
    assert local_date(moment) == day


def test_the_rule_set_of_new_year_applies_from_midnight_in_vietnam() -> None:
    # Province 79's overlay takes effect on 1 January 2025; at 01:00 in Vietnam on that day it is in force.
    moment = datetime(2024, 12, 31, 18, 0, tzinfo=UTC)
    assert rules_in_force("79", moment.date()).overlay_version is None  # the UTC date would miss it
    assert handlers._rules("79", moment).overlay_version == "79-2025.1"


def test_years_of_service_reach_the_threshold_on_new_year_day_in_vietnam() -> None:
    moment = datetime(2025, 12, 31, 18, 0, tzinfo=UTC)  # 01:00 on 1 January 2026 in Vietnam
    medal = Nomination(award_type="ky_niem_chuong", recipient_kind="person", recipient_ref="p-1", year=2026,
                       proposer="police", category="security_team_member", gender="female",
                       service_started_on=date(2016, 1, 1), evidence=("QĐ 2016",), province_code="01")
    rules = handlers._rules("01", moment)
    assert validate_nomination(medal, rules, [], on=local_date(moment)).award_type == "ky_niem_chuong"
