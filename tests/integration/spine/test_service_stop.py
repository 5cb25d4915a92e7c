"""A service stopped while it waits for its streams stops. Its start-up retries until `antq nats provision` has
run; a stop (SIGTERM: uvicorn's shutdown, then the lifespan's `Service.stop`) cancels that loop. A cancellation
that arrives while a library call is waiting can come back as the library's own error (or not at all, from
`asyncio.wait_for` before Python 3.12), and the loop took it for one more failure to retry: `antq serve` then
did not exit until killed (seen as `antq serve tips` still running 30 s after SIGTERM)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import shared.service
from services.units.app import build as build_units
from shared.settings import Settings


async def test_a_service_stopped_while_it_waits_for_its_streams_stops(
        settings_factory: Callable[..., Settings], nats_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = asyncio.Event()
    real = shared.service.missing_streams

    async def missing_streams(js: Any, names: Any) -> Any:
        missing = await real(js, names)  # the real answer from the real server: nothing is provisioned
        asked.set()
        try:
            await asyncio.sleep(3600)  # a library call still waiting when the stop comes
        except asyncio.CancelledError:
            raise RuntimeError("request interrupted") from None  # the cancellation as a library's own error
        return missing

    monkeypatch.setattr(shared.service, "missing_streams", missing_streams)
    units = build_units(settings_factory(units_database_url=None))
    await units.start()
    stopping: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(asked.wait(), timeout=60)
        assert not units._bus_ready.is_set()
        stopping = asyncio.create_task(units.stop())
        done, _ = await asyncio.wait({stopping}, timeout=60)
        assert stopping in done, "Service.stop is still waiting for the bus start-up's retry loop"
        stopping.result()
    finally:
        if stopping is None or not stopping.done():
            for task in units._tasks.values():  # let the test end either way
                task.cancel()
