"""The staff console under load: `/tips` and `/tips/{id}` rendered for 8 signed-in sessions at once with 10,000
tips in the officers' area, the time from `POST /tips` to the event on an open queue's stream, and the console's
memory.

The tips and console services run as their own processes (`antq serve tips`, `antq serve console`), so the RSS
read from /proc is the console's own. The 10,000 tips are recorded before the tips process starts, through the
tips service's own handlers (`prepare_tip`, `record_tips`) in transactions of 500, spread over three days so that
their deadlines differ (some overdue). Sessions are httpx clients that signed in on the form, as a browser does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import timedelta
from typing import Any

import httpx

from shared import places
from tests.bench.common import RssSampler, World, cpu_seconds, ms, percentile, processes, service_process
from tests.console_world import PASSWORD, sign_in

HCMC = places.communes_of("79")  # real communes: every service checks areas against the national list

CATEGORIES = ("theft", "fraud", "drugs", "gambling", "other")
RECORD_BATCH = 500


def _tip(i: int) -> dict[str, Any]:
    return {"category": CATEGORIES[i % len(CATEGORIES)], "area_code": HCMC[i % 100].code, "anonymous": True,
            "description": f"Tin báo số {i}: nghi vấn {CATEGORIES[i % len(CATEGORIES)]} tại khu phố {i % 37}, "
                           f"xảy ra khoảng {i % 24} giờ, nhiều người chứng kiến ({random.random():.6f})"}


async def _prefill(world: World, n: int) -> None:
    """`n` tips in area 79, through the tips service's handlers, received over the last three days."""
    from services.tips.app import build as build_tips
    from services.tips.handlers import SubmitTip, prepare_tip, record_tips
    from shared.db import utcnow
    from shared.migrations import migrate

    settings = world.settings(tips_database_url=world.env("tips", 0)["ANTQ_TIPS_DATABASE_URL"])
    await migrate(str(settings.tips_database_url), "tips")
    service = build_tips(settings)
    ctx = service.app.state.ctx
    now = utcnow()
    try:
        for start in range(0, n, RECORD_BATCH):
            size = min(RECORD_BATCH, n - start)
            batch = await asyncio.gather(*(prepare_tip(SubmitTip.model_validate(_tip(start + i)), ctx=ctx,
                                                       channel="web" if i % 3 else "api") for i in range(size)))
            async with service.db.unit_of_work() as uow:
                await record_tips(batch, uow, ctx=ctx, now=now - timedelta(hours=72) * (1 - start / n))
    finally:
        await service.db.dispose()


async def _accounts(world: World, names: list[str]) -> None:
    from services.console.domain.accounts import Account
    from services.console.handlers import Accounts
    from shared.db import Database, utcnow
    from shared.migrations import migrate

    url = world.env("console", 0)["ANTQ_CONSOLE_DATABASE_URL"]
    await migrate(url, "console")
    db = Database(url, source="antq/console")
    try:
        accounts = Accounts(db, world.settings(console_argon2_profile="fast"))
        for name in names:
            await accounts.add(Account(name, "officer", area="79"), PASSWORD, now=utcnow())
    finally:
        await db.dispose()


async def run(nats_url: str, *, tips: int = 10_000, sessions: int = 8, duration: float = 20.0,
              arrivals: int = 40, poll: float = 0.5, timeout: float = 30.0) -> dict[str, Any]:
    world = World(nats_url)
    try:
        started = time.perf_counter()
        await _prefill(world, tips)
        prefill_s = time.perf_counter() - started
        names = [f"officer{i}" for i in range(sessions + 1)]
        await _accounts(world, names)
        tips_proc = service_process(world, "tips")
        console = service_process(world, "console", {
            "ANTQ_CONSOLE_TIPS_URL": f"http://127.0.0.1:{tips_proc.port}", "ANTQ_CONSOLE_ARGON2_PROFILE": "fast",
            "ANTQ_CONSOLE_INBOX_POLL_SECONDS": str(poll)})
        async with processes(tips_proc, console):
            base = f"http://127.0.0.1:{console.port}"
            clients = [httpx.AsyncClient(base_url=base, timeout=timeout) for _ in names]
            async with contextlib.AsyncExitStack() as stack:
                for client in clients:
                    await stack.enter_async_context(client)
                for client, name in zip(clients, names, strict=True):
                    assert (await sign_in(client, name)).status_code == 303
                await asyncio.sleep(1.0)
                rss_rest = console.rss()
                # One session alone first: what a page costs without seven others queueing beside it.
                alone: list[float] = []
                for _ in range(20):
                    t = time.perf_counter()
                    assert (await clients[0].get("/tips")).status_code == 200
                    alone.append(time.perf_counter() - t)
                render = {"tips": [], "tip": []}
                errors = 0
                stop = asyncio.Event()

                async def session(client: httpx.AsyncClient) -> None:
                    nonlocal errors
                    while not stop.is_set():
                        t = time.perf_counter()
                        page = await client.get("/tips")
                        render["tips"].append(time.perf_counter() - t)
                        ids = [p.split('"', 1)[0] for p in page.text.split('data-tip="')[1:]]
                        if page.status_code != 200 or not ids:
                            errors += 1
                            continue
                        t = time.perf_counter()
                        one = await client.get(f"/tips/{random.choice(ids)}")
                        render["tip"].append(time.perf_counter() - t)
                        errors += one.status_code != 200

                arrival: list[float] = []
                missed = 0

                async def watch_arrivals(client: httpx.AsyncClient) -> None:
                    nonlocal missed
                    seen: dict[str, float] = {}
                    got = asyncio.Event()
                    async with client.stream("GET", "/events", params={"topic": "tips"}) as stream, \
                            httpx.AsyncClient(base_url=f"http://127.0.0.1:{tips_proc.port}") as public:

                        async def read() -> None:
                            event = None
                            async for line in stream.aiter_lines():
                                if line.startswith("event: "):
                                    event = line[7:]
                                elif line.startswith("data: ") and event == "tips":
                                    seen[line[6:]] = time.perf_counter()
                                    got.set()

                        reader = asyncio.create_task(read())
                        await asyncio.sleep(poll * 3)  # the area's poller has its first answer
                        try:
                            for i in range(arrivals):
                                got.clear()
                                t = time.perf_counter()
                                r = await public.post("/tips", json=_tip(tips + i))
                                tip_id = r.json()["tip_id"]
                                with contextlib.suppress(TimeoutError):
                                    while tip_id not in seen:
                                        await asyncio.wait_for(got.wait(), timeout=timeout)
                                        got.clear()
                                if tip_id in seen:
                                    arrival.append(seen[tip_id] - t)
                                else:
                                    missed += 1
                                # The next tip at a random point of the poll cycle, as tips arrive.
                                await asyncio.sleep(random.uniform(0.1, poll * 2))
                        finally:
                            reader.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await reader

                cpu_before = {"console": cpu_seconds(console.pid), "tips": cpu_seconds(tips_proc.pid)}
                async with RssSampler({"console": console.pid}) as rss:
                    loaders = [asyncio.create_task(session(c)) for c in clients[:sessions]]
                    watcher = asyncio.create_task(watch_arrivals(clients[sessions]))
                    await asyncio.sleep(duration)
                    await watcher
                    stop.set()
                    await asyncio.gather(*loaders)
                renders = len(render["tips"]) + len(render["tip"])
                cpu = {name: round((cpu_seconds(p) - cpu_before[name]) * 1000 / max(1, renders), 1)
                       for name, p in (("console", console.pid), ("tips", tips_proc.pid))}
        return {
            "tips": tips, "sessions": sessions, "duration_s": duration, "poll_s": poll,
            "prefill_s": round(prefill_s, 1), "errors": errors,
            "tips_page": {"renders": len(render["tips"]), "p50_ms": ms(percentile(render["tips"], 50)),
                          "p99_ms": ms(percentile(render["tips"], 99))},
            "tips_page_alone": {"p50_ms": ms(percentile(alone, 50)), "p99_ms": ms(percentile(alone, 99))},
            "cpu_ms_per_render": cpu,
            "tip_page": {"renders": len(render["tip"]), "p50_ms": ms(percentile(render["tip"], 50)),
                         "p99_ms": ms(percentile(render["tip"], 99))},
            "arrival": {"tips": len(arrival), "missed": missed, "p50_ms": ms(percentile(arrival, 50)),
                        "p99_ms": ms(percentile(arrival, 99))},
            "rss_rest_mib": round(rss_rest, 1), "rss_peak_mib": round(rss.peak["console"], 1),
        }
    finally:
        with contextlib.suppress(Exception):
            world.cleanup()
