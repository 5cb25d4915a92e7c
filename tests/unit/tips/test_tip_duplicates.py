"""Duplicate detection: candidates share category and place, are close in time, and read alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.tips.domain import TipFingerprint, find_duplicates, fold, load_triage_rules, text_similarity

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
RULES = load_triage_rules()
TEXT = "Có người lạ trèo tường vào kho vật tư của công ty lúc nửa đêm, lấy trộm dây cáp đồng"


def fp(tip_id: str, text: str = TEXT, *, hours: float = 0, category: str = "theft", area: str | None = "00745",
       unit: str | None = None) -> TipFingerprint:
    return TipFingerprint(tip_id=tip_id, category=category, received_at=T0 + timedelta(hours=hours),
                          description=text, area_code=area, unit_id=unit)


def test_folding_removes_vietnamese_diacritics_and_case() -> None:
    assert fold("Đường Lê Lợi, TRỘM CẮP") == "duong le loi, trom cap"


def test_same_text_typed_without_diacritics_is_a_strong_candidate() -> None:
    other = fp("t2", "co nguoi la treo tuong vao kho vat tu cua cong ty luc nua dem, lay trom day cap dong", hours=5)
    [candidate] = find_duplicates(fp("t1"), [other], RULES)
    assert candidate.tip_id == "t2"
    assert candidate.score > 0.9
    assert "same_area" in candidate.reasons


def test_reworded_report_of_the_same_event_is_linked_and_unrelated_text_is_not() -> None:
    reworded = fp("t2", "Nửa đêm có kẻ trèo tường vào kho vật tư công ty lấy trộm cáp đồng", hours=10)
    unrelated = fp("t3", "Một nhóm thanh niên tụ tập đua xe trái phép trên quốc lộ gây mất trật tự", hours=1)
    found = find_duplicates(fp("t1"), [reworded, unrelated], RULES)
    assert [c.tip_id for c in found] == ["t2"]


def test_different_category_place_or_time_is_never_a_candidate() -> None:
    others = [
        fp("t2", category="fraud"),
        fp("t3", area="00999"),
        fp("t4", hours=RULES.window_hours + 1),
        fp("t5", area=None),
    ]
    assert find_duplicates(fp("t1"), others, RULES) == []


def test_same_unit_counts_as_same_place_and_ranks_higher() -> None:
    new = fp("t1", unit="u1", area=None)
    same_unit = fp("t2", unit="u1", area=None, hours=2)
    found = find_duplicates(new, [same_unit], RULES)
    assert found
    assert found[0].score == 1.0
    assert "same_unit" in found[0].reasons


def test_candidates_are_sorted_by_score() -> None:
    close_copy = fp("t2", TEXT + " hôm qua", hours=1)
    looser = fp("t3", "Có người trèo tường vào kho công ty lấy trộm dây cáp", hours=1)
    found = find_duplicates(fp("t1"), [looser, close_copy], RULES)
    assert [c.tip_id for c in found] == ["t2", "t3"]
    assert found[0].score >= found[1].score


def test_a_tip_is_not_its_own_duplicate() -> None:
    assert find_duplicates(fp("t1"), [fp("t1")], RULES) == []


@given(st.text(max_size=200), st.text(max_size=200))
def test_text_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    score = text_similarity(a, b, RULES)
    assert 0.0 <= score <= 1.0
    assert abs(score - text_similarity(b, a, RULES)) < 1e-12


WORDS = ["trộm", "cắp", "xe", "máy", "kho", "vật", "tư", "công", "ty", "đêm", "người", "lạ", "đua", "ma", "túy",
         "nhà", "trọ", "phường", "đánh", "bạc", "cáp", "đồng", "trèo", "tường"]


@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=30), st.lists(st.sampled_from(WORDS), min_size=1,
                                                                           max_size=30), st.booleans())
def test_skipping_pairs_by_their_sizes_never_changes_a_result(a: list[str], b: list[str], same_unit: bool) -> None:
    """A pair whose set sizes alone keep it under the threshold is not compared; every other one is scored as
    the text similarity says, so the links found are those of comparing every pair."""
    new = fp("t1", " ".join(a), unit="u1" if same_unit else None)
    other = fp("t2", " ".join(b), hours=1, unit="u1" if same_unit else None)
    score = min(1.0, text_similarity(new.description, other.description, RULES)
                + (RULES.same_unit_bonus if same_unit else 0.0))
    found = find_duplicates(new, [other], RULES)
    if score >= RULES.min_score:
        assert [(c.tip_id, c.score) for c in found] == [("t2", round(score, 4))]
    else:
        assert found == []
