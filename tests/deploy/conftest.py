"""Fixtures for the deployment-artefact tests: the external binaries they drive."""

from __future__ import annotations

import shutil

import pytest

from shared.testing import missing_tool

from .helpers import nats_server_binary


@pytest.fixture(scope="session")
def nats_server_bin() -> str:
    path = nats_server_binary()
    if path is None:
        missing_tool("nats-server not found: install the project's dev dependencies (nats-server-bin)")
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing_tool("promtool not found: install Debian's `prometheus` package")
    return path
