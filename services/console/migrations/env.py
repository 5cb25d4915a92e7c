"""Alembic environment for the console's own database."""

from services.console.store import metadata
from shared.migrations import run_env

run_env(metadata)
