"""Fixtures of the awards integration tests: a running awards service on the test's backend and a bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from shared.settings import Settings
from tests.integration.awards.awards_helpers import Awards, awards_running


@pytest.fixture
def awards_settings(settings_factory: Callable[..., Settings], database_url: Callable[[str], str]) -> Settings:
    return settings_factory(awards_database_url=database_url("awards"), awards_deadline_check_interval=0.2,
                            awards_claim_rate_per_minute=6, awards_public_base_url="https://awards.test")


@pytest.fixture
async def awards(awards_settings: Settings, nats_url: str, namespace: str) -> AsyncIterator[Awards]:
    async with awards_running(awards_settings, nats_url, namespace) as world:
        yield world
