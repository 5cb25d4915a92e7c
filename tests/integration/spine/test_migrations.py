"""Each service's Alembic migrations create exactly the schema its store declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect

from shared.db import make_engine, spine_metadata
from shared.migrations import migrate
from shared.settings import SERVICES


def _diff(connection: Any, metadata: list[MetaData]) -> list[Any]:
    elsewhere = _other_dialects_indexes(metadata, connection.dialect.name)
    merged = MetaData()
    for md in metadata:
        for table in md.tables.values():
            table.to_metadata(merged)
    context = MigrationContext.configure(connection, opts={"compare_type": True, "render_as_batch": True})
    return [d for d in compare_metadata(context, merged)
            if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "alembic_version")
            and not (isinstance(d, tuple) and d[0] == "add_index" and d[1].name in elsewhere)]


def _other_dialects_indexes(metadata: list[MetaData], dialect: str) -> set[str]:
    """Indexes declared for another database only (`Index(...).ddl_if(dialect=...)`): not missing on this one."""
    out = set()
    for md in metadata:
        for table in md.tables.values():
            for index in table.indexes:
                only = getattr(index, "_ddl_if", None)
                if only is not None and only.dialect is not None and only.dialect != dialect:
                    out.add(str(index.name))
    return out


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_match_the_declared_tables(service: str, database_url: Callable[[str], str]) -> None:
    url = database_url(service)
    await migrate(url, service)
    await migrate(url, service)  # idempotent: a second run is a no-op
    store = importlib.import_module(f"services.{service}.store")
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(_diff, [spine_metadata, store.metadata])
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert {"outbox", "inbox", "alembic_version"} <= tables
    assert diffs == [], f"{service}: migrations and store.py disagree: {diffs}"


async def test_console_migrations_create_only_its_own_tables(database_url: Callable[[str], str]) -> None:
    """The console keeps accounts, sessions and preferences, and nothing of the spine (it is not on the bus)."""
    from services.console import store

    url = database_url("console")
    await migrate(url, "console")
    await migrate(url, "console")
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(_diff, [store.metadata])
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert tables == {"accounts", "sessions", "preferences", "alembic_version"}
    assert diffs == []
