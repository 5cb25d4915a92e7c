"""Page sizes of every list: 50 by default, at most 500 (the contract's "max 500"), at least 1."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import Invalid
from shared.http import clamp_limit


def test_default_page_is_50() -> None:
    assert clamp_limit(None) == 50


@given(st.integers(min_value=1, max_value=10**9))
def test_a_limit_is_served_up_to_500(limit: int) -> None:
    assert clamp_limit(limit) == min(limit, 500)


@pytest.mark.parametrize("limit", [0, -1, -500])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(Invalid) as info:
        clamp_limit(limit)
    assert info.value.code == "invalid_limit" and info.value.status == 422
