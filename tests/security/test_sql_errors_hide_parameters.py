"""A failing SQL statement's error, and so any log line made from it, never carries the statement's parameters
(encrypted identities, receipt hashes, a reporter's words): every engine is made with `hide_parameters`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from shared.db import make_engine

SECRET = "Nguyễn Văn A 0901234567"


async def test_a_failing_statement_does_not_echo_its_parameters(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, secret TEXT NOT NULL UNIQUE)"))
            await conn.execute(text("INSERT INTO t (secret) VALUES (:s)"), {"s": SECRET})
        with pytest.raises(StatementError) as caught:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (secret) VALUES (:s)"), {"s": SECRET})
        assert SECRET not in str(caught.value) and "hidden" in str(caught.value)
    finally:
        await engine.dispose()


def test_postgresql_engines_hide_parameters_too() -> None:
    engine = make_engine("postgresql+asyncpg://antq@127.0.0.1:1/none")  # never connects
    assert engine.sync_engine.hide_parameters
