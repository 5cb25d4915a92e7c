"""Alembic migrations per service, run programmatically over the service's async engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from shared.db import make_engine, spine_metadata

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(service: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    cfg.set_main_option("version_table", "alembic_version")
    return cfg


def _upgrade(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def migrate(url: str, service: str, revision: str = "head") -> None:
    """Apply the service's migrations to the database at `url` (idempotent)."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, alembic_config(service), revision)
    finally:
        await engine.dispose()


def run_env(service_metadata: MetaData) -> None:
    """Body of each service's migrations/env.py: migrate the connection handed over by `migrate`."""
    from alembic import context

    config = context.config
    connection: Any = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `antq migrate`, which provides the connection")
    context.configure(
        connection=connection,
        target_metadata=[spine_metadata, service_metadata],
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
