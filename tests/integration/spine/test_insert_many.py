"""`insert_many` stores exactly what SQLAlchemy's own executemany stores, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import UTCDateTime, insert_many, make_engine

metadata = MetaData()


def _table(name: str) -> Table:
    return Table(
        name, metadata,
        Column("id", String(40), primary_key=True),
        Column("at", UTCDateTime, nullable=False),
        Column("later", UTCDateTime, nullable=True),
        Column("doc", JSON, nullable=True),
        Column("flag", Boolean, nullable=False),
        Column("blob", LargeBinary, nullable=True),
        Column("n", Integer, nullable=True),
        Column("note", Text, nullable=True),
    )


FAST, REFERENCE = _table("im_fast"), _table("im_reference")
DEFAULTED = Table("im_defaulted", metadata, Column("id", String(40), primary_key=True),
                  Column("state", String(16), nullable=False, default="pending"))

NOW = datetime(2026, 11, 30, 17, 0, 0, 123456, tzinfo=UTC)
HANOI = timezone(timedelta(hours=7))


def _rows() -> list[dict[str, Any]]:
    """Rows that share one `now` object (as a batch's rows do) and rows with values of their own."""
    return [{
        "id": f"row-{i:03d}",
        "at": NOW if i % 3 else datetime(2026, 1, 1, 7, i, tzinfo=HANOI),
        "later": None if i % 4 == 0 else NOW + timedelta(microseconds=i),
        "doc": None if i % 5 == 0 else {"i": i, "tên": "Đồn Công an", "list": [i, None, True]},
        "flag": bool(i % 2), "blob": bytes([i, 0, 255]) if i % 2 else None,
        "n": None if i == 7 else i * 1000, "note": "ghi chú" if i % 6 else None,
    } for i in range(40)]


@pytest.fixture
async def engine(database_url: Callable[[str], str]) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url("notify"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def _stored(session: AsyncSession, table: Table) -> list[tuple[Any, ...]]:
    """The rows as the database holds them (text SQL: no SQLAlchemy result processing)."""
    columns = ", ".join(c.name for c in table.columns if c.name != "id")
    result = await session.execute(text(f"SELECT {columns} FROM {table.name} ORDER BY id"))
    return [tuple(r) for r in result]


async def test_stores_what_sqlalchemy_stores(engine: AsyncEngine) -> None:
    rows = _rows()
    async with AsyncSession(engine) as session, session.begin():
        await insert_many(session, FAST, rows)
        await session.execute(insert(REFERENCE), rows)
    async with AsyncSession(engine) as session:
        assert await _stored(session, FAST) == await _stored(session, REFERENCE)
        back = [dict(r) for r in (await session.execute(select(FAST).order_by(FAST.c.id))).mappings()]
    assert len(back) == len(rows)
    for got, sent in zip(back, rows, strict=True):
        assert got == {**sent, "at": sent["at"].astimezone(UTC)}
        assert got["at"].tzinfo is not None


async def test_a_shared_value_is_converted_once_but_each_row_keeps_its_own(engine: AsyncEngine) -> None:
    # The same object in consecutive rows, then another object equal in value, then a different instant.
    other = datetime(2026, 11, 30, 17, 0, 0, 123456, tzinfo=UTC)
    times = [NOW, NOW, other, NOW + timedelta(seconds=1), NOW]
    rows = [{"id": f"t{i}", "at": at, "later": None, "doc": None, "flag": False, "blob": None, "n": i, "note": None}
            for i, at in enumerate(times)]
    async with AsyncSession(engine) as session, session.begin():
        await insert_many(session, FAST, rows)
    async with AsyncSession(engine) as session:
        got = list((await session.execute(select(FAST.c.at).order_by(FAST.c.id))).scalars())
    assert got == times


async def test_as_is_columns_are_stored_as_given(engine: AsyncEngine) -> None:
    doc = {"b": 2, "a": [1, "hai"]}
    rows = [{"id": "j1", "at": NOW, "later": None, "doc": json.dumps(doc), "flag": True, "blob": None, "n": None,
             "note": None}]
    async with AsyncSession(engine) as session, session.begin():
        await insert_many(session, FAST, rows, as_is={"doc"})
    async with AsyncSession(engine) as session:
        assert (await session.execute(select(FAST.c.doc))).scalar_one() == doc


async def test_a_left_out_python_default_is_filled_in(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await insert_many(session, DEFAULTED, [{"id": "d1"}, {"id": "d2"}])
        await insert_many(session, DEFAULTED, [{"id": "d3", "state": "sent"}])
    async with AsyncSession(engine) as session:
        got = dict(tuple(r) for r in await session.execute(select(DEFAULTED.c.id, DEFAULTED.c.state)))
    assert got == {"d1": "pending", "d2": "pending", "d3": "sent"}


async def test_rows_are_part_of_the_session_transaction(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        await session.begin()
        await insert_many(session, FAST, _rows()[:3])
        await session.rollback()
    async with AsyncSession(engine) as session:
        assert await _stored(session, FAST) == []


async def test_rows_of_other_shapes_are_refused(engine: AsyncEngine) -> None:
    good = _rows()[0]
    async with AsyncSession(engine) as session, session.begin():
        with pytest.raises(ValueError, match="must all have the keys"):
            await insert_many(session, FAST, [good, {**good, "id": "x", "extra": 1}])
        with pytest.raises(KeyError):
            await insert_many(session, FAST, [good, {k: v for k, v in good.items() if k != "note"} | {"x": 1}])
        with pytest.raises(Exception, match="extra"):
            await insert_many(session, FAST, [{**good, "extra": 1}])
        await insert_many(session, FAST, [])  # nothing to do
