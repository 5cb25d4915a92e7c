"""Criteria frameworks as versioned data: shipped files, versioning by date, overlays, incident categories."""

from datetime import date
from pathlib import Path

import pytest
import yaml

from services.units.domain import framework_by_code, framework_in_force, load_frameworks
from services.units.domain.frameworks import RULES_DIR
from shared.errors import Invalid, NotFound


def test_agencies_and_enterprises_get_article_6() -> None:
    for kind in ("agency", "enterprise"):
        fw = framework_in_force(kind, None, date(2026, 1, 10))
        assert fw.code == "TT124-2021/art6@2022-02-15"
        assert [c.code for c in fw.criteria] == ["A6.1", "A6.2", "A6.3", "A6.4", "A6.5"]
        assert all(c.vi and c.en for c in fw.criteria)


def test_schools_get_article_7_with_school_criteria() -> None:
    fw = framework_in_force("school", None, date(2026, 1, 10))
    assert fw.code == "TT124-2021/art7@2022-02-15"
    assert {"A7.5", "A7.6", "A7.7"} <= {c.code for c in fw.criteria}


def test_school_violence_disqualifies_schools_only() -> None:
    school = framework_in_force("school", None, date(2026, 1, 10))
    enterprise = framework_in_force("enterprise", None, date(2026, 1, 10))
    assert school.is_disqualifying("school_violence")
    assert enterprise.category("school_violence") is None
    assert enterprise.is_disqualifying("illegal_strike")
    assert not enterprise.is_disqualifying("strike_prevented")


def test_disqualifying_list_holds_every_category_of_the_brief() -> None:
    school = framework_in_force("school", None, date(2026, 1, 10))
    assert school.disqualifying_codes() == {
        "illegal_strike", "secret_leak", "serious_fire_explosion_accident", "high_value_theft",
        "staff_crime_or_social_evil", "mass_complaint", "illegal_religious_propagation", "school_violence",
    }


def test_no_framework_before_the_circular_took_effect() -> None:
    with pytest.raises(NotFound):
        framework_in_force("agency", None, date(2021, 12, 1))


def test_province_overlay_adds_criteria_for_matching_kinds() -> None:
    fw = framework_in_force("enterprise", "79", date(2024, 3, 1))
    assert fw.code == "TT124-2021/art6@2022-02-15+P79@2023-01-01"
    assert [c.code for c in fw.criteria][-2:] == ["79.1", "79.2"]
    assert fw.criterion("79.2") is not None and fw.criterion("79.2").source == "P79@2023-01-01"  # type: ignore[union-attr]
    school = framework_in_force("school", "79", date(2024, 3, 1))
    assert school.criterion("79.1") is not None and school.criterion("79.2") is None


def test_overlay_version_in_force_follows_the_date() -> None:
    before = framework_in_force("agency", "79", date(2022, 12, 31))
    first = framework_in_force("agency", "79", date(2025, 6, 30))
    second = framework_in_force("agency", "79", date(2025, 7, 1))
    assert before.overlay_code is None
    assert first.overlay_code == "P79@2023-01-01" and first.criterion("79.3") is None
    assert second.overlay_code == "P79@2025-07-01" and second.criterion("79.3") is not None


def test_other_provinces_get_the_national_framework_only() -> None:
    assert framework_in_force("agency", "01", date(2026, 1, 1)).overlay_code is None


def test_framework_code_resolves_back_to_the_same_framework() -> None:
    fw = framework_in_force("enterprise", "79", date(2026, 1, 1))
    assert framework_by_code(fw.code, "enterprise") == fw
    with pytest.raises(NotFound):
        framework_by_code("TT124-2021/art6@1999-01-01")
    with pytest.raises(NotFound):
        framework_by_code("TT124-2021/art6@2022-02-15+P79@1999-01-01")


def test_listing_names_every_national_version_and_overlay() -> None:
    codes = {entry["code"] for entry in load_frameworks().listing()}
    assert {"TT124-2021/art6@2022-02-15", "TT124-2021/art7@2022-02-15", "P79@2023-01-01", "P79@2025-07-01"} <= codes


def _copy_rules(tmp_path: Path) -> Path:
    for sub in ("frameworks", "overlays", "incidents"):
        (tmp_path / sub).mkdir()
        for src in (RULES_DIR / sub).glob("*.yaml"):
            (tmp_path / sub / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_a_new_national_version_applies_from_its_date_and_not_before(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    data = yaml.safe_load((rules / "frameworks" / "tt124-2021-art6.yaml").read_text(encoding="utf-8"))
    data["version"] = "2"
    data["valid_from"] = date(2027, 1, 1)
    data["criteria"].append({"code": "A6.6", "vi": "Tiêu chí mới", "en": "New criterion"})
    (rules / "frameworks" / "tt124-2021-art6-v2.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    catalogue = load_frameworks(rules)
    old = catalogue.in_force("agency", None, date(2026, 12, 31))
    new = catalogue.in_force("agency", None, date(2027, 1, 1))
    assert old.code == "TT124-2021/art6@2022-02-15" and old.criterion("A6.6") is None
    assert new.code == "TT124-2021/art6@2027-01-01" and new.criterion("A6.6") is not None
    # The old version stays resolvable for cycles registered under it.
    assert catalogue.by_code(old.code, "agency") == old


def test_an_overlay_reusing_a_national_code_is_refused(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    bad = {"province_code": "01", "version": "1", "valid_from": date(2024, 1, 1),
           "criteria": [{"code": "A6.1", "vi": "x", "en": "x"}]}
    (rules / "overlays" / "01.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(Invalid):
        load_frameworks(rules)


def test_a_malformed_rule_file_is_refused(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    (rules / "overlays" / "bad.yaml").write_text("province_code: '02'\ncriteria: 3\n")
    with pytest.raises(Invalid):
        load_frameworks(rules)
