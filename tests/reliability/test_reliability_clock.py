"""Clock jumps for the tips deadline scheduler. Moving the clock of processes started by `antq up` is not
practical, so this fault runs in-process on a built tips service whose `service.clock` the test moves: forward
across warnings and due times, backwards (an NTP correction), far ahead, and across a restart. Every deadline
event owed must be emitted exactly once: none lost, none repeated when time goes back and forth."""

from __future__ import annotations

import contextlib
import importlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import Settings
from shared.testing import eventually, running
from tests.reliability.harness import RESULTS, Verdict, nats_connect, read_stream, report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
NORMAL, REMOTE, TRIAGED = 20, 10, 5  # tips in a 24 h area, in a remote (48 h) area; normal ones triaged late


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


def _tips_modules() -> tuple[Any, Any]:
    try:
        app = importlib.import_module("services.tips.app")
        scheduler = importlib.import_module("services.tips.tasks")
    except ModuleNotFoundError:
        pytest.skip("the tips service has no deadline scheduler yet (services/tips/tasks.py)")
    return app, scheduler


@contextlib.asynccontextmanager
async def _tips(settings: Settings, clock: Clock) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app, _ = _tips_modules()
    service = app.build(settings)
    if not any(name == "deadlines" for name, _ in service._task_factories):
        pytest.skip("the tips service registers no deadline scheduler task yet")
    service.clock = clock
    async with running(service) as http:
        yield service, http


async def test_clock_jumps_for_the_deadline_scheduler(settings_factory: Callable[..., Settings], nats_url: str,
                                                      namespace: str, tmp_path: Path) -> None:
    _, scheduler = _tips_modules()
    started = time.monotonic()
    settings = settings_factory(tips_database_url=f"sqlite+aiosqlite:///{tmp_path / 'tips.db'}",
                                tips_scheduler_interval=0.05, tips_submit_rate_per_minute=100_000)
    clock = Clock(T0)
    nc = await nats_connect(nats_url, "reliability-clock")
    js = nc.jetstream()

    async def markers() -> Counter[tuple[str, str, str]]:
        out: Counter[tuple[str, str, str]] = Counter()
        for m in await read_stream(js, f"{namespace}_TIPS"):
            ev = m.event()
            if ev and ev["type"] in ("antq.tips.TipDeadlineApproaching.v1", "antq.tips.TipOverdue.v1"):
                out[(ev["data"]["tip_id"], ev["data"]["deadline"], ev["type"].split(".")[2])] += 1
        return out

    async def reaches(n: int, what: str) -> Counter[tuple[str, str, str]]:
        async def check() -> Counter[tuple[str, str, str]]:
            found = await markers()
            return found if sum(found.values()) >= n else Counter()
        return await eventually(check, timeout=30, what=what)

    tips: dict[str, str] = {}  # tip_id -> "normal" | "remote"
    triaged: list[str] = []
    steps: list[str] = []
    try:
        async with _tips(settings, clock) as (service, http):
            ctx = service.app.state.ctx
            officer = {"Authorization": "Bearer " + service.tokens.issue(role="officer", area=None, sub="o")}
            for i in range(NORMAL + REMOTE):
                area = "79.26743" if i < NORMAL else "11"
                r = await http.post("/tips", json={"category": "theft", "anonymous": True, "area_code": area,
                                                   "description": f"Tin báo số {i} về trộm cắp tại kho vật tư",
                                                   "location": f"Kho số {i}"})
                assert r.status_code == 202, r.text
                tips[r.json()["tip_id"]] = "normal" if i < NORMAL else "remote"
            clock.now = T0 + timedelta(hours=19)  # past the 24 h deadline's warning (6 h ahead)
            await reaches(NORMAL, "forward_24h warnings")
            steps.append("+19h: warnings")
            clock.now = T0 + timedelta(hours=1)  # backwards: nothing may be emitted again
            assert await scheduler.run_pass(ctx) == 0
            steps.append("back to +1h: nothing")
            clock.now = T0 + timedelta(hours=25)
            await reaches(2 * NORMAL, "forward_24h overdue")
            for tip_id in [t for t, k in tips.items() if k == "normal"][:TRIAGED]:
                r = await http.post(f"/tips/{tip_id}/triage", headers=officer, json={})
                assert r.status_code == 200, r.text
                triaged.append(tip_id)
            steps.append("+25h: overdue; 5 triaged late")
            clock.now = T0 + timedelta(hours=2)
            assert await scheduler.run_pass(ctx) == 0
            steps.append("back to +2h: nothing")
        # Down across the remote tips' warning and due time: both are owed on restart, once each.
        clock.now = T0 + timedelta(hours=50)
        async with _tips(settings, clock) as (service, http):
            await reaches(2 * NORMAL + 2 * REMOTE, "remote deadlines after restart")
            steps.append("restart at +50h: remote warnings and overdue")
            clock.now = T0 + timedelta(hours=25, days=20, minutes=1)  # past the triaged tips' 20-day deadline
            await reaches(2 * NORMAL + 2 * REMOTE + 2 * TRIAGED, "decide_20d")
            steps.append("+20d: decide_20d warnings and overdue")
            clock.now = T0 + timedelta(days=400)
            assert await scheduler.run_pass(service.app.state.ctx) == 0
            clock.now = T0
            assert await scheduler.run_pass(service.app.state.ctx) == 0
            steps.append("+400d and back to T0: nothing")
        found = await markers()
    finally:
        await nc.close()

    expected: Counter[tuple[str, str, str]] = Counter()
    for tip_id in tips:
        expected[(tip_id, "forward_24h", "TipDeadlineApproaching")] = 1
        expected[(tip_id, "forward_24h", "TipOverdue")] = 1
    for tip_id in triaged:
        expected[(tip_id, "decide_20d", "TipDeadlineApproaching")] = 1
        expected[(tip_id, "decide_20d", "TipOverdue")] = 1
    v = Verdict("clock jumps (tips deadline scheduler, in-process)", attempted=len(tips), acknowledged=len(tips))
    for tip_id in tips:
        mine = {k: found[k] for k in set(found) | set(expected) if k[0] == tip_id}
        lost = any(found[k] < expected[k] for k in mine)
        dup = any(found[k] > max(1, expected[k]) for k in mine) or any(found[k] and not expected[k] for k in mine)
        v.lost += lost
        v.duplicated += dup
        v.effects_found += not lost and not dup
        if lost or dup:
            v.details.append(f"{tip_id}: found {mine}")
    v.by_kind["deadline events"] = Counter(attempted=sum(expected.values()), acked=sum(expected.values()),
                                           found=sum(min(found[k], 1) for k in expected),
                                           lost=sum(1 for k in expected if not found[k]),
                                           dup=sum(n - 1 for n in found.values() if n > 1))
    v.notes.append("; ".join(steps))
    v.seconds = time.monotonic() - started
    RESULTS.append(v)
    print("\n" + report(v), flush=True)
    assert v.ok, report(v)
