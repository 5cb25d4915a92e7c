"""Each service's Alembic migrations create exactly the schema its store declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text

from shared.db import make_engine, spine_metadata
from shared.migrations import alembic_config, migrate
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
    assert {"outbox", "processed_events", "alembic_version"} <= tables
    assert "inbox" not in tables
    assert diffs == [], f"{service}: migrations and store.py disagree: {diffs}"


# The revision that renamed the spine's `inbox` table to `processed_events`, per bus service.
RENAMED_AT = {"units": "0009", "tips": "0005", "awards": "0005", "notify": "0005"}


def _downgrade(connection: Any, service: str, revision: str) -> None:
    cfg = alembic_config(service)
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


def _spine_state(connection: Any) -> dict[str, Any]:
    insp = inspect(connection)
    tables = set(insp.get_table_names())
    processed = next(t for t in ("processed_events", "inbox") if t in tables)
    return {"tables": tables, "table": processed, "pkey": insp.get_pk_constraint(processed)["name"],
            "rows": [tuple(r) for r in connection.execute(text(f"SELECT consumer, event_id FROM {processed}"))]}


@pytest.mark.parametrize("service", sorted(RENAMED_AT))
async def test_the_processed_events_rename_goes_up_and_down_keeping_the_rows(
        service: str, database_url: Callable[[str], str]) -> None:
    """A database migrated before the rename keeps its processed events under the new name (and back again)."""
    url = database_url(service)
    renamed_at = RENAMED_AT[service]
    before = f"{int(renamed_at) - 1:04d}"
    await migrate(url, service, before)
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO inbox (consumer, event_id, processed_at) "
                                    "VALUES ('c', 'e1', CURRENT_TIMESTAMP)"))
        await migrate(url, service)
        async with engine.connect() as conn:
            up = await conn.run_sync(_spine_state)
            diffs = await conn.run_sync(_diff, [spine_metadata, importlib.import_module(
                f"services.{service}.store").metadata])
        assert up["table"] == "processed_events" and "inbox" not in up["tables"]
        assert up["rows"] == [("c", "e1")]
        assert diffs == []
        if postgres:
            assert up["pkey"] == "processed_events_pkey"
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, service, before)
        async with engine.connect() as conn:
            down = await conn.run_sync(_spine_state)
        assert down["table"] == "inbox" and "processed_events" not in down["tables"]
        assert down["rows"] == [("c", "e1")]
        if postgres:
            assert down["pkey"] == "inbox_pkey"
        async with engine.begin() as conn:  # and all the way down: the first migration drops the old name
            await conn.run_sync(_downgrade, service, "base")
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert left <= {"alembic_version"}
    finally:
        await engine.dispose()


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
