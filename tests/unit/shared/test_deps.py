"""The one keyset pagination helper: cursors decode to the list's sort shape or are 422 `invalid_cursor`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.deps import Paging
from shared.errors import Invalid
from shared.http import encode_cursor


def paging(value: object, limit: int = 2) -> Paging:
    return Paging(cursor=encode_cursor(value), limit=limit)


def test_a_cursor_decodes_to_the_lists_sort_shape() -> None:
    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert paging([at.isoformat(), "t-1"]).after(datetime, str) == (at, "t-1")
    assert paging("u-9").after(str) == ("u-9",)
    assert paging(41).after(int) == (41,)
    assert Paging(cursor=None, limit=2).after(str) is None


@pytest.mark.parametrize("value", [
    ["2026-12-03T08:00:00", "t-1"],           # a time without a zone
    ["1850-01-01T00:00:00+00:00", "t-1"],     # a time out of range
    ["not a time", "t-1"],
    ["t-1"],                                  # the wrong number of keys
    [1, "t-1"],
])
def test_a_cursor_of_another_shape_is_invalid_cursor(value: object) -> None:
    with pytest.raises(Invalid) as refused:
        paging(value).after(datetime, str)
    assert refused.value.code == "invalid_cursor"


@pytest.mark.parametrize("value", [-1, 2**63, True, "7"])
def test_an_integer_cursor_must_be_a_database_integer(value: object) -> None:
    with pytest.raises(Invalid):
        paging(value).after(int)


def test_a_page_says_whether_more_may_follow() -> None:
    p = Paging(cursor=None, limit=2)
    # Fetched `probe` rows: a cursor only when the extra row came.
    assert p.page([1, 2, 3], lambda n: (n,), probed=True).next_cursor == encode_cursor([2])
    assert p.page([1, 2], lambda n: (n,), probed=True).next_cursor is None
    # Fetched `limit` rows: a full page may have more.
    assert p.page([1, 2], lambda n: (n,)).next_cursor == encode_cursor([2])
    assert p.page([1], lambda n: (n,)).next_cursor is None
    assert p.page([], lambda n: (n,)).items == []
