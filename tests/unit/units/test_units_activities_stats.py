"""Activities, incidents and the statistics figures."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.units.domain import (
    ActivityFields,
    StatsQuery,
    UnitFields,
    appraise,
    create_unit,
    decide,
    framework_in_force,
    record_activity,
    record_criterion,
    record_incident,
    register,
    self_assess,
    submit,
)
from services.units.domain.cycle import Cycle
from shared.contracts.events import ActivityReported, ActivityReportedV2, IncidentRecorded
from shared.errors import Invalid
from tests.units_reference_stats import compute_stats

NOW = datetime(2026, 6, 1, 3, tzinfo=UTC)
FW = framework_in_force("enterprise", None, date(2026, 2, 1))


def test_activity_is_reported_with_its_event_and_year() -> None:
    fields = ActivityFields(kind="propaganda_session", held_on=date(2025, 11, 20), participants=120)
    activity, events = record_activity(fields, activity_id="a1", unit_id="u1", now=NOW)
    assert activity.year == 2026
    assert events == [ActivityReported(activity_id="a1", unit_id="u1", kind="propaganda_session",
                                       held_on=date(2025, 11, 20), participants=120),
                      ActivityReportedV2(activity_id="a1", unit_id="u1", kind="propaganda_session",
                                         held_on=date(2025, 11, 20), year=2026, figures={"participants": 120},
                                         kinds_version="activity-kinds-2021.1")]


def test_activity_cannot_be_reported_before_it_is_held() -> None:
    with pytest.raises(Invalid):
        record_activity(ActivityFields(kind="drill", held_on=date(2026, 6, 2), participants=1), activity_id="a",
                        unit_id="u1", now=NOW)


def test_commitment_drive_counts_signatures_defaulting_to_participants() -> None:
    drive, _ = record_activity(ActivityFields(kind="commitment_drive", held_on=date(2026, 1, 5), participants=80),
                               activity_id="a", unit_id="u1", now=NOW)
    assert drive.commitments_signed == 80
    with pytest.raises(Invalid):
        record_activity(ActivityFields(kind="training", held_on=date(2026, 1, 5), participants=8,
                                       commitments_signed=8), activity_id="b", unit_id="u1", now=NOW)


def test_incident_is_classified_with_the_framework_categories() -> None:
    occurred = datetime(2025, 11, 15, 18, tzinfo=UTC)  # 16 Nov in Vietnam: year 2026
    incident, events = record_incident(incident_id="i1", unit_id="u1", category="illegal_strike", occurred_at=occurred,
                                       source="agency/labour", framework=FW, now=NOW, reference="ref-1")
    assert incident.year == 2026 and incident.disqualifying
    assert events == [IncidentRecorded(incident_id="i1", unit_id="u1", year=2026, category="illegal_strike",
                                       disqualifying=True, occurred_at=occurred, source="agency/labour")]
    assert incident.ref().incident_id == "i1"


def test_unknown_future_or_naive_incidents_are_refused() -> None:
    common: dict[str, Any] = {"incident_id": "i", "unit_id": "u1", "source": "http", "framework": FW, "now": NOW}
    with pytest.raises(Invalid):
        record_incident(category="school_violence", occurred_at=NOW, **common)  # not a category for enterprises
    with pytest.raises(Invalid):
        record_incident(category="illegal_strike", occurred_at=NOW + timedelta(hours=1), **common)
    with pytest.raises(Invalid):
        record_incident(category="illegal_strike", occurred_at=datetime(2026, 1, 1), **common)


def _cycle(unit_id: str, *, recognised: bool, rating: str | None = None, unmet: str | None = None) -> Cycle:
    t = datetime(2026, 2, 1, tzinfo=UTC)
    cycle = register(unit_id=unit_id, kind="enterprise", year=2026, framework=FW, now=t).cycle
    for c in FW.scored_criteria:
        cycle = record_criterion(cycle, FW, code=c.code, result="not_met" if c.code == unmet else "met", now=t).cycle
    cycle = submit(self_assess(cycle, FW, now=t).cycle, now=t, area_code="79.26743", unit_name="Công ty A").cycle
    cycle = appraise(cycle, recommended=recognised, now=t).cycle
    return decide(cycle, recognized=recognised, decision_no="1" if recognised else None, rating=rating,  # type: ignore[arg-type]
                  level="commune", now=t).cycle


def test_stats_reference_computation_gives_the_report_figures() -> None:
    def unit(uid: str, commune: str, **kw: object) -> object:
        f = UnitFields.model_validate({"name": uid, "kind": "enterprise", "province_code": "79",
                                       "commune_code": commune, "external_key": uid, **kw})
        return create_unit(f, unit_id=uid, now=NOW)[0]

    units = [unit("u1", "26743", models=["Tổ công nhân tự quản"]), unit("u2", "26743"),
             unit("u3", "26737", size="micro"), unit("u4", "26743", models=["Tổ công nhân tự quản", "Camera"])]
    cycles = [_cycle("u1", recognised=True, rating="good"), _cycle("u2", recognised=False, unmet="A6.3"),
              _cycle("u4", recognised=True)]
    activities = [
        record_activity(ActivityFields(kind="propaganda_session", held_on=date(2026, 3, 1), participants=50),
                        activity_id="a1", unit_id="u1", now=NOW)[0],
        record_activity(ActivityFields(kind="commitment_drive", held_on=date(2026, 3, 2), participants=30),
                        activity_id="a2", unit_id="u2", now=NOW)[0],
        record_activity(ActivityFields(kind="propaganda_session", held_on=date(2025, 3, 1), participants=99),
                        activity_id="a3", unit_id="u1", now=NOW)[0],
    ]
    incidents = [
        record_incident(incident_id="i1", unit_id="u2", category="strike_prevented", source="http", framework=FW,
                        occurred_at=datetime(2026, 4, 1, tzinfo=UTC), now=NOW)[0],
    ]
    stats = compute_stats(StatsQuery(year=2026, area_code="79.26743"), units=units,  # type: ignore[arg-type]
                          cycles=cycles, activities=activities, incidents=incidents)
    assert stats.units.total == 3 and stats.units.in_scope == 3
    assert stats.cycles.registered == 3 and stats.cycles.recognised == 2
    assert stats.cycles.recognised_by_rating == {"good": 1, "unrated": 1}
    assert stats.cycles.not_recognised == 1
    assert stats.cycles.not_recognised_by_criterion == {"A6.3": 1}
    assert stats.cycles.not_recognised_by_reason == {"criterion_not_met": 1, "appraisal": 1}
    assert stats.models.distinct_models == 2 and stats.models.sites == 3 and stats.models.units_with_model == 2
    assert (stats.activities.propaganda_sessions, stats.activities.propaganda_participants) == (1, 50)
    assert stats.activities.commitments_signed == 30
    assert stats.incidents.strikes_prevented == 1 and stats.incidents.disqualifying == 0
    province = compute_stats(StatsQuery(year=2026, area_code="79"), units=units,  # type: ignore[arg-type]
                             cycles=cycles, activities=activities, incidents=incidents)
    assert province.units.out_of_scope_by_rule == {"small_or_micro_enterprise": 1}
    assert province.cycles.registration_rate == 1.0
