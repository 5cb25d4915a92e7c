"""The national list: every province and commune passes the area rules, names read as people write them, unknown
codes come with close matches, and an operator's local areas file is checked when the settings load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.notify.handlers import check_area
from services.tips.domain.rules import DeadlineRules, load_deadline_rules
from services.units.domain import make_area_code, split_area_code
from shared import places
from shared.areas import UnknownArea, check_known_area, covers, is_area_code, unknown_area_details
from shared.auth import TokenAuthority
from shared.settings import Settings


@pytest.fixture(autouse=True)
def _no_local_areas() -> Iterator[None]:
    yield
    places.use_local_areas(())


def test_the_list_has_34_provinces_and_3321_communes() -> None:
    assert len(places.provinces()) == 34
    assert sum(len(places.communes_of(p.code)) for p in places.provinces()) == 3321


def test_every_code_of_the_list_passes_the_area_rules(tmp_path: Path) -> None:
    authority = TokenAuthority.from_file(tmp_path / "k.pem")
    for province in places.provinces():
        check_known_area(province.code)
        token = authority.verify(authority.issue(role="officer", area=province.code))
        for commune in places.communes_of(province.code):
            assert is_area_code(commune.code) and commune.province_code == province.code
            assert covers(province.code, commune.code) and token.covers_area(commune.code)
            check_known_area(commune.code)
            check_area(commune.code, "area_code")  # a notification subscription scoped to it
            assert make_area_code(*split_area_code(commune.code)) == commune.code  # a unit registered in it
        commune_token = authority.verify(authority.issue(role="officer", area=commune.code))
        assert commune_token.covers_area(commune.code) and not commune_token.covers_area(province.code)


def test_labels_name_the_commune_and_province_in_both_languages() -> None:
    assert places.area_label("79.26743", "vi") == "Phường Bến Thành, Thành phố Hồ Chí Minh"
    assert places.area_label("79.26743", "en") == "Ben Thanh Ward, Ho Chi Minh City"
    assert places.area_label("11", "en") == "Dien Bien Province"
    assert places.area_label(None, "vi") == "không rõ địa điểm"
    assert places.area_label(None, "en") == "place unknown"


def test_search_ignores_accents_and_case() -> None:
    assert [p.code for p in places.search("ben thanh")] == ["79.26743"]
    assert next(p.code for p in places.search("HỒ CHÍ MINH")) == "79"
    assert places.search("  ") == []


def test_an_unknown_code_is_refused_with_the_nearest_places() -> None:
    with pytest.raises(UnknownArea) as caught:
        check_known_area("79.26734")
    assert caught.value.status == 422 and caught.value.code == "unknown_area"
    near = [m["code"] for m in caught.value.details["close_matches"]]
    assert near[0] == "79.26732" and "79.26737" in near
    assert unknown_area_details("Nguyễn Văn A 0909")["area_code"] is None  # free text is never repeated
    assert places.close_matches("02.00100")[0]["code"] == "01"  # Hà Giang's old code: the nearest provinces
    assert places.close_matches("tan dinh")[0] == {"code": "79.26737", "name": "Phường Tân Định, Thành phố Hồ Chí Minh"}


def test_a_local_areas_file_adds_areas_under_a_province(tmp_path: Path) -> None:
    path = tmp_path / "local.yaml"
    path.write_text('- {code: "79.KCN-TAN-THUAN", name: "Khu chế xuất Tân Thuận", kind: "khu chế xuất"}\n',
                    encoding="utf-8")
    with pytest.raises(UnknownArea):
        check_known_area("79.KCN-TAN-THUAN")
    Settings(local_areas_file=path)
    check_known_area("79.KCN-TAN-THUAN")
    assert places.area_label("79.KCN-TAN-THUAN", "vi") == "Khu chế xuất Tân Thuận, Thành phố Hồ Chí Minh"
    assert places.communes_of("79")[-1].code == "79.KCN-TAN-THUAN"


@pytest.mark.parametrize(("text", "message"), [
    ('- {code: "78.KCN", name: "x"}\n', "province '78' is not in the national list"),
    ('- {code: "79.26743", name: "x"}\n', "already a commune"),
    ('- {code: "79", name: "x"}\n', "must be <province>.<token>"),
    ('- {code: "79.A", name: ""}\n', "has no name"),
    ('- {code: "79.A", name: "a"}\n- {code: "79.A", name: "b"}\n', "repeated"),
    ("code: 79\n", "must be a list"),
    ("- [unclosed\n", "cannot be read as yaml"),
])
def test_a_bad_local_areas_file_stops_start_up_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "local.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError, match="ANTQ_LOCAL_AREAS_FILE") as caught:
        Settings(local_areas_file=path)
    assert message in str(caught.value)


def test_local_areas_may_be_csv(tmp_path: Path) -> None:
    path = tmp_path / "local.csv"
    path.write_text("code,name,kind\n38.KKT-NGHI-SON,Khu kinh tế Nghi Sơn,khu kinh tế\n", encoding="utf-8")
    Settings(local_areas_file=path)
    assert places.is_known_area("38.KKT-NGHI-SON")


def test_the_remote_communes_of_the_48_hour_rule_are_places_of_the_list() -> None:
    rules = load_deadline_rules()
    assert rules.remote_area_codes and all(places.is_known_area(c) for c in rules.remote_area_codes)
    data = rules.model_dump()
    data["remote_area_codes"] = ["12.00745"]
    with pytest.raises(ValidationError, match=r"not places of the national list: 12\.00745"):
        DeadlineRules.model_validate(data)


def test_the_demo_names_its_communes_as_the_national_list_does() -> None:
    from services.units.demo import COMMUNES, PROVINCE

    assert len(COMMUNES) == 5
    assert all(places.area_label(f"{PROVINCE}.{code}", "vi") == f"{name}, Thành phố Hồ Chí Minh"
               for code, name in COMMUNES.items())
