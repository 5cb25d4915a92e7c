"""`antq up` as a user runs it: real processes, embedded NATS, a tip reaching the officer's inbox."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import pytest

from shared.contracts import CloudEvent
from shared.settings import PORT_OFFSETS
from shared.settings import SERVICES as BUS_SERVICES
from shared.testing import free_port, free_port_block

# The services on the bus and their port offsets (shared/service_registry.py).
SERVICES = {s: PORT_OFFSETS[s] for s in BUS_SERVICES}


def _free_block(size: int = 6) -> int:
    """A base port whose next `size` ports are free (P+1..P+5: the four services and the console)."""
    return free_port_block(size)


@dataclass
class Platform:
    proc: subprocess.Popen[str]
    data_dir: Path
    port_base: int
    nats_port: int
    output: list[str]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port_base + SERVICES[service]}"

    def token(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "services.cli", "token", "--data-dir", str(self.data_dir), *args],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()


def _start(tmp_path: Path, *extra: str) -> Platform:
    base, nats_port = _free_block(), free_port()
    data = tmp_path / "antq-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTQ_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data), "--port-base", str(base),
         "--nats-port", str(nats_port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    platform = Platform(proc, data, base, nats_port, [])

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            platform.output.append(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return platform


def _wait_line(p: Platform, needle: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(needle in line for line in p.output):
            return
        if p.proc.poll() is not None:
            time.sleep(0.2)
            raise AssertionError(f"antq up exited {p.proc.returncode}:\n" + "\n".join(p.output))
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not printed within {timeout}s:\n" + "\n".join(p.output))


@contextlib.contextmanager
def ready_platform(data_dir: Path) -> Iterator[Platform]:
    """`antq up` on `data_dir` until it says it is ready; stopped with SIGTERM (killed if it hangs) afterwards."""
    p = _start(data_dir)
    try:
        _wait_line(p, "antq is ready")
        yield p
    finally:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGTERM)
            try:
                p.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.proc.kill()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with ready_platform(tmp_path) as p:
        yield p


def test_antq_up_serves_all_four_and_a_tip_reaches_the_officer_inbox(platform: Platform) -> None:
    lines = "\n".join(platform.output)
    for name in (*SERVICES, "console"):
        assert f"{name}" in lines and "ready" in lines
    with httpx.Client(timeout=10) as http:
        console = f"http://127.0.0.1:{platform.port_base + 5}"
        assert http.get(console + "/readyz").status_code == 200
        assert http.get(console + "/tips").headers["location"] == "/login"
    with httpx.Client(timeout=10) as http:
        for name in SERVICES:
            assert http.get(platform.url(name) + "/readyz").status_code == 200
            assert http.get(platform.url(name) + "/healthz").json()["status"] == "alive"
            assert "antq_outbox_pending_events" in http.get(platform.url(name) + "/metrics").text
            assert http.get(platform.url(name) + "/openapi.json").json()["info"]["title"] == f"antq {name}"
            assert http.get(platform.url(name) + "/asyncapi.json").json()["asyncapi"].startswith("3.")

        reporter = {"name": "Lê Hoàng Phúc", "phone": "0987654321", "email": "phuc.le@example.vn"}
        posted_at = time.monotonic()
        r = http.post(platform.url("tips") + "/tips", json={
            "category": "theft", "description": "Mất trộm thiết bị tại kho số 3", "area_code": "79",
            "anonymous": False, "reporter": reporter})
        assert r.status_code == 202, r.text
        tip_id = r.json()["tip_id"]

        officer = platform.token("--role", "officer", "--area", "79")
        items: list[dict] = []
        while time.monotonic() - posted_at < 10 and not items:
            resp = http.get(platform.url("notify") + "/inbox", headers={"Authorization": f"Bearer {officer}"})
            assert resp.status_code == 200, resp.text
            items = [i for i in resp.json()["items"] if i["link"].endswith(f"/tips/{tip_id}")]
            if not items:
                time.sleep(0.1)
        assert items, "the officer's inbox never showed the tip"
        assert all(v not in str(items) for v in reporter.values())

    operator = subprocess.run([sys.executable, "-m", "services.cli", "nats", "url", "--role", "operator",
                               "--data-dir", str(platform.data_dir)], capture_output=True, text=True,
                              check=True).stdout.strip()

    async def read_event() -> tuple[dict[str, str], bytes]:
        nc = await nats.connect(operator)
        try:
            js = nc.jetstream()
            msg = await js.get_last_msg("TIPS", "antq.tips.TipReceived.v1")
            return dict(msg.headers or {}), msg.data or b""
        finally:
            await nc.close()

    headers, data = asyncio.run(read_event())
    envelope = CloudEvent.model_validate_json(data)
    assert envelope.data["tip_id"] == tip_id and headers["Nats-Msg-Id"] == envelope.id
    assert all(v.encode() not in data for v in reporter.values())


def test_a_killed_service_is_restarted_and_sigterm_stops_everything(platform: Platform) -> None:
    with httpx.Client(timeout=5) as http:
        pid_before = _listening_pid(platform.port_base + SERVICES["notify"])
        os.kill(pid_before, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if http.get(platform.url("notify") + "/readyz").status_code == 200 and \
                        _listening_pid(platform.port_base + SERVICES["notify"]) != pid_before:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("notify was not restarted")
    platform.proc.send_signal(signal.SIGTERM)
    assert platform.proc.wait(timeout=30) == 0
    _wait_line(platform, "antq stopped", timeout=5)
    assert any("notify" in line and "restarting" in line for line in platform.output)
    for name in SERVICES:
        with socket.socket() as s:
            s.bind(("127.0.0.1", platform.port_base + SERVICES[name]))  # the port is free again


def test_a_taken_port_gives_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANTQ_")}
        out = subprocess.run([sys.executable, "-m", "services.cli", "up", "--data-dir", str(tmp_path / "d"),
                              "--nats-port", str(taken), "--port-base", str(_free_block())],
                             capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2
    assert f"NATS port {taken}" in out.stderr + out.stdout and "--nats-port" in out.stderr + out.stdout


def _listening_pid(port: int) -> int:
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":
                inode = parts[9]
    assert inode, f"nothing listens on {port}"
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return int(pid_dir.name)
        except OSError:
            continue
    raise AssertionError("listener pid not found")
