"""Activity kinds as versioned data: the shipped file, its checks, and reports checked against it."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from services.units.domain import ActivityFields, StatsQuery, UnitFields, create_unit, record_activity
from services.units.domain.activities import KINDS_DIR, LEGACY_KINDS, load_activity_kinds
from shared.contracts.events import ActivityReported, ActivityReportedV2
from shared.errors import Invalid
from tests.units_reference_stats import compute_stats

NOW = datetime(2026, 6, 1, 3, tzinfo=UTC)
MOVEMENT_KINDS = {"banners_slogans", "news_items", "protection_plan", "self_managed_group", "mass_mobilisation_meeting"}


def test_shipped_kinds_name_every_activity_the_movement_reports_in_both_languages() -> None:
    version = load_activity_kinds().in_force(date(2026, 6, 1))
    assert set(version.kinds) == LEGACY_KINDS | MOVEMENT_KINDS
    for spec in version.kinds.values():
        assert spec.vi and spec.en and spec.figures
        assert all(f.vi and f.en and f.unit for f in spec.figures.values())
    assert version.kinds["banners_slogans"].figures["items"].required
    assert version.kinds["commitment_drive"].figures["commitments_signed"].default == "participants"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "activities"
    shutil.copytree(KINDS_DIR, target)
    return target


def _rewrite(directory: Path, change: dict[str, object], name: str = "2021-01-01.yaml") -> None:
    path = directory / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["kinds"]["news_items"]["figures"]["items"].update(change)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("change, fault", [
    ({"required": True, "default": 3}, "a required figure has no default"),
    ({"required": False}, "needs a default"),
    ({"type": "text"}, "type"),
    ({"colour": "red"}, "colour"),
    ({"required": False, "default": "nonsense"}, "not a required figure"),
])
def test_a_malformed_kinds_file_is_refused_with_the_entry_and_the_fault(tmp_path: Path, change: dict[str, object],
                                                                      fault: str) -> None:
    directory = _copy(tmp_path)
    _rewrite(directory, change)
    with pytest.raises(Invalid) as caught:
        load_activity_kinds(directory)
    assert "2021-01-01.yaml" in caught.value.message and fault in caught.value.message
    assert "news_items" in caught.value.message


def test_a_new_version_may_not_drop_a_kind_and_takes_over_from_its_date(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    data = yaml.safe_load((directory / "2021-01-01.yaml").read_text(encoding="utf-8"))
    data["version"], data["valid_from"] = "activity-kinds-2027.1", "2027-01-01"
    data["kinds"]["news_items"]["retired_on"] = "2027-01-01"
    (directory / "2027-01-01.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    catalogue = load_activity_kinds(directory)
    assert catalogue.in_force(date(2026, 12, 31)).version == "activity-kinds-2021.1"
    assert catalogue.in_force(date(2027, 1, 1)).version == "activity-kinds-2027.1"
    later = datetime(2027, 2, 1, 3, tzinfo=UTC)
    with pytest.raises(Invalid) as caught:
        record_activity(ActivityFields(kind="news_items", held_on=date(2027, 1, 5), figures={"items": 3}),
                        activity_id="a", unit_id="u", now=later, kinds=catalogue)
    assert caught.value.code == "retired_activity_kind" and "news_items" not in caught.value.details["allowed"]
    del data["kinds"]["drill"]
    (directory / "2027-01-01.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(Invalid, match="drops kinds"):
        load_activity_kinds(directory)


def test_an_unknown_kind_is_refused_with_the_list_of_kinds() -> None:
    with pytest.raises(Invalid) as caught:
        record_activity(ActivityFields(kind="karaoke", held_on=date(2026, 5, 1), participants=3),
                        activity_id="a", unit_id="u", now=NOW)
    assert caught.value.status == 422 and caught.value.code == "unknown_activity_kind"
    assert set(caught.value.details["allowed"]) == LEGACY_KINDS | MOVEMENT_KINDS


def test_missing_and_foreign_figures_are_refused_naming_them() -> None:
    with pytest.raises(Invalid) as caught:
        record_activity(ActivityFields(kind="banners_slogans", held_on=date(2026, 5, 1)), activity_id="a",
                        unit_id="u", now=NOW)
    assert caught.value.code == "figures_missing" and caught.value.details["missing"] == ["items"]
    with pytest.raises(Invalid) as caught:
        record_activity(ActivityFields(kind="banners_slogans", held_on=date(2026, 5, 1), figures={"items": 2},
                                       participants=4), activity_id="a", unit_id="u", now=NOW)
    assert caught.value.code == "unknown_figure" and caught.value.details["field"] == "figures.participants"
    with pytest.raises(Invalid):
        record_activity(ActivityFields(kind="training", held_on=date(2026, 5, 1), participants=4,
                                       figures={"participants": 5}), activity_id="a", unit_id="u", now=NOW)


def test_a_new_kind_carries_its_figures_with_defaults_and_is_announced_as_v2_only() -> None:
    activity, events = record_activity(
        ActivityFields(kind="self_managed_group", held_on=date(2026, 5, 1), figures={"members": 12}),
        activity_id="a1", unit_id="u1", now=NOW)
    assert activity.figures == {"groups": 1, "members": 12} and activity.participants == 0
    assert events == [ActivityReportedV2(activity_id="a1", unit_id="u1", kind="self_managed_group",
                                         held_on=date(2026, 5, 1), year=2026, figures={"groups": 1, "members": 12},
                                         kinds_version="activity-kinds-2021.1")]
    _, legacy = record_activity(ActivityFields(kind="drill", held_on=date(2026, 5, 1), figures={"participants": 9}),
                                activity_id="a2", unit_id="u1", now=NOW)
    assert isinstance(legacy[0], ActivityReported) and legacy[0].participants == 9


def test_stats_total_every_figure_of_every_kind_with_zeros_for_kinds_not_reported() -> None:
    unit, _ = create_unit(UnitFields(name="Công ty A", kind="enterprise", province_code="79", commune_code="26743"),
                          unit_id="u1", now=NOW)
    reports = [
        ActivityFields(kind="banners_slogans", held_on=date(2026, 3, 1), figures={"items": 40}),
        ActivityFields(kind="banners_slogans", held_on=date(2026, 4, 1), figures={"items": 2}),
        ActivityFields(kind="self_managed_group", held_on=date(2026, 4, 1), figures={"groups": 2, "members": 15}),
        ActivityFields(kind="commitment_drive", held_on=date(2026, 4, 2), participants=30, commitments_signed=28),
    ]
    activities = [record_activity(r, activity_id=f"a{n}", unit_id="u1", now=NOW)[0] for n, r in enumerate(reports)]
    stats = compute_stats(StatsQuery(year=2026), units=[unit], cycles=[], activities=activities, incidents=[])
    by_kind = stats.activities.by_kind
    assert by_kind["banners_slogans"] == {"count": 2, "items": 42}
    assert by_kind["self_managed_group"] == {"count": 1, "groups": 2, "members": 15}
    assert by_kind["news_items"] == {"count": 0, "items": 0}
    assert by_kind["propaganda_session"] == {"count": 0, "participants": 0}
    assert stats.activities.commitments_signed == 28
