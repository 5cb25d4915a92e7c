"""UTCDateTime's one-step SQLite bind gives exactly the text the composed default stores, and keeps its errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from shared.db import UTCDateTime

SQLITE = sqlite.dialect()


def bind(dialect: Any) -> Any:
    """The processor SQLAlchemy uses: the type adapted to the dialect, as statements compile it."""
    return UTCDateTime().dialect_impl(dialect).bind_processor(dialect)


def composed_default(value: object) -> object:
    """What SQLAlchemy does without the override: process_bind_param, then SQLite's DATETIME formatting."""
    processor = TypeDecorator.bind_processor(UTCDateTime().dialect_impl(SQLITE), SQLITE)
    assert processor is not None
    return processor(value)


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets)


@given(aware)
def test_the_fast_bind_stores_what_the_composed_default_stores(value: datetime) -> None:
    fast = bind(SQLITE)
    assert fast is not None
    assert fast(value) == composed_default(value)


@given(aware, aware)
def test_stored_text_orders_as_the_instants(a: datetime, b: datetime) -> None:
    fast = bind(SQLITE)
    assert fast is not None
    db = sqlite3.connect(":memory:")
    assert db.execute("SELECT ? < ?", (fast(a), fast(b))).fetchone()[0] == (a < b)


def test_sqlite_uses_the_one_step_processor() -> None:
    assert bind(SQLITE).__module__ == "shared.db"


def test_none_and_naive_values_behave_as_before() -> None:
    fast = bind(SQLITE)
    assert fast is not None
    assert fast(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        fast(datetime(2026, 1, 1))
    assert fast(datetime(2026, 1, 1, 7, tzinfo=timezone(timedelta(hours=7)))) == "2026-01-01 00:00:00.000000"


def test_other_dialects_keep_the_composed_processor() -> None:
    processor = bind(postgresql.asyncpg.dialect())
    value = datetime(2026, 1, 1, 7, tzinfo=timezone(timedelta(hours=7)))
    assert processor is not None and processor(value) == datetime(2026, 1, 1, tzinfo=UTC)
