"""Fixtures of the tips integration tests: a running tips service on the test's backend, with a movable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from shared.settings import Settings
from tests.integration.tips.tips_support import Clock, Tips, tips_running, tips_settings


@pytest.fixture
async def tips(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
               namespace: str) -> AsyncIterator[Tips]:
    async with tips_running(tips_settings(settings_factory, database_url), Clock(), nats_url, namespace) as harness:
        yield harness
