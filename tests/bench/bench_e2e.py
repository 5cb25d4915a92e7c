"""End-to-end latency: from `POST /tips` to the tip in the area officer's inbox, at a steady rate.

The tips and notify services run as processes (`antq serve`); tips are posted open-loop at `rate` per second
(each at its scheduled time, whether or not earlier ones are answered), and the officer's `GET /inbox` is polled
every `poll` seconds. A tip's latency runs from the moment its POST was sent to the first poll that shows it.
The baseline is what the path costs without the bus: the latency of the POST alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from tests.bench.bench_intake import tip_body
from tests.bench.common import (
    HttpConnection,
    RssSampler,
    World,
    encode_request,
    ms,
    percentile,
    processes,
    service_process,
)


async def run(nats_url: str, *, rate: float = 20.0, duration: float = 15.0, poll: float = 0.02,
              timeout: float = 30.0) -> dict[str, Any]:
    world = World(nats_url)
    tips = service_process(world, "tips")
    notify = service_process(world, "notify")
    n = max(1, int(rate * duration))
    sent_at: dict[str, float] = {}
    post_latency: list[float] = []
    seen_at: dict[str, float] = {}
    failures = 0
    try:
        async with processes(tips, notify):
            await asyncio.sleep(0.5)
            rest = {"tips": tips.rss(), "notify": notify.rss()}
            token = world.token(role="officer", area="79", sub="bench-officer")
            inbox_request = encode_request("GET", "/inbox?limit=100",
                                           headers={"Authorization": f"Bearer {token}"})
            posting_done = asyncio.Event()

            async def post(i: int, at: float) -> None:
                nonlocal failures
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
                conn = HttpConnection("127.0.0.1", tips.port)
                t = time.perf_counter()
                try:
                    status, body = await conn.send(encode_request("POST", "/tips", body=tip_body(i)))
                finally:
                    conn.close()
                if status != 202:
                    failures += 1
                    return
                post_latency.append(time.perf_counter() - t)
                sent_at[json.loads(body)["tip_id"]] = t

            async def watch() -> None:
                conn = HttpConnection("127.0.0.1", notify.port)
                try:
                    deadline = None
                    while True:
                        status, body = await conn.send(inbox_request)
                        now = time.perf_counter()
                        if status == 200:
                            for item in json.loads(body)["items"]:
                                tip_id = _tip_id(item)
                                if tip_id and tip_id not in seen_at:
                                    seen_at[tip_id] = now
                        if posting_done.is_set():
                            deadline = deadline or now + timeout
                            if all(t in seen_at for t in sent_at) or now > deadline:
                                return
                        await asyncio.sleep(poll)
                finally:
                    conn.close()

            async with RssSampler({"tips": tips.pid, "notify": notify.pid}) as rss:
                watcher = asyncio.create_task(watch())
                start = time.perf_counter() + 0.2
                await asyncio.gather(*(post(i, start + i / rate) for i in range(n)))
                posting_done.set()
                await watcher
        latencies = [seen_at[t] - sent_at[t] for t in sent_at if t in seen_at]
        return {
            "rate_per_s": rate, "duration_s": duration, "posted": n, "accepted": len(sent_at),
            "reached_inbox": len(latencies), "failed_posts": failures, "poll_ms": ms(poll),
            "e2e": {"p50_ms": ms(percentile(latencies, 50)), "p99_ms": ms(percentile(latencies, 99)),
                    "max_ms": ms(max(latencies)) if latencies else None},
            "post_only": {"p50_ms": ms(percentile(post_latency, 50)), "p99_ms": ms(percentile(post_latency, 99))},
            "rss_rest_mib": {k: round(v, 1) for k, v in rest.items()},
            "rss_peak_mib": {k: round(v, 1) for k, v in rss.peak.items()},
        }
    finally:
        with contextlib.suppress(Exception):
            world.cleanup()


def _tip_id(item: dict[str, Any]) -> str | None:
    # The inbox item links the tip's console page (`.../tips/<tip_id>`); its text names the tip in words.
    head, _, last = str(item.get("link", "")).rstrip("/").rpartition("/")
    return last if head.endswith("/tips") and last else None
