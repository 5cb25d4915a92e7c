"""Alembic environment for the tips service's own database."""

from services.tips.store import metadata
from shared.migrations import run_env

run_env(metadata)
