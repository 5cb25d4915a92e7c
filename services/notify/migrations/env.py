"""Alembic environment for the notify service's own database."""

from services.notify.store import metadata
from shared.migrations import run_env

run_env(metadata)
