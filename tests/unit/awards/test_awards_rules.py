"""Award rules as versioned data: national defaults, provincial overlays, versions and validation."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from services.awards.domain import RuleLibrary, RuleSet, rules_in_force
from services.awards.domain.rules import RULES_DIR
from shared.errors import Invalid, NotFound


def test_catalogue_has_every_award_type_of_the_domain(national: RuleSet) -> None:
    assert set(national.award_types) == {"giay_khen", "bang_khen_province", "bang_khen_mps", "ky_niem_chuong",
                                         "tip_reward"}
    for award_type in national.award_types.values():
        assert award_type.name.vi and award_type.name.en


def test_national_thresholds_follow_the_domain_brief(national: RuleSet) -> None:
    assert national.award_types["giay_khen"].collective.consecutive_years == 2  # type: ignore[union-attr]
    bang_khen = national.award_types["bang_khen_province"].collective
    assert bang_khen is not None and bang_khen.consecutive_years > 2 and bang_khen.requires_prior == ("giay_khen",)
    medal = national.award_types["ky_niem_chuong"].individual
    assert medal is not None and medal.once_per_person
    assert medal.categories["security_team_member"].min_years == {"male": 15, "female": 10}
    assert medal.categories["leader"].min_years["male"] == 10
    assert national.review_days("commune") == 15


def test_province_overlay_overrides_thresholds_quotas_and_deadlines(national: RuleSet, hcmc: RuleSet) -> None:
    assert hcmc.version == "national-2024.1+79-2025.1"
    assert hcmc.award_types["giay_khen"].collective.consecutive_years == 3  # type: ignore[union-attr]
    assert hcmc.award_types["giay_khen"].quota.limit_for("79") == 400
    assert hcmc.award_types["giay_khen"].quota.limit_for("26743") == 40
    assert hcmc.review_days("commune") == 10
    # Keys the overlay does not name are inherited unchanged.
    assert hcmc.award_types["ky_niem_chuong"] == national.award_types["ky_niem_chuong"]
    assert hcmc.award_types["bang_khen_province"].collective.requires_prior == ("giay_khen",)  # type: ignore[union-attr]
    assert hcmc.digest != national.digest


def test_overlay_applies_only_from_its_effective_date() -> None:
    assert rules_in_force("79", date(2024, 12, 31)).version == "national-2024.1"
    assert rules_in_force("79", date(2025, 1, 1)).version == "national-2024.1+79-2025.1"


def test_province_without_overlay_gets_national_rules() -> None:
    assert rules_in_force("01", date(2025, 6, 1)).version == "national-2024.1"


def test_no_rules_before_the_first_national_file() -> None:
    with pytest.raises(NotFound):
        rules_in_force(None, date(2020, 1, 1))


def test_rule_set_is_frozen_and_serialisable_for_get_rules(hcmc: RuleSet) -> None:
    body = hcmc.to_public()
    assert json.loads(json.dumps(body))["version"] == hcmc.version
    assert body["award_types"]["giay_khen"]["name"]["vi"] == "Giấy khen"
    with pytest.raises(ValueError):
        hcmc.version = "other"  # type: ignore[misc]


def test_every_shipped_combination_of_files_is_valid() -> None:
    assert "national-2024.1+79-2025.1" in RuleLibrary().validate_all()


def _copy_rules(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(RULES_DIR, root)
    return root


def test_misspelt_overlay_key_is_refused_at_load(tmp_path: Path) -> None:
    root = _copy_rules(tmp_path)
    (root / "provinces" / "48").mkdir()
    (root / "provinces" / "48" / "2025-01-01.yaml").write_text(
        'province: "48"\nversion: 48-2025.1\neffective_from: 2025-01-01\n'
        "overrides:\n  award_types:\n    giay_khen:\n      collective:\n        consecutive_yaers: 4\n",
        encoding="utf-8",
    )
    with pytest.raises(Invalid):
        RuleLibrary(root).rules_in_force("48", date(2025, 6, 1))


def test_new_national_version_takes_over_from_its_date(tmp_path: Path) -> None:
    root = _copy_rules(tmp_path)
    text = (root / "national" / "2024-01-01.yaml").read_text(encoding="utf-8")
    text = text.replace("version: national-2024.1", "version: national-2026.1")
    text = text.replace("effective_from: 2024-01-01", "effective_from: 2026-01-01")
    (root / "national" / "2026-01-01.yaml").write_text(text, encoding="utf-8")
    library = RuleLibrary(root)
    assert library.rules_in_force(None, date(2025, 12, 31)).version == "national-2024.1"
    assert library.rules_in_force(None, date(2026, 1, 1)).version == "national-2026.1"
    assert library.rules_in_force("79", date(2026, 1, 1)).version == "national-2026.1+79-2025.1"


def test_unknown_award_type_is_not_found(national: RuleSet) -> None:
    with pytest.raises(NotFound):
        national.award_type("huan_chuong")
