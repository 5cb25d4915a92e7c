"""A service started as in compose and Kubernetes (the migration job migrates) does not load Alembic: it is 11 MiB
of a service's resident memory (docs/benchmarks.md, memory at rest)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("alembic", "mako")


@pytest.mark.parametrize("service", ["units", "tips", "awards", "notify", "console"])
def test_a_service_and_the_command_line_load_no_migration_tool(service: str) -> None:
    probe = (f"import sys, services.cli, services.{service}.app as app\n"
             "services.cli._mount_service_commands()  # every command mounted, as for `antq --help`\n"
             f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
