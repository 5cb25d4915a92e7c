"""Fixtures of the units integration tests: a running units service on the test's backend and namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from shared.settings import Settings
from tests.integration.units.units_support import Harness, units_harness


@pytest.fixture
async def units(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
                namespace: str) -> AsyncIterator[Harness]:
    async with units_harness(settings_factory, database_url, nats_url, namespace,
                             units_metrics_refresh_seconds=0.1) as harness:
        yield harness
