"""Scope rules, creating and patching units, and import-row validation."""

from datetime import UTC, datetime
from typing import Any

import pytest

from services.units.domain import UnitFields, apply_patch, create_unit, decide_scope, validate_import_row
from shared.contracts.events import UnitRegistered, UnitUpdated
from shared.errors import Invalid

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def fields(**kw: Any) -> UnitFields:
    base: dict[str, Any] = {"name": "Công ty TNHH Minh Long", "kind": "enterprise", "province_code": "79",
                            "commune_code": "26743", "tax_code": "0301234567", "size": "medium"}
    return UnitFields.model_validate({**base, **kw})


@pytest.mark.parametrize(
    ("kind", "attrs", "in_scope", "rule"),
    [
        ("agency", {"armed_forces": True}, False, "armed_forces"),
        ("agency", {"armed_forces": False}, True, None),
        ("enterprise", {"size": "micro"}, False, "small_or_micro_enterprise"),
        ("enterprise", {"size": "small"}, False, "small_or_micro_enterprise"),
        ("enterprise", {"size": "medium"}, True, None),
        ("enterprise", {}, True, None),
        ("school", {"school_level": "primary"}, False, "primary_school"),
        ("school", {"school_level": "kindergarten"}, False, "kindergarten_or_nursery"),
        ("school", {"school_level": "nursery"}, False, "kindergarten_or_nursery"),
        ("school", {"school_level": "lower_secondary"}, True, None),
        ("school", {"school_level": "university"}, True, None),
    ],
)
def test_scope_rules_follow_the_published_exclusions(kind: str, attrs: dict[str, Any], in_scope: bool,
                                                    rule: str | None) -> None:
    decision = decide_scope(kind, attrs)
    assert decision.in_scope is in_scope and decision.rule == rule


def test_scope_override_needs_a_reason() -> None:
    with pytest.raises(Invalid):
        decide_scope("school", {"school_level": "primary"}, override=True)
    decision = decide_scope("school", {"school_level": "primary"}, override=True, override_reason="pilot school")
    assert decision.in_scope and not decision.derived and decision.override_reason == "pilot school"


def test_created_unit_derives_scope_key_and_level_and_emits_unit_registered() -> None:
    unit, events = create_unit(fields(), unit_id="u1", now=NOW)
    assert unit.in_scope and unit.external_key == "0301234567" and unit.managing_level == "commune"
    assert unit.area_code == "79.26743"
    assert events == [UnitRegistered(unit_id="u1", name="Công ty TNHH Minh Long", kind="enterprise",
                                     area_code="79.26743", in_scope=True, external_key="0301234567")]


def test_unit_without_commune_is_managed_by_the_province() -> None:
    unit, _ = create_unit(fields(commune_code=None), unit_id="u1", now=NOW)
    assert unit.managing_level == "province" and unit.area_code == "79"


def test_out_of_scope_unit_is_still_registered_and_flagged() -> None:
    unit, events = create_unit(fields(size="micro"), unit_id="u1", now=NOW)
    assert not unit.in_scope and unit.out_of_scope_rule == "small_or_micro_enterprise"
    assert events[0].in_scope is False


def test_kind_specific_attributes_are_checked() -> None:
    with pytest.raises(ValueError):
        fields(kind="agency")  # size belongs to enterprises
    with pytest.raises(ValueError):
        UnitFields(name="x", kind="enterprise", province_code="79", school_level="primary")


def test_patch_returns_only_what_changed() -> None:
    unit, _ = create_unit(fields(), unit_id="u1", now=NOW)
    later = datetime(2026, 3, 1, tzinfo=UTC)
    new, changed, events = apply_patch(unit, {"address": "12 Lê Lợi", "security_force_full_time": 3,
                                              "name": unit.name}, now=later)
    assert changed == {"address": "12 Lê Lợi", "security_force_full_time": 3}
    assert events == [UnitUpdated(unit_id="u1", changed=changed)]
    assert new.updated_at == later and new.created_at == NOW


def test_patch_that_shrinks_an_enterprise_moves_it_out_of_scope() -> None:
    unit, _ = create_unit(fields(), unit_id="u1", now=NOW)
    _, changed, _ = apply_patch(unit, {"size": "small"}, now=NOW)
    assert changed == {"size": "small", "in_scope": False, "out_of_scope_rule": "small_or_micro_enterprise"}


def test_patch_can_override_scope_with_a_reason_and_clear_it() -> None:
    unit, _ = create_unit(fields(size="micro"), unit_id="u1", now=NOW)
    with pytest.raises(Invalid):
        apply_patch(unit, {"in_scope": True}, now=NOW)
    overridden, changed, _ = apply_patch(unit, {"in_scope": True, "in_scope_reason": "industrial park pilot"},
                                         now=NOW)
    assert overridden.in_scope and changed["in_scope"] is True
    cleared, changed, _ = apply_patch(overridden, {"in_scope": None}, now=NOW)
    assert not cleared.in_scope and changed["in_scope_override"] is None


def test_patch_of_identity_or_unknown_fields_is_refused() -> None:
    unit, _ = create_unit(fields(), unit_id="u1", now=NOW)
    with pytest.raises(Invalid) as info:
        apply_patch(unit, {"kind": "school", "colour": "red"}, now=NOW)
    assert info.value.details == {"fields": ["colour", "kind"]}
    with pytest.raises(Invalid):
        apply_patch(unit, {"security_force_full_time": -1}, now=NOW)


def test_empty_patch_emits_nothing() -> None:
    unit, _ = create_unit(fields(), unit_id="u1", now=NOW)
    same, changed, events = apply_patch(unit, {}, now=NOW)
    assert same == unit and changed == {} and events == []


def test_unit_round_trips_through_json_dict() -> None:
    unit, _ = create_unit(fields(head_of_unit={"name": "Nguyễn Văn A", "phone": "0900"}), unit_id="u1", now=NOW)
    assert type(unit).from_dict(unit.to_dict()) == unit


# --- import rows ---------------------------------------------------------------------------------------------
def test_csv_row_with_strings_becomes_unit_fields() -> None:
    row = {"name": " Trường THCS Lê Lợi ", "kind": "school", "province_code": "79", "commune_code": "26743",
           "school_code": "79000123", "school_level": "lower_secondary", "models": "Trường học an toàn; Cổng trường",
           "security_force_full_time": "2", "head_of_unit.name": "Trần Thị B", "district_code": "", "note": ""}
    result = validate_import_row(row, line=2)
    assert result.ok and result.fields is not None
    assert result.fields.name == "Trường THCS Lê Lợi"
    assert result.fields.models == ("Trường học an toàn", "Cổng trường")
    assert result.fields.security_force_full_time == 2
    assert result.fields.head_of_unit is not None and result.fields.head_of_unit.name == "Trần Thị B"


def test_bad_row_lists_every_problem_by_field() -> None:
    result = validate_import_row({"name": "", "kind": "farm", "province_code": "79", "external_key": "k",
                                  "security_force_part_time": "many"}, line=7)
    assert not result.ok and result.line == 7
    assert {e.field for e in result.errors} == {"name", "kind", "security_force_part_time"}


def test_row_without_any_key_is_rejected() -> None:
    result = validate_import_row({"name": "Sở Tư pháp", "kind": "agency", "province_code": "79"}, line=3)
    assert [e.field for e in result.errors] == ["external_key"]


def test_numeric_codes_from_json_are_rejected_because_leading_zeros_matter() -> None:
    result = validate_import_row({"name": "x", "kind": "agency", "province_code": 1, "external_key": "k"}, line=1)
    assert [e.field for e in result.errors] == ["province_code"]


def test_upserted_shape_with_area_code_and_in_scope_is_accepted() -> None:
    row = {"external_key": "MST-0301", "name": "Công ty A", "kind": "enterprise", "area_code": "79",
           "in_scope": "false"}
    result = validate_import_row(row, line=1)
    assert result.fields is not None and result.fields.province_code == "79"
    assert result.fields.in_scope_override is False and result.fields.in_scope_reason


def test_commune_area_code_needs_a_way_to_find_its_province() -> None:
    row = {"external_key": "k", "name": "Công ty A", "kind": "enterprise", "area_code": "26743"}
    assert [e.field for e in validate_import_row(row, line=1).errors] == ["province_code"]
    result = validate_import_row(row, line=1, commune_province={"26743": "79"})
    assert result.fields is not None and (result.fields.province_code, result.fields.commune_code) == ("79", "26743")
