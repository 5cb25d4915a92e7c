"""What every benchmark uses: a NATS server, service processes, RSS sampling, a lean HTTP load client, stats."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.testing import NatsProcess, free_port, unique_namespace

REPO = Path(__file__).resolve().parents[2]


# --- NATS ----------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def bench_nats() -> Iterator[tuple[str, str]]:
    """(url, where it comes from): ANTQ_TEST_NATS_URL, else a nats-server started for the run with the
    production store settings (file storage, `sync_interval: always`)."""
    env = os.environ.get("ANTQ_TEST_NATS_URL")
    if env:
        yield env, "ANTQ_TEST_NATS_URL"
        return
    proc = NatsProcess(free_port(), Path(tempfile.mkdtemp(prefix="antq-bench-nats-")))
    try:
        proc.start()
        yield proc.url, "nats-server started for the run (file store, sync_interval: always)"
    finally:
        proc.stop()
        shutil.rmtree(proc.store, ignore_errors=True)


# --- memory --------------------------------------------------------------------------------------------------
def rss_mib(pid: int) -> float:
    """Resident set size of a process in MiB, from /proc (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class RssSampler:
    """Samples the RSS of some processes every `interval` seconds and keeps the peak of each."""

    def __init__(self, pids: dict[str, int], interval: float = 0.1):
        self.pids = pids
        self.interval = interval
        self.peak: dict[str, float] = {name: 0.0 for name in pids}
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        for name, pid in self.pids.items():
            self.peak[name] = max(self.peak[name], rss_mib(pid))

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.sample()


# --- service processes ---------------------------------------------------------------------------------------
@dataclass
class World:
    """One isolated world on a NATS server: a namespace, a data directory, a shared token key."""

    nats_url: str
    namespace: str = field(default_factory=unique_namespace)
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="antq-bench-")))
    provisioned: bool = False

    def env(self, service: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "ANTQ_NATS_URL": self.nats_url,
            "ANTQ_NAMESPACE": self.namespace,
            "ANTQ_DATA_DIR": str(self.data_dir),
            "ANTQ_HTTP_PORT": str(port),
            f"ANTQ_{service.upper()}_DATABASE_URL": f"sqlite+aiosqlite:///{self.data_dir / (service + '.db')}",
            "ANTQ_AUTH_KEY_FILE": str(self.data_dir / "keys" / "auth_ed25519.pem"),
            "ANTQ_LOG_LEVEL": "WARNING",
            # Public intake is rate-limited per client; the load generator is one client.
            "ANTQ_TIPS_SUBMIT_RATE_PER_MINUTE": "1000000000",
        })
        env.update(extra or {})
        return env

    def settings(self, **overrides: Any) -> Any:
        from shared.settings import Settings

        return Settings(nats_url=self.nats_url, namespace=self.namespace, data_dir=self.data_dir,
                        auth_key_file=self.data_dir / "keys" / "auth_ed25519.pem", **overrides)

    def token(self, **claims: Any) -> str:
        from shared.auth import TokenAuthority

        return TokenAuthority.from_file(self.data_dir / "keys" / "auth_ed25519.pem").issue(**claims)

    def cleanup(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)


class Process:
    """A server process on a loopback port, with its output in a log file and its RSS readable."""

    def __init__(self, name: str, argv: Sequence[str], *, env: dict[str, str], port: int, log_dir: Path,
                 ready_path: str = "/readyz"):
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.port = port
        self.ready_path = ready_path
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=log, stderr=log)
        return self

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): {self.log_tail()}")
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
                status, body = await http_once("127.0.0.1", self.port, "GET", self.ready_path)
                if status == 200:
                    return
                last = body.decode(errors="replace")[:500]
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s: {last} {self.log_tail()}")

    def rss(self) -> float:
        return rss_mib(self.pid)

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def service_process(world: World, service: str, extra_env: dict[str, str] | None = None) -> Process:
    """`python -m services.cli serve <service>` in the world, on a free port. The world's streams are provisioned
    first (`antq nats provision`), as a deployment does before its services start."""
    port = free_port()
    if not world.provisioned:
        subprocess.run([sys.executable, "-m", "services.cli", "nats", "provision"], env=world.env(service, port),
                       check=True, capture_output=True)
        world.provisioned = True
    return Process(service, [sys.executable, "-m", "services.cli", "serve", service],
                   env=world.env(service, port, extra_env), port=port, log_dir=world.data_dir / "logs")


def bare_process(world: World) -> Process:
    """The bare FastAPI endpoint under uvicorn with the same defaults `services.cli serve` uses."""
    port = free_port()
    return Process("bare", [sys.executable, "-m", "uvicorn", "tests.bench.bare_app:app", "--host", "127.0.0.1",
                            "--port", str(port), "--no-access-log", "--log-level", "warning"],
                   env=dict(os.environ), port=port, log_dir=world.data_dir / "logs", ready_path="/healthz")


@contextlib.asynccontextmanager
async def processes(*procs: Process, timeout: float = 60) -> AsyncIterator[tuple[Process, ...]]:
    try:
        for p in procs:
            p.start()
        for p in procs:
            await p.wait_ready(timeout)
        yield procs
    finally:
        for p in procs:
            p.stop()


# --- a lean HTTP/1.1 keep-alive client (so the load generator is not what is measured) ----------------------
class HttpConnection:
    """One keep-alive connection; requests are pre-encoded bytes, responses parsed just enough."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            lname = name.strip().lower()
            if lname == "content-length":
                length = int(value)
            elif lname == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif lname == "connection" and "close" in value.lower():
                close = True
        if chunked:
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        else:
            body = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, body


def encode_request(method: str, path: str, *, host: str = "127.0.0.1", body: Any = None,
                   headers: dict[str, str] | None = None) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(payload)}"]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def http_once(host: str, port: int, method: str, path: str, *, body: Any = None,
                    headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = HttpConnection(host, port)
    try:
        return await asyncio.wait_for(conn.send(encode_request(method, path, body=body, headers=headers)), 5)
    finally:
        conn.close()


@dataclass
class LoadResult:
    requests: int
    ok: int
    errors: int
    elapsed: float
    latencies: list[float]
    statuses: dict[int, int]
    total_ok: int = 0  # accepted requests over the whole run, warm-up included (what the server must hold)
    server_cpu_s: float = 0.0  # CPU the server process used during the measured window

    @property
    def cpu_ms_per_request(self) -> float:
        return self.server_cpu_s / self.ok * 1000 if self.ok else float("nan")

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0


async def closed_loop(port: int, make_request: Callable[[int], bytes], *, concurrency: int, duration: float,
                      warmup: float = 0.5, max_requests: int | None = None, ok_status: int = 202,
                      server_pid: int | None = None) -> LoadResult:
    """`concurrency` connections each sending its next request when the previous one is answered, for
    `duration` seconds after a warm-up (or until `max_requests`); latencies are per request, in seconds."""
    counter = 0
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    total_ok = 0
    measuring = False
    stop_at = 0.0
    done = asyncio.Event()

    def next_index() -> int:
        nonlocal counter
        counter += 1
        return counter

    async def worker() -> None:
        nonlocal errors, total_ok
        conn = HttpConnection("127.0.0.1", port)
        try:
            while not done.is_set():
                raw = make_request(next_index())
                t = time.perf_counter()
                try:
                    status, _ = await conn.send(raw)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    conn.close()
                    if measuring:
                        errors += 1
                    continue
                took = time.perf_counter() - t
                total_ok += status == ok_status
                if measuring and t >= stop_at - duration and not done.is_set():
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == ok_status:
                        latencies.append(took)
                        if max_requests is not None and len(latencies) >= max_requests:
                            done.set()
                    else:
                        errors += 1
        finally:
            conn.close()

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        measuring = True
        cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
        started = time.perf_counter()
        stop_at = started + duration
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=duration)
        done.set()
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
    finally:
        done.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return LoadResult(requests=sum(statuses.values()) + errors, ok=len(latencies), errors=errors, elapsed=elapsed,
                      latencies=latencies, statuses=statuses, total_ok=total_ok, server_cpu_s=server_cpu)


# --- statistics and NATS helpers -----------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


async def publish_pipelined(js: Any, messages: Sequence[tuple[str, bytes, str]], *, window: int = 500) -> float:
    """Publish (subject, payload, msg id) with PubAcks awaited `window` at a time; returns seconds taken."""
    started = time.perf_counter()
    for i in range(0, len(messages), window):
        await asyncio.gather(*(js.publish(s, p, headers={"Nats-Msg-Id": mid}, timeout=30)
                               for s, p, mid in messages[i:i + window]))
    return time.perf_counter() - started


async def wait_consumed(js: Any, stream: str, durable: str, *, expected: int, timeout: float,
                        interval: float = 0.01, cpu_of: int | None = None,
                        cpu_used: list[float] | None = None) -> tuple[float, float]:
    """Watch a durable consumer until every message up to stream sequence `expected` is acknowledged.

    Returns (first delivery seen, all acknowledged) as perf_counter times. Processing time is measured from the
    server's side, the same way for the service and for the raw baseline. With `cpu_of`, the CPU seconds that
    process used in between are appended to `cpu_used`.
    """
    cpu_start = 0.0
    from nats.js.errors import NotFoundError

    deadline = time.perf_counter() + timeout
    first: float | None = None
    while True:
        now = time.perf_counter()
        try:
            info = await js.consumer_info(stream, durable)
        except NotFoundError:
            info = None
        if info is not None:
            if first is None and info.delivered.consumer_seq > 0:
                first = now
                cpu_start = cpu_seconds(cpu_of) if cpu_of else 0.0
            if (first is not None and info.num_pending == 0 and info.num_ack_pending == 0
                    and info.ack_floor.stream_seq >= expected):
                if cpu_of and cpu_used is not None:
                    cpu_used.append(cpu_seconds(cpu_of) - cpu_start)
                # A run shorter than one poll is timed as one poll (tiny sizes in the smoke test).
                return first, max(now, first + interval)
        if now > deadline:
            raise TimeoutError(f"{durable} did not finish {expected} messages in {timeout}s (last: {info})")
        await asyncio.sleep(interval)


@dataclass
class Timed:
    """A consumer's steady pace: `events` processed in `seconds` (the first batch left out: it holds the start),
    with `cpu_s` of CPU of the process measured over the same span."""

    events: int
    seconds: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def cpu_ms_per_event(self) -> float:
        return self.cpu_s / self.events * 1000


async def raw_fetch_and_ack(nc: Any, stream: str, durable: str, *, n: int, batch: int, timeout: float) -> Timed:
    """The raw baseline of event processing: nats-py `pull_subscribe_bind` + `fetch(batch)` + `ack()` of `n`
    messages on an existing durable, nothing else; timed on the client from the first batch acknowledged to the
    last (as `watch_processed` times a service), with this process's CPU over that span.

    Nothing asks the server about the consumer while it runs: on nats-server before 2.9.15 one consumer info
    call on a consumer with a wildcard filter over several subjects, made while messages are outstanding, slows
    its deliveries four- to sixfold for the rest of the run (`docs/benchmarks.md`)."""
    import nats

    sub = await nc.jetstream().pull_subscribe_bind(durable, stream)
    deadline = time.perf_counter() + timeout
    done, marks = 0, []
    try:
        while done < n:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"raw {durable}: {done} of {n} in {timeout}s")
            with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
                for msg in await sub.fetch(batch, timeout=1):
                    await msg.ack()
                    done += 1
                await nc.flush()
                marks.append((done, time.perf_counter(), cpu_seconds(os.getpid())))
    finally:
        await sub.unsubscribe()
    return _steady(marks, n)


def _steady(marks: list[tuple[int, float, float]], n: int) -> Timed:
    """From (count, time, cpu) marks: the pace after the first one; a run of one mark is timed as one poll."""
    (c1, t1, cpu1), (c2, t2, cpu2) = marks[0], marks[-1]
    if c2 > c1:
        return Timed(events=c2 - c1, seconds=t2 - t1, cpu_s=cpu2 - cpu1)
    return Timed(events=max(n, 1), seconds=0.01, cpu_s=0.0)  # tiny sizes (the smoke test): one batch


async def watch_processed(db_path: Path, durable: str, *, expected: int, timeout: float, cpu_of: int,
                          before: int | None = None, interval: float = 0.01) -> Timed:
    """Watch a service's own processed_events table (its SQLite database, read from outside) until the consumer
    `durable` has `expected` rows more than `before` (default: when the watch began); its pace from the first
    batch committed to the last, with the process's CPU over that span. Rows are committed in the batch's
    transaction, just before its acks. This never asks the NATS server about the consumer (see `raw_fetch_and_ack`)."""
    import sqlite3

    deadline = time.perf_counter() + timeout
    db: sqlite3.Connection | None = None
    try:
        marks: list[tuple[int, float, float]] = []
        while True:
            count = 0
            if db is None and db_path.exists():
                db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
            if db is not None:
                with contextlib.suppress(sqlite3.OperationalError):  # before the service created its tables
                    count = db.execute("SELECT count(*) FROM processed_events WHERE consumer = ?",
                                       (durable,)).fetchone()[0]
            now, cpu = time.perf_counter(), cpu_seconds(cpu_of)
            if before is None:
                before = count
            elif count > before and (not marks or count > marks[-1][0]):
                marks.append((count, now, cpu))
            if marks and marks[-1][0] - before >= expected:
                return _steady(marks, expected)
            if now > deadline:
                raise TimeoutError(f"{durable}: {count - before} of {expected} in {timeout}s")
            await asyncio.sleep(interval)
    finally:
        if db is not None:
            db.close()

