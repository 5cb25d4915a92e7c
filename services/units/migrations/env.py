"""Alembic environment for the units service's own database."""

from services.units.store import metadata
from shared.migrations import run_env

run_env(metadata)
