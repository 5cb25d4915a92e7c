"""The NATS cluster proof on this machine: three nats-server processes as a JetStream cluster, every stream
declared at replicas 3 by the services themselves, the platform started with `antq up --nats-url <all three>`.
A node is killed in the middle of a stream of tips: every acknowledged tip is still processed exactly once (tips
→ notify inbox), the services keep working (/readyz 200 again), and the node, once back, catches up."""

from __future__ import annotations

import time
from collections.abc import Callable

import nats
import pytest

from tests.cluster.cluster import NatsCluster, replica_state, stream_leader, wait_caught_up
from tests.reliability.harness import STREAMS, Load, Platform, Verdict, report, scenario

TIPS_ONLY = {"tip_http": 4, "tip_inbound": 1}


async def _replicas(urls: str) -> dict[str, int]:
    nc = await nats.connect(servers=urls.split(","))
    try:
        js = nc.jetstream()
        return {s: (await js.stream_info(s)).config.num_replicas or 1 for s in STREAMS}
    finally:
        await nc.close()


async def _lose_nodes(cluster: NatsCluster, platform: Platform, *, victims: list[str], count: int, rate: float,
                      duration: float, fault: str) -> tuple[Verdict, list[str]]:
    """Run a stream of tips; for each victim (a stream leader when the name is "TIPS-leader"), kill it, keep
    submitting while it is down, bring it back and wait until it has caught up."""
    events: list[str] = []

    async def inject(p: Platform, load: Load) -> None:
        for victim in victims:
            await load.wait_acked(20)
            name = await stream_leader(load.js, "TIPS") if victim == "TIPS-leader" else victim
            node = cluster.node(name)
            cluster.kill_node(node)
            t0 = time.monotonic()
            await load.wait_acked(25)  # tips keep being acknowledged while the node is down
            await p.wait_all_ready(timeout=90)
            events.append(f"killed {name} (TIPS leader: {victim == 'TIPS-leader'}); services ready and 25 more "
                          f"acknowledged after {time.monotonic() - t0:.1f}s")
            cluster.start_node(node)
            state = await wait_caught_up(cluster.urls, name, list(STREAMS), timeout=90)
            events.append(f"{name} back and current on every stream after {time.monotonic() - t0:.1f}s: "
                          f"TIPS {state['TIPS']}")

    verdict = await scenario(platform, fault=fault, inject=inject, count=count, rate=rate, duration=duration,
                             seed=5, weights=TIPS_ONLY)
    verdict.notes.extend(events)
    return verdict, events


async def _final_catch_up(cluster: NatsCluster, names: list[str]) -> None:
    """Every node is a current replica with no lag, asked through the node that was lost."""
    for name in names:
        await wait_caught_up(cluster.node(name).url, name, list(STREAMS), timeout=60)
        nc = await nats.connect(cluster.node(name).url)
        try:
            states = await replica_state(nc.jetstream(), "TIPS")
        finally:
            await nc.close()
        assert set(states) == {n.name for n in cluster.nodes}, states


@pytest.mark.timeout(240)
async def test_a_node_lost_under_a_stream_of_tips(cluster: NatsCluster,
                                                  platform_on: Callable[[NatsCluster], Platform]) -> None:
    platform = platform_on(cluster)
    assert await _replicas(cluster.urls) == dict.fromkeys(STREAMS, 3)
    verdict, events = await _lose_nodes(cluster, platform, victims=["TIPS-leader"], count=250, rate=15,
                                        duration=60, fault="cluster: TIPS leader killed under tips")
    assert verdict.ok and verdict.by_kind["tip_http"]["acked"] >= 45, report(verdict)
    await _final_catch_up(cluster, [e.split()[1] for e in events if e.startswith("killed")])


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_each_node_lost_in_turn_under_a_stream_of_tips(cluster: NatsCluster,
                                                             platform_on: Callable[[NatsCluster], Platform]) -> None:
    platform = platform_on(cluster)
    assert await _replicas(cluster.urls) == dict.fromkeys(STREAMS, 3)
    victims = ["TIPS-leader", *(n.name for n in cluster.nodes)]
    verdict, _ = await _lose_nodes(cluster, platform, victims=victims, count=3000, rate=20, duration=400,
                                        fault="cluster: each node killed in turn (leader first)")
    assert verdict.ok, report(verdict)
    await _final_catch_up(cluster, [n.name for n in cluster.nodes])
