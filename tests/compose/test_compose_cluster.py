"""The compose file's `cluster` profile started for real: three NATS containers in one cluster, the streams at
replicas 3, the services connected to all three; a tip reaches the officer's inbox, and again with one of the
three NATS containers stopped (JetStream keeps its quorum). `make compose-test` runs it (root, podman)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from shared.testing import free_port
from tests.compose.stack import Stack, images, podman_ready
from tests.compose.test_compose_stack import PORT_VARIABLES, Running, _inbox_links, _submit, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

CLUSTER_URL = "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222"
STREAM_REPLICAS = """
import asyncio, json, os, nats
async def main():
    nc = await nats.connect(os.environ["ANTQ_NATS_URL"].split(","), user=os.environ["ANTQ_NATS_USER"],
                            password=os.environ["ANTQ_NATS_PASSWORD"])
    info = await nc.jetstream().stream_info("TIPS")
    print(json.dumps({"replicas": info.config.num_replicas, "leader": info.cluster.leader,
                      "peers": sorted(r.name for r in info.cluster.replicas or [])}))
    await nc.close()
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    problem = podman_ready()
    if problem:
        pytest.skip(f"{problem}: `make compose-test` installs and configures podman (root)")
    work = tmp_path_factory.mktemp("cluster")
    ports = {name: free_port() for name in PORT_VARIABLES}
    variables = images(work / "images.env")
    variables |= {PORT_VARIABLES[name]: str(port) for name, port in ports.items()}
    variables |= {"ANTQ_PUBLISH_ADDRESS": "127.0.0.1", "ANTQ_NATS_URL": CLUSTER_URL, "ANTQ_STREAM_REPLICAS": "3"}
    stack = Stack(f"antqcluster{os.getpid()}", variables, work / "stack.env", profiles=("cluster",))
    try:
        stack.up(["nats-1", "nats-2", "nats-3"])
        stack.up(["units", "tips", "notify"])
        yield Running(stack, ports)
    except Exception:
        for name in stack.started:
            print(f"--- {name}\n{stack.logs(name)}")
        raise
    finally:
        stack.down()
        assert not stack.state(), "containers left behind"


def test_streams_are_replicated_on_the_three_nats_containers(cluster: Running) -> None:
    # Asked from inside the tips container, with the provisioning (admin) user's credentials.
    out = cluster.stack.run_shell("tips", "ANTQ_NATS_USER=admin ANTQ_NATS_PASSWORD=dev-admin python -c '"
                                  + STREAM_REPLICAS.replace("'", '"') + "'")
    info = json.loads(out.strip().splitlines()[-1])
    assert info["replicas"] == 3
    assert {info["leader"], *info["peers"]} == {"nats-1", "nats-2", "nats-3"}


def test_a_tip_reaches_the_inbox_with_one_nats_container_stopped(cluster: Running) -> None:
    officer = cluster.auth("--role", "officer", "--area", "79")
    first = _submit(cluster, {}, "Tin báo khi cả ba máy chủ NATS cùng chạy")
    until(lambda: any(link.endswith(f"/tips/{first}") for link in _inbox_links(cluster, officer)),
          what="the first tip in the inbox")
    cluster.stack.run(("stop", "-t", "5", cluster.stack.container("nats-2")))
    second = _submit(cluster, {}, "Tin báo khi một máy chủ NATS đã dừng")
    until(lambda: any(link.endswith(f"/tips/{second}") for link in _inbox_links(cluster, officer)), timeout=120,
          what="the second tip in the inbox with nats-2 stopped")
