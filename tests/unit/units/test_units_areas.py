"""Area codes "PP" / "PP.CCCCC" in units, import rows and events, and contacts kept out of events."""

from datetime import UTC, datetime

import pytest

from services.units.domain import (
    StatsQuery,
    UnitFields,
    apply_patch,
    area_covers,
    create_unit,
    make_area_code,
    split_area_code,
    validate_import_row,
)
from shared.errors import Invalid
from tests.units_reference_stats import unit_matches

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def test_area_codes_round_trip_and_malformed_ones_are_refused() -> None:
    assert make_area_code("79", "26743") == "79.26743" and make_area_code("79", None) == "79"
    assert split_area_code("79.26743") == ("79", "26743") and split_area_code("79") == ("79", None)
    for bad in ("", "79.", ".26743", "79.1.2"):
        with pytest.raises(Invalid):
            split_area_code(bad)
    with pytest.raises(ValueError):
        UnitFields(name="x", kind="agency", province_code="79.1")


def test_area_cover_is_hierarchical_and_not_a_string_prefix() -> None:
    assert area_covers("79", "79.26743") and area_covers("79", "79") and area_covers("79.26743", "79.26743")
    assert not area_covers("7", "79.26743") and not area_covers("79.26743", "79")
    unit, _ = create_unit(UnitFields(name="x", kind="agency", province_code="79", commune_code="26743",
                                     external_key="k"), unit_id="u", now=NOW)
    assert unit_matches(unit, StatsQuery(year=2026, area_code="79"))
    assert not unit_matches(unit, StatsQuery(year=2026, area_code="79.26737"))


def test_import_row_takes_a_commune_area_code_and_refuses_contradictions_and_numbers() -> None:
    row = validate_import_row({"name": "A", "kind": "agency", "area_code": "79.26743", "external_key": "k"}, line=1)
    assert row.fields is not None and (row.fields.province_code, row.fields.commune_code) == ("79", "26743")
    clash = validate_import_row({"name": "A", "kind": "agency", "area_code": "79.26743", "province_code": "01",
                                "external_key": "k"}, line=2)
    assert [e.field for e in clash.errors] == ["province_code"]
    number = validate_import_row({"name": "A", "kind": "agency", "area_code": 79, "external_key": "k"}, line=3)
    assert [e.field for e in number.errors] == ["area_code"]


def test_a_move_adds_the_new_area_code_and_contacts_are_redacted_in_the_event() -> None:
    unit, _ = create_unit(UnitFields(name="x", kind="agency", province_code="79", commune_code="26743",
                                     external_key="k"), unit_id="u", now=NOW)
    _, changed, events = apply_patch(unit, {"commune_code": "26737", "head_of_unit": {"name": "Ngô Thị Hoa"}},
                                     now=NOW)
    assert changed["area_code"] == "79.26737" and changed["head_of_unit"]["name"] == "Ngô Thị Hoa"
    assert events[0].changed["area_code"] == "79.26737"
    assert "Ngô Thị Hoa" not in str(events[0].changed)
