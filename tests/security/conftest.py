"""Fixtures of the security tests: a notify service's settings, a real HTTP receiver and an event publisher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import nats
import pytest

from shared.settings import Settings
from tests.integration.notify.conftest import HttpReceiver, Publisher, http_receiver


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as server:
        yield server


@pytest.fixture
async def bus(nats_url: str, namespace: str) -> AsyncIterator[Publisher]:
    nc = await nats.connect(nats_url)
    try:
        yield Publisher(nc, namespace)
    finally:
        await nc.close()


@pytest.fixture
def notify_config(settings_factory: Callable[..., Settings],
                  database_url: Callable[[str], str]) -> Callable[..., Settings]:
    """Settings of one notify service on a fresh database (webhooks: public addresses only unless overridden)."""
    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {"notify_database_url": database_url("notify"),
                                     "notify_worker_poll_seconds": 0.05, "notify_http_timeout_seconds": 3}
        return settings_factory(**(values | overrides))

    return make
