"""Alembic environment for the awards service's own database."""

from services.awards.store import metadata
from shared.migrations import run_env

run_env(metadata)
