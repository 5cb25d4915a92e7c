"""Three nats-server processes as a JetStream cluster on loopback ports (routes, distinct store dirs,
`sync_interval: always`), each stoppable and restartable with its store."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats

from shared.nats_binary import find_nats_server
from tests.reliability.harness import free_port


@dataclass
class Node:
    name: str
    port: int
    cluster_port: int
    store: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.store / "server.log"


@dataclass
class NatsCluster:
    root: Path
    size: int = 3
    name: str = "antq-test"
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i in range(1, self.size + 1):
            self.nodes.append(Node(f"n{i}", free_port(), free_port(), self.root / f"n{i}"))

    @property
    def urls(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def config(self, node: Node) -> str:
        routes = ", ".join(f"nats-route://127.0.0.1:{n.cluster_port}" for n in self.nodes)
        return (f"server_name: {node.name}\n"
                f"listen: 127.0.0.1:{node.port}\n"
                f"jetstream {{\n  store_dir: \"{node.store / 'js'}\"\n  sync_interval: always\n}}\n"
                f"cluster {{\n  name: {self.name}\n  listen: 127.0.0.1:{node.cluster_port}\n"
                f"  routes: [{routes}]\n}}\n")

    def start_node(self, node: Node) -> None:
        node.store.mkdir(parents=True, exist_ok=True)
        conf = node.store / "nats.conf"
        conf.write_text(self.config(node))
        node.proc = subprocess.Popen([find_nats_server(), "-c", str(conf), "-l", str(node.log)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill_node(self, node: Node) -> None:
        """kill -9: no goodbye to the cluster, as when a machine fails."""
        if node.proc and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()

    async def start(self, timeout: float = 60) -> None:
        for node in self.nodes:
            self.start_node(node)
        await self.wait_jetstream(timeout=timeout)

    async def wait_jetstream(self, timeout: float = 60, urls: str | None = None) -> None:
        """Until a JetStream request is answered through each given server (the meta leader is elected)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        for url in (urls or self.urls).split(","):
            while True:
                try:
                    nc = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0)
                    try:
                        await nc.jetstream().account_info()
                        break
                    finally:
                        await nc.close()
                except Exception as exc:
                    last = exc
                if time.monotonic() > deadline:
                    logs = "\n".join(n.log.read_text()[-1500:] for n in self.nodes if n.log.exists())
                    raise AssertionError(f"JetStream cluster not up within {timeout}s: {last!r}\n{logs}")
                await asyncio.sleep(0.3)

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc and node.proc.poll() is None:
                node.proc.terminate()
                try:
                    node.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()


async def replica_state(js: Any, stream: str) -> dict[str, dict[str, Any]]:
    """Per server: leader or replica, current?, lag (from stream info's cluster section)."""
    info = await js.stream_info(stream)
    out: dict[str, dict[str, Any]] = {}
    if info.cluster is None:
        return out
    if info.cluster.leader:
        out[info.cluster.leader] = {"role": "leader", "current": True, "lag": 0, "offline": False}
    for r in info.cluster.replicas or []:
        out[r.name] = {"role": "replica", "current": bool(r.current), "lag": r.lag or 0,
                       "offline": bool(r.offline)}
    return out


async def stream_leader(js: Any, stream: str) -> str:
    info = await js.stream_info(stream)
    assert info.cluster is not None and info.cluster.leader, f"{stream} has no leader: {info.cluster}"
    return str(info.cluster.leader)


async def wait_caught_up(urls: str, node: str, streams: list[str], timeout: float = 60) -> dict[str, Any]:
    """Until `node` is a current replica (or the leader) with no lag on every stream; returns the states."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    nc = await nats.connect(servers=urls.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.3)
    try:
        js = nc.jetstream()
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                last = {s: (await replica_state(js, s)).get(node) for s in streams}
                if all(v and v["current"] and not v["offline"] and v["lag"] == 0 for v in last.values()):
                    return last
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
    raise AssertionError(f"{node} did not catch up within {timeout}s: {last}")
