"""Test helpers: real NATS and PostgreSQL servers (env URL, testcontainers, local process), polling, services."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ServerUnavailable(RuntimeError):
    pass


# --- ports ---------------------------------------------------------------------------------------------------
# Ports are handed out below the kernel's ephemeral range (32768-60999 by default), so an outgoing connection can
# never take a port between the moment it is chosen and the moment a server binds it, and each pytest-xdist
# worker (or, outside xdist, each process) counts through its own slice, so two workers never pick the same one.
_PORT_FLOOR, _PORT_SLICE, _PORT_SLICES = 11000, 1000, 21
_port_next: int | None = None


def _port_slice_start() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0
    if index == 0:  # not an xdist worker: a slice picked by pid among those xdist workers rarely use
        index = _PORT_SLICES - 1 - os.getpid() % 8
    return _PORT_FLOOR + (index % _PORT_SLICES) * _PORT_SLICE


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(size: int = 1) -> int:
    """The first of `size` consecutive free loopback ports from this process's slice."""
    global _port_next
    start = _port_slice_start()
    if _port_next is None or not start <= _port_next < start + _PORT_SLICE:
        _port_next = start
    for _ in range(_PORT_SLICE):
        base = _port_next
        if base + size > start + _PORT_SLICE:
            base = start
        _port_next = base + size
        if all(_bindable(p) for p in range(base, base + size)):
            return base
    raise RuntimeError(f"no {size} free consecutive ports in {start}-{start + _PORT_SLICE - 1}")


def free_port() -> int:
    return free_port_block(1)


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# --- NATS ----------------------------------------------------------------------------------------------------
@dataclass
class NatsProcess:
    """A nats-server with JetStream started from the binary, on loopback, with its own store."""

    port: int
    store: Path
    extra_config: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.store / "nats.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> NatsProcess:
        from shared.nats_binary import find_nats_server

        self.store.mkdir(parents=True, exist_ok=True)
        conf = self.store / "nats.conf"
        conf.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            f"jetstream {{\n  store_dir: \"{self.store / 'js'}\"\n  sync_interval: always\n}}\n"
            + self.extra_config
        )
        self.proc = subprocess.Popen([find_nats_server(), "-c", str(conf), "-l", str(self.log)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerUnavailable(f"nats-server exited: {self.log.read_text()[-2000:]}")
            if tcp_open("127.0.0.1", self.port):
                return self
            time.sleep(0.05)
        raise ServerUnavailable("nats-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def nats_server() -> Iterator[str]:
    """A NATS URL: ANTQ_TEST_NATS_URL, else testcontainers, else a nats-server process on a free port."""
    env = os.environ.get("ANTQ_TEST_NATS_URL")
    if env:
        yield env
        return
    if docker_available():
        from testcontainers.nats import NatsContainer  # type: ignore[import-untyped]

        with NatsContainer().with_command("-js") as container:
            yield container.nats_uri()
        return
    proc = NatsProcess(free_port(), Path(tempfile.mkdtemp(prefix="antq-nats-")))
    try:
        yield proc.start().url
    finally:
        proc.stop()
        shutil.rmtree(proc.store, ignore_errors=True)


# --- PostgreSQL ----------------------------------------------------------------------------------------------
def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """An admin asyncpg URL: ANTQ_TEST_POSTGRES_URL, else testcontainers, else a local initdb'd server."""
    env = os.environ.get("ANTQ_TEST_POSTGRES_URL")
    if env:
        yield env
        return
    if docker_available():
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-untyped]

        with PostgresContainer("postgres:16-alpine", driver="asyncpg") as pg:
            yield pg.get_connection_url()
        return
    bindir = _pg_bin()
    if bindir is None:
        raise ServerUnavailable("no PostgreSQL: set ANTQ_TEST_POSTGRES_URL or install PostgreSQL server binaries")
    root = Path(tempfile.mkdtemp(prefix="antq-pg-"))
    data, port = root / "data", free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root; run the throwaway cluster as the postgres (or nobody) user.
        user = "postgres" if _user_exists("postgres") else "nobody"
        shutil.chown(root, user=user)
        os.chmod(root, 0o700)
        run_as = ["runuser", "-u", user, "--"]
    try:
        subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "pg.log"),
                        "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True)
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


async def create_database(admin_url: str, name: str) -> str:
    """Create a fresh database on the server of `admin_url`; returns its asyncpg URL."""
    from sqlalchemy.engine import make_url

    await _on_server(admin_url, f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False)


async def drop_database(admin_url: str, name: str) -> None:
    await _on_server(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _on_server(admin_url: str, statement: str) -> None:
    """One statement on its own connection to the server of `admin_url` (outside a transaction, as CREATE and
    DROP DATABASE must be)."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 password=url.password, database=url.database or "postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


# --- polling and in-process services ------------------------------------------------------------------------
async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.05,
                     what: str = "condition") -> T:
    """Poll `check` until it returns a truthy value or raise with the last result; tests never sleep blindly."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await check()
            if last:
                return last
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(interval)


ISSUED_NAMESPACES: list[str] = []  # every namespace this process handed out (see drop_namespaces)


def unique_namespace() -> str:
    namespace = "t" + uuid.uuid4().hex[:10]
    ISSUED_NAMESPACES.append(namespace)
    return namespace


async def drop_namespaces(nats_url: str, namespaces: list[str]) -> int:
    """Delete the streams of these namespaces from a NATS server that outlives the tests (a shared one), so that
    runs do not pile up streams there. Returns how many were deleted."""
    import nats

    prefixes = tuple(f"{ns}_" for ns in namespaces)
    deleted = 0
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=1)
    try:
        js = nc.jsm()
        offset = 0
        names: list[str] = []
        while True:
            resp = await nc.request("$JS.API.STREAM.NAMES", json.dumps({"offset": offset}).encode(), timeout=10)
            body = json.loads(resp.data)
            page = body.get("streams") or []
            names += page
            offset += len(page)
            if not page or offset >= body.get("total", 0):
                break
        for name in names:
            if name.startswith(prefixes):
                with contextlib.suppress(Exception):
                    await js.delete_stream(name)
                    deleted += 1
    finally:
        await nc.close()
    return deleted


@contextlib.asynccontextmanager
async def running(service: Any, *, ready_timeout: float = 20) -> AsyncIterator[Any]:
    """Start a built Service in this event loop (lifespan included); yield an httpx client bound to its app.
    The namespace's streams are provisioned first, as `antq nats provision` does before services start."""
    import httpx

    from shared.bus.streams import provision

    await provision(service.settings)
    async with contextlib.AsyncExitStack() as stack:
        await service.start()
        stack.push_async_callback(service.stop)
        transport = httpx.ASGITransport(app=service.app)
        client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://test"))

        async def ready() -> bool:
            ok, _ = await service.readiness()
            return ok

        await eventually(ready, timeout=ready_timeout, what=f"{service.name} ready")
        yield client


def missing_tool(message: str) -> None:
    """Skip a test whose external tool is absent on a developer's machine; fail in CI, which must run it all."""
    import pytest

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI must not skip this test; `make tools` installs it)")
    pytest.skip(message)
