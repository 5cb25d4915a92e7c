"""Fixtures of the NATS cluster proof: a three-node JetStream cluster and the platform started against it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.cluster import NatsCluster
from tests.reliability.harness import RESULTS, Platform, format_kinds, format_table


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    c = NatsCluster(tmp_path / "nats")
    try:
        await c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
def platform_on(tmp_path: Path) -> Iterator[Any]:
    """`platform_on(cluster)`: `antq up --nats-url <all three>` with every stream declared at replicas 3."""
    started: list[Platform] = []

    def start(c: NatsCluster) -> Platform:
        p = Platform.start(tmp_path / "platform", nats_url=c.urls,
                           env={"ANTQ_STREAM_REPLICAS": "3", "ANTQ_NATS_URL": c.urls})
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    mine = [v for v in RESULTS if v.fault.startswith("cluster:")]
    if not mine:
        return
    terminalreporter.write_sep("=", "NATS cluster: a node lost under load")
    terminalreporter.write_line(format_table(mine))
    for v in mine:
        terminalreporter.write_line(f"- {v.fault} ({v.seconds:.0f}s): {format_kinds(v)}")
        for note in v.notes:
            terminalreporter.write_line(f"    {note}")
