"""Shared fixtures: real NATS and PostgreSQL (env URL, testcontainers, local process), per-test namespaces."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from shared.settings import PROCESSES, Settings
from shared.testing import (
    ISSUED_NAMESPACES,
    ServerUnavailable,
    create_database,
    drop_database,
    drop_namespaces,
    nats_server,
    postgres_server,
    unique_namespace,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} unavailable ({exc}); set ANTQ_TEST_{what.upper()}_URL"
    if IN_CI:
        pytest.fail(message + " — CI must never skip server tests")
    pytest.skip(message)


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    try:
        with nats_server() as url:
            yield url
    except ServerUnavailable as exc:
        _unavailable("nats", exc)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield url
    except ServerUnavailable as exc:
        _unavailable("postgres", exc)


@pytest.fixture
def namespace() -> str:
    """Every test gets its own subject prefix and stream names on the shared NATS server."""
    return unique_namespace()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_streams() -> Iterator[None]:
    """A shared NATS server (ANTQ_TEST_NATS_URL) outlives the run: delete the streams of the namespaces this
    process handed out, so that runs do not pile up streams there. A server started by the tests dies with them."""
    yield
    url = os.environ.get("ANTQ_TEST_NATS_URL")
    if url and ISSUED_NAMESPACES:
        with contextlib.suppress(Exception):
            asyncio.run(drop_namespaces(url, list(ISSUED_NAMESPACES)))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[
        Callable[[str], str]]:
    """A factory: service name -> a fresh, empty database URL of the test's backend."""
    created: list[str] = []
    admin = request.getfixturevalue("pg_admin_url") if backend == "postgres" else None
    urls: dict[str, str] = {}

    async def make(service: str) -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / (service + '.db')}"
        name = f"antq_{service}_{uuid.uuid4().hex[:10]}"
        assert admin is not None
        url = await create_database(admin, name)
        created.append(name)
        return url

    for service in PROCESSES:
        urls[service] = await make(service)
    yield lambda service: urls[service]
    for name in created:
        assert admin is not None
        await drop_database(admin, name)


@pytest.fixture
def settings_factory(nats_url: str, namespace: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for in-process services of one test: its own namespace and data dir."""

    def make(**overrides: object) -> Settings:
        base: dict[str, object] = {
            "data_dir": tmp_path / "data", "nats_url": nats_url, "namespace": namespace,
            "consumer_retry_delay": 0.05, "relay_poll_interval": 0.1,
            "log_json": False, "sqlite_synchronous": "NORMAL", "gc_freeze_on_start": False,
            # Tests that change data and then read /stats expect the figures at once: live. The snapshots'
            # own tests (test_units_stats_snapshots.py) set a max age.
            "units_stats_max_age": 0,
        }
        base.update(overrides)
        return Settings(**base)  # type: ignore[arg-type]

    return make
