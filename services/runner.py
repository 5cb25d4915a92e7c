"""The embedded runner behind `antq up`: a NATS server, the four services and the console as supervised processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.bus import consumed_streams
from shared.backoff import backoff_delay
from shared.bus.embedded import EmbeddedBus
from shared.bus.permissions import ADMIN_USER
from shared.bus.streams import provision
from shared.nats_binary import find_nats_server as _find_nats_server
from shared.settings import PROCESSES, Settings, child_environment

log = logging.getLogger("antq.up")


class StartupError(RuntimeError):
    """Something the operator must fix before `antq up` can start (a port taken, no nats-server binary)."""


def find_nats_server() -> str:
    try:
        return _find_nats_server()
    except FileNotFoundError as exc:
        raise StartupError(str(exc)) from exc


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(self, settings: Settings, *, demo: bool = False, out: Callable[[str], None] = print):
        self.settings = settings
        self.demo = demo
        self.out = out
        self.children: dict[str, Child] = {}
        self.stopping = False

    def preflight(self) -> list[int]:
        ports = {f"{s} HTTP": self.settings.http_port_for(s) for s in PROCESSES}
        if not self.settings.nats_url:
            ports["NATS"] = self.settings.nats_port
        taken = [f"{what} port {port}" for what, port in ports.items() if not port_free(port)]
        if taken:
            raise StartupError(
                "port(s) already in use: " + ", ".join(taken)
                + ". Choose others with --port-base / --nats-port (or ANTQ_PORT_BASE / ANTQ_NATS_PORT), "
                  "or use a running NATS with --nats-url.")
        return list(ports.values())

    async def start_child(self, child: Child) -> None:
        child.log_path.parent.mkdir(parents=True, exist_ok=True)
        logfile = open(child.log_path, "ab")  # noqa: SIM115 — handed to the child process
        child.proc = await asyncio.create_subprocess_exec(*child.argv, env=child.env, stdout=logfile,
                                                          stderr=logfile, start_new_session=True)
        logfile.close()
        child.started_at = time.monotonic()

    async def run(self) -> int:
        s = self.settings
        from shared.datadir import prepare_data_dir

        prepare_data_dir(s, PROCESSES)  # owner-only modes, databases under db/ (before any child opens them)
        self.preflight()
        from shared.auth import load_or_create_key

        load_or_create_key(s.auth_key_path())  # one signing key, created before the services race for it
        logs = s.data_dir / "logs"
        bus: EmbeddedBus | None = None
        if not s.nats_url:
            binary = find_nats_server()
            store = (s.data_dir / "nats").resolve()
            # Every user gets a password and the least privileges of deploy/nats/; anonymous clients are refused.
            bus = EmbeddedBus.prepare(s, store, consumed_streams())
            conf = bus.write_config()
            nats = Child("nats", [binary, "-c", str(conf.resolve())], dict(os.environ), logs / "nats.log")
            self.children["nats"] = nats
            await self.start_child(nats)
            await self.wait_tcp(s.nats_port, "nats")
            self.out(f"nats     ready  {s.effective_nats_url()}  (JetStream store {store}; "
                     f"credentials {EmbeddedBus.state_path(s.data_dir).resolve()})")
        else:
            self.out(f"nats     using  {s.effective_nats_url()}")
        # Streams are declared here, with the provisioning (operator) user; services only wait for them.
        streams = await self.provision(bus.settings_for(s, ADMIN_USER) if bus else s)
        self.out(f"nats     provisioned {len(streams)} streams ({', '.join(name for name, _ in streams)})")
        for name in PROCESSES:
            argv = [sys.executable, "-m", "services.cli", "serve", name]
            env = child_environment(s, name)
            if bus is not None and name in bus.passwords:  # the console uses no bus
                env.update({"ANTQ_NATS_USER": name, "ANTQ_NATS_PASSWORD": bus.passwords[name]})
                env.pop("ANTQ_NATS_TOKEN", None)
                env.pop("ANTQ_NATS_CREDS", None)
            child = Child(name, argv, env, logs / f"{name}.log")
            self.children[name] = child
            await self.start_child(child)
        for name in PROCESSES:
            port = s.http_port_for(name)
            await self.wait_ready(name, port)
            self.out(f"{name:<8} ready  http://127.0.0.1:{port}  (logs {logs / (name + '.log')})")
        if self.demo:
            from services.demo import load_demo

            summary = await load_demo(s)
            self.out(f"demo     loaded {summary}")
        self.out(f"antq is ready (data dir {s.data_dir.resolve()}; Ctrl-C stops everything)")
        return await self.supervise()

    async def provision(self, settings: Settings, timeout: float = 30) -> list[tuple[str, str]]:
        """`antq nats provision`, retried while a server that just opened its port readies JetStream."""
        deadline = time.monotonic() + timeout
        while True:
            child = self.children.get("nats")
            if child and child.proc and child.proc.returncode is not None:
                raise StartupError(f"nats exited with code {child.proc.returncode}; see {child.log_path}")
            try:
                return await provision(settings)
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise StartupError(f"could not provision the NATS streams: {type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(0.2)

    async def wait_tcp(self, port: int, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            child = self.children.get(name)
            if child and child.proc and child.proc.returncode is not None:
                raise StartupError(f"{name} exited with code {child.proc.returncode}; see {child.log_path}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            await asyncio.sleep(0.1)
        raise StartupError(f"{name} did not open port {port} within {timeout:.0f}s")

    async def wait_ready(self, name: str, port: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                child = self.children[name]
                if child.proc and child.proc.returncode is not None:
                    raise StartupError(f"{name} exited with code {child.proc.returncode}; see {child.log_path}")
                try:
                    r = await client.get(f"http://127.0.0.1:{port}/readyz")
                    if r.status_code == 200:
                        return
                    last = r.text
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                await asyncio.sleep(0.2)
        raise StartupError(f"{name} not ready within {timeout:.0f}s: {last}")

    async def supervise(self) -> int:
        while not self.stopping:
            for child in list(self.children.values()):
                if self.stopping:
                    break
                if child.proc is not None and child.proc.returncode is not None:
                    # Back off when a process keeps dying; reset once it has run for a minute.
                    if time.monotonic() - child.started_at > 60:
                        child.restarts = 0
                    delay = backoff_delay(child.restarts + 1, first=0.5, cap=30)
                    child.restarts += 1
                    self.out(f"{child.name:<8} exited with code {child.proc.returncode}; "
                             f"restarting in {delay:.1f}s (restart #{child.restarts})")
                    await asyncio.sleep(delay)
                    if not self.stopping:
                        await self.start_child(child)
            await asyncio.sleep(0.2)
        return 0

    async def shutdown(self) -> None:
        self.stopping = True
        order = [n for n in PROCESSES if n in self.children] + (["nats"] if "nats" in self.children else [])
        for name in order[:-1] if "nats" in self.children else order:
            self._signal(self.children[name], signal.SIGTERM)
        await self._wait_exit([self.children[n] for n in order if n != "nats"], 15)
        if "nats" in self.children:
            self._signal(self.children["nats"], signal.SIGTERM)
            await self._wait_exit([self.children["nats"]], 15)
        self.out("antq stopped")

    @staticmethod
    def _signal(child: Child, sig: int) -> None:
        if child.proc is not None and child.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(sig)

    async def _wait_exit(self, children: list[Child], timeout: float) -> None:
        for child in children:
            if child.proc is None:
                continue
            try:
                await asyncio.wait_for(child.proc.wait(), timeout=timeout)
            except TimeoutError:
                self._signal(child, signal.SIGKILL)
                await child.proc.wait()


async def run_up(settings: Settings, *, demo: bool = False) -> int:
    sup = Supervisor(settings, demo=demo)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(sup.run())
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if runner in done and runner.exception() is not None:
        exc = runner.exception()
        print(f"antq up: {exc}", file=sys.stderr)
        code = 2
    runner.cancel()
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await runner
    await sup.shutdown()
    del main
    return code
