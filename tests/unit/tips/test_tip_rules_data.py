"""The versioned rule files of the tips service load, validate and answer the questions triage asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.tips.domain import (
    available_versions,
    load_attachment_rules,
    load_categories,
    load_deadline_rules,
    load_triage_rules,
)
from shared.errors import Invalid, NotFound


def test_latest_versions_load_with_their_version_id() -> None:
    assert load_categories().version == available_versions("categories")[-1]
    assert load_deadline_rules().version == available_versions("deadlines")[-1]
    assert load_attachment_rules().version == available_versions("attachments")[-1]
    assert load_triage_rules().version == available_versions("triage")[-1]


def test_threats_to_life_and_ongoing_crimes_are_urgent_categories() -> None:
    categories = load_categories()
    assert categories.is_urgent("threat_to_life")
    assert categories.is_urgent("ongoing_crime")
    assert not categories.is_urgent("theft")
    for code in ("state_secrets_leak", "illegal_strike_incitement", "school_violence", "human_trafficking"):
        assert categories.get(code).label_vi
        assert categories.get(code).label_en


def test_unknown_category_is_invalid_but_can_be_coerced_to_other() -> None:
    categories = load_categories()
    with pytest.raises(Invalid) as err:
        categories.get("alien_abduction")
    assert err.value.code == "unknown_category"
    assert categories.coerce("alien_abduction").code == "other"


def test_unknown_version_is_not_found() -> None:
    with pytest.raises(NotFound):
        load_categories("1999.1")


def test_deadline_rules_state_the_legal_numbers() -> None:
    rules = load_deadline_rules()
    assert (rules.forward.hours, rules.forward.remote_area_hours, rules.decide.days) == (24, 48, 20)
    assert [e.ordinal for e in rules.extensions] == [1, 2]
    assert rules.extension_request_min_days_before_expiry == 5


def test_a_category_list_without_other_is_refused(tmp_path: Path) -> None:
    (tmp_path / "categories.1.0.yaml").write_text(
        'version: "1.0"\ncategories:\n  - {code: theft, label_vi: "Trộm", label_en: "Theft"}\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match="other"):
        load_categories(rules_dir=tmp_path)


def test_newest_version_is_chosen_by_number_not_by_text(tmp_path: Path) -> None:
    body = "window_hours: 72\nmin_score: 0.5\nshingle_size: 3\nweights: {tokens: 1, shingles: 1}\nsame_unit_bonus: 0\n"
    for version in ("2026.9", "2026.10"):
        (tmp_path / f"triage.{version}.yaml").write_text(f'version: "{version}"\n{body}', encoding="utf-8")
    assert load_triage_rules(rules_dir=tmp_path).version == "2026.10"
