"""`area_within`: the hierarchical area match in SQL treats every character of a code literally."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select

from shared.areas import area_within
from shared.db import make_engine

metadata = MetaData()
places = Table("aw_places", metadata, Column("area_code", String(64), primary_key=True))
CODES = ["79", "79.26743", "790", "790.1", "7_.1", "HN_X", "HN_X.01", "HNAX.01", "HN%X.01", "HN\\X.01"]


@pytest.mark.parametrize(("area", "expected"), [
    ("79", {"79", "79.26743"}),
    ("7_", {"7_.1"}),  # "_" is not a wildcard: "79.26743" is not under "7_"
    ("HN_X", {"HN_X", "HN_X.01"}),
    ("HN%X", {"HN%X.01"}),
    ("HN\\X", {"HN\\X.01"}),
    ("79.26743", {"79.26743"}),
])
async def test_an_area_covers_itself_and_what_lies_under_it(area: str, expected: set[str],
                                                            database_url: Callable[[str], str]) -> None:
    engine = make_engine(database_url("notify"))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(places), [{"area_code": c} for c in CODES])
            got = set((await conn.execute(select(places.c.area_code).where(area_within(places.c.area_code, area))))
                      .scalars())
    finally:
        await engine.dispose()
    assert got == expected
