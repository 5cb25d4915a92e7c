"""Every service accepts exactly the area code format of shared/areas.py: what the registry accepts, a tip, an
award, a subscription and a token can name, and it fits every service's area columns. Whether a well-formed code
is a real place is the next rule (tests/unit/shared/test_places.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.awards.api import NominationIn
from services.awards.store import metadata as awards_metadata
from services.notify.handlers import check_area
from services.notify.store import metadata as notify_metadata
from services.tips.handlers import SubmitTip, TriageTip
from services.tips.store import metadata as tips_metadata
from services.units.domain import UnitFields, make_area_code, split_area_code
from services.units.store import metadata as units_metadata
from shared.areas import AREA_CODE_MAX_LENGTH, is_area_code
from shared.auth import TokenAuthority
from shared.errors import Invalid

VALID = ["79", "79.26743", "01.00008", "HN", "HN.BA-DINH", "a_b.c-d", "9" * 20, "79." + "1" * 40,
         "9" * 20 + "." + "1" * 40]
INVALID = ["", ".", "79.", ".26743", "79..1", "7.9.1", "79 .1", "79/1", "Hà_Nội", "79\n", "9" * 21,
           "79." + "1" * 41, "79.26743.1"]


def _units(code: str) -> bool:
    try:
        province, commune = split_area_code(code)
        UnitFields(name="x", kind="agency", province_code=province, commune_code=commune)
    except (Invalid, ValidationError):
        return False
    return True


def _model(make: Any) -> Any:
    def accepts(code: str) -> bool:
        try:
            make(code)
        except ValidationError:
            return False
        return True
    return accepts


def _notify(code: str) -> bool:
    try:
        check_area(code, "area_code")
    except Invalid as exc:
        return exc.code == "unknown_area"  # well formed, refused only as no place of the national list
    return True


SERVICES = {
    "units": _units,
    "tips submit": _model(lambda c: SubmitTip(category="theft", description="d", area_code=c)),
    "tips triage": _model(lambda c: TriageTip(assigned_area=c)),
    "awards": _model(lambda c: NominationIn.model_validate(
        {"award_type": "t", "recipient_kind": "unit", "recipient_ref": "u", "year": 2026, "area_code": c})),
    "notify": _notify,
}


@pytest.mark.parametrize("code", VALID)
def test_every_service_accepts_a_valid_code(code: str) -> None:
    assert is_area_code(code)
    assert {name: accepts(code) for name, accepts in SERVICES.items()} == dict.fromkeys(SERVICES, True)


@pytest.mark.parametrize("code", INVALID)
def test_every_service_refuses_a_malformed_code(code: str) -> None:
    assert not is_area_code(code)
    refused = {name: accepts(code) for name, accepts in SERVICES.items()
               # the registry strips surrounding whitespace from what it is given, as it always did
               if not (name == "units" and code.strip() != code and is_area_code(code.strip()))}
    assert refused == dict.fromkeys(refused, False)


parts = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-", min_size=1)


@given(parts.filter(lambda p: len(p) <= 20), st.none() | parts.filter(lambda p: len(p) <= 40))
def test_a_code_the_registry_builds_is_valid_everywhere(province: str, commune: str | None) -> None:
    code = make_area_code(province, commune)
    assert _units(code) and is_area_code(code)
    assert all(accepts(code) for accepts in SERVICES.values())


def test_the_longest_code_fits_every_area_column() -> None:
    stores = (awards_metadata, notify_metadata, tips_metadata, units_metadata)
    lengths = {f"{t.name}.{c.name}": c.type.length for md in stores
               for t in md.tables.values() for c in t.columns if "area" in c.name}
    assert lengths and all(length >= AREA_CODE_MAX_LENGTH for length in lengths.values()), lengths


def test_a_token_is_issued_only_for_an_area_code(tmp_path: Path) -> None:
    authority = TokenAuthority.from_file(tmp_path / "k.pem")
    assert authority.verify(authority.issue(role="officer", area="79.26743")).area == "79.26743"
    for bad in ("7.9.1", "79.", "79; drop"):
        with pytest.raises(ValueError, match="area code"):
            authority.issue(role="officer", area=bad)
