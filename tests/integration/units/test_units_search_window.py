"""Registry search past the name-order window (`store.list_units`): with a window of a few entries, every page
and cursor is the one of the plain ordered query (a window wider than the registry), whatever the words."""

from __future__ import annotations

from typing import Any

import pytest

from services.units import store
from tests.integration.units.units_support import Harness


async def _pages(units: Harness, params: dict[str, Any], headers: dict[str, str]) -> list[tuple[list[str], Any]]:
    """Every page of a search, following the cursor: each page's unit ids and its next cursor."""
    pages: list[tuple[list[str], Any]] = []
    cursor = None
    while True:
        r = await units.http.get("/units", headers=headers,
                                 params=params | ({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(([u["unit_id"] for u in body["items"]], body["next_cursor"]))
        cursor = body["next_cursor"]
        if not cursor:
            return pages


async def test_search_past_the_window_gives_the_pages_of_the_plain_ordered_query(
        units: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # Names sort: "Công ty …" (many, two of them sharing a name), then "Hợp tác xã …", then "Trường …" (the words
    # "truong" and "thcs" match only at the end), "đặc biệt" on every fourth unit, "lẻ" on two only.
    for i in range(14):
        extra = " đặc biệt" if i % 4 == 0 else ""
        await units.create_unit(name=f"Công ty May {i:02d}{extra}", area_code="79.26743")
    await units.create_unit(name="Công ty May 05", area_code="01.00008")
    await units.create_unit(name="Công ty May 05 lẻ", area_code="79.26737")
    for i in range(5):
        await units.create_unit(name=f"Hợp tác xã Lúa {i}{' đặc biệt' if i == 2 else ''}",
                                kind="agency", area_code="79.26737")
    for i in range(7):
        await units.create_unit(name=f"Trường THCS Số {i}{' lẻ' if i == 6 else ''}", kind="school",
                                area_code="79.26743" if i % 2 else "01.00008")
    admin, officer = units.admin, units.auth("officer", area="79")
    searches = [(q, extra, headers)
                for q in ("cong ty", "truong", "thcs so", "dac biet", "le", "khong co", "may 05", "lua 3")
                for extra, headers in (({}, admin), ({"area_code": "79"}, admin), ({}, officer))]

    async def every_page(limit: int) -> list[list[tuple[list[str], Any]]]:
        return [await _pages(units, {"q": q, "limit": limit} | extra, headers) for q, extra, headers in searches]

    monkeypatch.setattr(store, "SEARCH_WINDOW", 10_000)
    monkeypatch.setattr(store, "SEARCH_WINDOW_IN_AREA", 10_000)
    plain = {limit: await every_page(limit) for limit in (2, 3, 50)}
    assert plain[3][searches.index(("truong", {}, admin))][0][0], "the matches at the end are found"
    assert [len(p) for p in plain[3][:3]] == [6, 5, 5], "several pages, followed by their cursors"
    # A second window after the first (as far as the first one's matches say the page lies), or none.
    for window, second in [(w, 10_000) for w in range(1, 9)] + [(w, 0) for w in (1, 3, 6)]:
        monkeypatch.setattr(store, "SEARCH_WINDOW", window)
        monkeypatch.setattr(store, "SEARCH_WINDOW_IN_AREA", window)
        monkeypatch.setattr(store, "SEARCH_WINDOW_NEXT", second)
        for limit in (2, 3, 50):
            assert await every_page(limit) == plain[limit], (window, second, limit)
