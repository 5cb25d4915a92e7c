"""Reliability harness: the platform started as a user starts it (`antq up`, real processes), a mixed load, faults,
and the invariants checked afterwards.

- `Platform` starts `python -m services.cli up` on free loopback ports, finds each process by the port it listens
  on (/proc/net/tcp), kills and stops processes, mints tokens with `antq token`.
- `Load` drives a bounded (count and time) mixed load: public tip submissions over HTTP (202 = acknowledged),
  inbound tips, incidents and unit upserts published by an agency on `antq.inbound.<agency>.<Type>.v1`
  (a JetStream PubAck = acknowledged; every message has a unique `reference`, and an agency that got no PubAck
  retries with the same reference), unit registrations over HTTP (201), and, where the services offer them,
  unit decisions and award approvals.
- `check` waits for the platform to settle and verifies: every acknowledged operation had its full effect
  exactly once (records, events on the streams, the officer's inbox), nothing is duplicated, no durable
  consumer is stuck, and the DLQ holds exactly the poison messages that were injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js.errors import NotFoundError

from shared.contracts.subjects import stream_for_subject, subject_matches
from shared.settings import PORT_OFFSETS
from shared.settings import SERVICES as BUS_SERVICES
from shared.testing import free_port, free_port_block

ROOT = Path(__file__).resolve().parents[2]
# The services on the bus and their port offsets (shared/service_registry.py).
SERVICES: dict[str, int] = {s: PORT_OFFSETS[s] for s in BUS_SERVICES}
STREAMS = ("UNITS", "TIPS", "AWARDS", "NOTIFY", "INBOUND", "INBOUND_TIPS", "DLQ")
AGENCY = "rel-agency"
POISON_AGENCY = "rel-poison"
POISON_MARK = re.compile(rb"poison-[0-9a-f]{32}")

# What the platform runs with in these suites: the public intake's per-client rate limit is raised (one test
# client submits every tip); everything else is the default a user gets.
BASE_ENV = {"ANTQ_TIPS_SUBMIT_RATE_PER_MINUTE": "1000000",
            "ANTQ_TIPS_FOLLOW_UP_RATE_PER_MINUTE": "1000000", "ANTQ_LOG_LEVEL": "INFO"}

RESULTS: list[Verdict] = []  # every verdict of this session, printed by the suite's conftest at the end


# --- ports and processes -------------------------------------------------------------------------------------
def free_block(size: int = 6) -> int:
    """A base port whose next `size` ports are free (P+1..P+5: the four services and the console)."""
    return free_port_block(size)


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on a loopback TCP port, from /proc (None when nothing listens)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":
                    inodes.add(parts[9])
    if not inodes:
        return None
    targets = {f"socket:[{i}]" for i in inodes}
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        return int(pid_dir.name)
        except OSError:
            continue
    return None


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTQ_")}
    env.update(BASE_ENV)
    env.update(extra or {})
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


@dataclass
class Platform:
    """`antq up` running as a child process, with its output captured line by line."""

    proc: subprocess.Popen[str]
    data_dir: Path
    port_base: int
    nats_port: int
    nats_url: str
    output: list[str]
    external_nats: bool = False
    _tokens: dict[tuple[str, ...], str] = field(default_factory=dict)

    @classmethod
    def start(cls, workdir: Path, *, env: dict[str, str] | None = None, nats_url: str | None = None,
              ready_timeout: float = 150) -> Platform:
        base, nats_port = free_block(), free_port()
        data = workdir / "antq-data"
        argv = [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data), "--port-base", str(base),
                "--nats-port", str(nats_port)]
        if nats_url:
            argv += ["--nats-url", nats_url]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=clean_env(env), cwd=ROOT)
        p = cls(proc, data, base, nats_port, nats_url or f"nats://127.0.0.1:{nats_port}", [],
                external_nats=bool(nats_url))

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                p.output.append(line.rstrip("\n"))

        threading.Thread(target=pump, daemon=True).start()
        try:
            p.wait_line("antq is ready", timeout=ready_timeout)
            if not nats_url:  # the embedded NATS refuses anonymous clients: the harness is an operator
                p.nats_url = subprocess.run(
                    [sys.executable, "-m", "services.cli", "nats", "url", "--role", "operator", "--data-dir",
                     str(data)], capture_output=True, text=True, check=True, env=clean_env(env), cwd=ROOT,
                ).stdout.strip()
        except BaseException:
            p.stop()
            raise
        return p

    # -- output and addresses --
    def wait_line(self, needle: str, timeout: float = 60, start: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in line for line in self.output[start:]):
                return
            if self.proc.poll() is not None:
                time.sleep(0.2)
                raise AssertionError(f"antq up exited {self.proc.returncode}:\n" + "\n".join(self.output))
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not printed within {timeout}s:\n" + "\n".join(self.output[-50:]))

    def port(self, service: str) -> int:
        return self.port_base + SERVICES[service]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    def db_path(self, service: str) -> Path:
        return self.data_dir / "db" / f"{service}.db"

    def log_tail(self, service: str, lines: int = 40) -> str:
        path = self.data_dir / "logs" / f"{service}.log"
        with contextlib.suppress(OSError):
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def token(self, *args: str) -> str:
        if args not in self._tokens:
            out = subprocess.run([sys.executable, "-m", "services.cli", "token", "--data-dir", str(self.data_dir),
                                  *args], capture_output=True, text=True, check=True, cwd=ROOT, env=clean_env())
            self._tokens[args] = out.stdout.strip()
        return self._tokens[args]

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token('--role', 'admin', '--sub', 'reliability-admin')}"}

    # -- processes --
    def pid(self, service: str) -> int | None:
        return listening_pid(self.nats_port if service == "nats" else self.port(service))

    def signal(self, service: str, sig: int) -> int:
        pid = self.pid(service)
        if pid is None:
            raise AssertionError(f"{service} is not listening")
        os.kill(pid, sig)
        return pid

    def kill(self, service: str) -> int:
        """kill -9 of a service (or of the embedded NATS); `antq up` restarts it after its back-off."""
        assert not (service == "nats" and self.external_nats), "this platform uses an external NATS"
        return self.signal(service, signal.SIGKILL)

    async def wait_restarted(self, service: str, old_pid: int, timeout: float = 90) -> float:
        """Until a new process serves (ready for a service; listening for NATS). Returns the outage seconds."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=3) as http:
            while time.monotonic() - started < timeout:
                pid = self.pid(service)
                if pid is not None and pid != old_pid:
                    if service == "nats":
                        return time.monotonic() - started
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(self.url(service) + "/readyz")).status_code == 200:
                            return time.monotonic() - started
                await asyncio.sleep(0.1)
        raise AssertionError(f"{service} not back within {timeout}s:\n" + self.log_tail(service if service != "nats"
                                                                                        else "units"))

    async def wait_all_ready(self, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        async with httpx.AsyncClient(timeout=3) as http:
            while time.monotonic() < deadline:
                ok = True
                for name in SERVICES:
                    try:
                        r = await http.get(self.url(name) + "/readyz")
                        last[name] = r.status_code if r.status_code == 200 else r.text[:300]
                        ok = ok and r.status_code == 200
                    except httpx.HTTPError as exc:
                        last[name], ok = type(exc).__name__, False
                if ok:
                    return last
                await asyncio.sleep(0.2)
        raise AssertionError(f"not every service ready within {timeout}s: {last}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # A service stopped with SIGSTOP by a test and never continued would survive its parent.
        for name in (*SERVICES, "nats"):
            pid = None if (name == "nats" and self.external_nats) else self.pid(name)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)


# --- the database made unavailable ---------------------------------------------------------------------------
async def hold_exclusive_lock(db: Path, seconds: float) -> float:
    """`BEGIN EXCLUSIVE` on a service's SQLite database from another connection for `seconds`: every writer of
    that database waits (or fails after its busy timeout). Returns how long the lock was actually held."""
    acquired = asyncio.Event()
    loop = asyncio.get_running_loop()
    release = threading.Event()
    held: list[float] = []

    def hold() -> None:
        conn = sqlite3.connect(db, timeout=60, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            t0 = time.monotonic()
            loop.call_soon_threadsafe(acquired.set)
            release.wait(seconds)
            conn.execute("ROLLBACK")
            held.append(time.monotonic() - t0)
        finally:
            conn.close()

    thread = asyncio.ensure_future(asyncio.to_thread(hold))
    await acquired.wait()
    await asyncio.sleep(seconds)
    release.set()
    await thread
    return held[0]


# --- load ----------------------------------------------------------------------------------------------------
@dataclass
class Op:
    kind: str  # tip_http | tip_inbound | unit_inbound | incident_inbound | unit_http | unit_decision | award_approval
    key: str  # a unique marker (description, name, reference)
    acked: bool = False
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


async def durable_consumers(js: Any) -> list[Any]:
    out = []
    for stream in STREAMS:
        with contextlib.suppress(NotFoundError):
            out.extend(await js.consumers_info(stream))
    return out


async def nats_connect(url: str, name: str) -> Any:
    return await nats.connect(servers=[u.strip() for u in url.split(",")], name=name, max_reconnect_attempts=-1,
                              reconnect_time_wait=0.3, connect_timeout=2, allow_reconnect=True)


def envelope(agency: str, type_: str, data: dict[str, Any], event_id: str | None = None) -> tuple[str, bytes, str]:
    eid = event_id or str(uuid.uuid4())
    body = {"specversion": "1.0", "id": eid, "source": f"agency/{agency}", "type": type_,
            "time": datetime.now(UTC).isoformat(), "datacontenttype": "application/json", "data": data}
    return f"antq.inbound.{agency}.{type_}", json.dumps(body, ensure_ascii=False).encode(), eid


class Load:
    """A bounded mixed load against a running platform. `run` may be called more than once."""

    WEIGHTS: dict[str, int] = {"tip_http": 40, "tip_inbound": 15, "unit_inbound": 12, "incident_inbound": 10,
                               "unit_http": 12, "unit_decision": 6, "award_approval": 5}

    def __init__(self, platform: Platform, *, seed: int = 1, weights: dict[str, int] | None = None,
                 resend_ratio: float = 0.1):
        self.p = platform
        self.rng = random.Random(seed)
        self.weights = dict(weights or self.WEIGHTS)
        self.resend_ratio = resend_ratio
        self.ops: list[Op] = []
        self.acks = 0
        self.notes: list[str] = []
        self.caps: dict[str, bool] = {}
        self.units_for_incidents: list[str] = []
        self.nc: Any = None
        self.js: Any = None
        self.http: httpx.AsyncClient | None = None
        self._seq = 0
        self._backoff: dict[str, float] = {}
        self._not_before: dict[str, float] = {}
        self.finished = True
        self._ack_cond = asyncio.Condition()

    # -- setup --
    async def open(self) -> Load:
        self.nc = await nats_connect(self.p.nats_url, "reliability-agency")
        self.js = self.nc.jetstream()
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(45, connect=5))
        await self.probe()
        return self

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()

    async def probe(self) -> None:
        """Which operations this platform offers now: HTTP paths from each service's OpenAPI document, inbound
        types from the durable consumers declared on JetStream."""
        assert self.http is not None
        paths: dict[str, set[str]] = {}
        for name in SERVICES:
            try:
                paths[name] = set((await self.http.get(self.p.url(name) + "/openapi.json")).json()["paths"])
            except Exception:
                paths[name] = set()
        consumers = await durable_consumers(self.js)
        filters = [c.config.filter_subject or "" for c in consumers]

        def consumed(type_: str) -> bool:
            return any(subject_matches(f, f"antq.inbound.{AGENCY}.{type_}") for f in filters)

        self.caps = {
            "tip_http": "/tips" in paths["tips"],
            "tip_get": "/tips/{tip_id}" in paths["tips"],
            "unit_http": "/units" in paths["units"],
            "tip_inbound": consumed("TipSubmitted.v1"),
            "unit_inbound": consumed("UnitUpserted.v1"),
            "incident_inbound": consumed("IncidentReported.v1") and "/units" in paths["units"],
            "unit_decision": {"/units/{unit_id}/cycles/{year}", "/units/{unit_id}/cycles/{year}/criteria/{criterion}",
                              "/units/{unit_id}/cycles/{year}/self-assessment", "/units/{unit_id}/cycles/{year}/submit",
                              "/units/{unit_id}/cycles/{year}/appraisal", "/units/{unit_id}/cycles/{year}/decision",
                              "/frameworks/{code}"} <= paths["units"],
            "award_approval": {"/awards", "/awards/{award_id}/review", "/awards/{award_id}/approve"}
            <= paths["awards"],
            "inbox": "/inbox" in paths["notify"],
        }
        for kind in self.weights:
            if not self.caps.get(kind, False):
                self.notes.append(f"{kind}: not offered by the platform yet; not generated")
        self.weights = {k: w for k, w in self.weights.items() if self.caps.get(k, False)}

    # -- running --
    def start(self, *, count: int, duration: float, concurrency: int = 4,
              rate: float | None = None) -> asyncio.Task[None]:
        """`run` as a task, already counted as running (so that `wait_acked` may be called at once)."""
        self.finished = False
        return asyncio.create_task(self.run(count=count, duration=duration, concurrency=concurrency, rate=rate))

    async def run(self, *, count: int, duration: float, concurrency: int = 4, rate: float | None = None) -> None:
        """At most `count` operations within `duration` seconds, by `concurrency` clients, at most `rate`/s."""
        deadline = time.monotonic() + duration
        todo = count
        next_slot = time.monotonic()

        async def worker() -> None:
            nonlocal todo, next_slot
            while todo > 0 and time.monotonic() < deadline:
                todo -= 1
                if rate:
                    next_slot = max(next_slot, time.monotonic()) + 1 / rate
                    await asyncio.sleep(max(0.0, next_slot - time.monotonic()))
                kind = self.rng.choices(list(self.weights), weights=list(self.weights.values()))[0]
                wait = self._not_before.get(kind, 0.0) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                op = await self.one(kind)
                if op is not None and not op.acked:
                    # A client that got an error backs off before its next request of that kind.
                    self._backoff[kind] = min(max(self._backoff.get(kind, 0.0) * 2, 0.25), 2.0)
                    self._not_before[kind] = time.monotonic() + self._backoff[kind]
                elif op is not None:
                    self._backoff[kind] = 0.0

        self.finished = False
        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            self.finished = True
            async with self._ack_cond:
                self._ack_cond.notify_all()

    async def one(self, kind: str) -> Op | None:
        self._seq += 1
        op = Op(kind, f"rel-{uuid.uuid4().hex[:12]}-{self._seq}")
        fn = self._steps()[kind]
        t0 = time.monotonic()
        try:
            if not await fn(op):
                return None  # nothing to do (e.g. no award to approve yet): not an attempt
        except Exception as exc:  # a failed request is a not-acknowledged operation, never a test error
            op.error = f"{type(exc).__name__}: {exc}"[:300]
        op.info["seconds"] = time.monotonic() - t0
        self.ops.append(op)
        if op.acked:
            async with self._ack_cond:
                self.acks += 1
                self._ack_cond.notify_all()
        return op

    async def wait_acked(self, n: int, timeout: float = 120, kind: str | None = None) -> None:
        """Until `n` more operations (of `kind`, if given) are acknowledged from now."""
        def count() -> int:
            return sum(1 for o in self.ops if o.acked and (kind is None or o.kind == kind))

        target = count() + n
        async with self._ack_cond:
            await asyncio.wait_for(self._ack_cond.wait_for(lambda: count() >= target or self.finished), timeout)
        if count() < target:
            raise AssertionError(f"the load ended before {n} more {kind or 'operations'} were acknowledged")

    # -- operations --
    async def _post(self, service: str, path: str, body: dict[str, Any], *, auth: bool = True) -> httpx.Response:
        assert self.http is not None
        return await self.http.post(self.p.url(service) + path, json=body,
                                    headers=self.p.admin() if auth else {})

    def _steps(self) -> dict[str, Callable[[Op], Awaitable[bool]]]:
        """Each kind of operation of the load (WEIGHTS) and the step that performs it."""
        return {"tip_http": self._tip_http, "tip_inbound": self._tip_inbound, "unit_inbound": self._unit_inbound,
                "incident_inbound": self._incident_inbound, "unit_http": self._unit_http,
                "unit_decision": self._unit_decision, "award_approval": self._award_approval}

    async def _tip_http(self, op: Op) -> bool:
        r = await self._post("tips", "/tips", {
            "category": self.rng.choice(["theft", "fraud", "drugs", "gambling", "cybercrime"]),
            "description": f"[{op.key}] Phát hiện hành vi đáng ngờ tại kho hàng số {self._seq}, cần kiểm tra.",
            "location": f"Lô {self._seq}, khu công nghiệp", "area_code": "79", "anonymous": True}, auth=False)
        op.info["status"] = r.status_code
        if r.status_code == 202:
            op.acked, op.info["tip_id"] = True, r.json()["tip_id"]
        else:
            op.error = f"HTTP {r.status_code}: {r.text[:200]}"
        return True

    async def _publish_inbound(self, op: Op, type_: str, data: dict[str, Any]) -> None:
        """Publish as an agency does: wait for the PubAck; without one, try again (same reference, new id)."""
        op.info["reference"] = data["reference"]
        op.info["attempts"] = 0
        for _ in range(4):
            subject, payload, eid = envelope(AGENCY, type_, data)
            op.info["attempts"] += 1
            try:
                ack = await self.js.publish(subject, payload, headers={"Nats-Msg-Id": eid}, timeout=3)
            except Exception as exc:
                op.error = f"{type(exc).__name__}: {exc}"[:200]
                await asyncio.sleep(0.5)
                continue
            op.acked, op.error, op.info["seq"] = True, None, ack.seq
            break
        if op.acked and self.rng.random() < self.resend_ratio:
            # At-least-once from the agency's side: the same reference again, as a new message.
            subject, payload, eid = envelope(AGENCY, type_, data)
            with contextlib.suppress(Exception):
                await self.js.publish(subject, payload, headers={"Nats-Msg-Id": eid}, timeout=3)
                op.info["resent"] = True

    async def _tip_inbound(self, op: Op) -> bool:
        await self._publish_inbound(op, "TipSubmitted.v1", {
            "category": self.rng.choice(["theft", "fraud", "drugs"]),
            "description": f"[{op.key}] Tin chuyển từ ứng dụng quốc gia về hành vi vi phạm số {self._seq}.",
            "area_code": "79", "anonymous": True, "reference": op.key})
        return True

    async def _unit_inbound(self, op: Op) -> bool:
        await self._publish_inbound(op, "UnitUpserted.v1", {
            "external_key": op.key, "name": f"Công ty TNHH {op.key}", "kind": "enterprise", "area_code": "79",
            "address": f"{self._seq} Nguyễn Huệ", "reference": op.key})
        return True

    async def _incident_inbound(self, op: Op) -> bool:
        if not self.units_for_incidents:
            await self.one("unit_http")  # incidents need a unit: register one (an operation like any other)
            if not self.units_for_incidents:
                return False
        unit_id = self.rng.choice(self.units_for_incidents)
        occurred = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=self._seq, microseconds=self._seq)
        op.info.update(unit_id=unit_id, occurred_at=occurred.isoformat())
        await self._publish_inbound(op, "IncidentReported.v1", {
            "unit_id": unit_id, "category": "strike_prevented", "occurred_at": occurred.isoformat(),
            "description": f"[{op.key}] Ngăn chặn kịp thời một vụ ngừng việc.", "reference": op.key})
        return True

    async def _unit_http(self, op: Op) -> bool:
        r = await self._post("units", "/units", {"name": f"Trường THPT {op.key}", "kind": "school",
                                                 "area_code": "79.26743", "address": f"{self._seq} Lê Lợi"})
        op.info["status"] = r.status_code
        if r.status_code in (200, 201):
            op.acked, op.info["unit_id"] = True, r.json()["unit_id"]
            self.units_for_incidents.append(op.info["unit_id"])
        else:
            op.error = f"HTTP {r.status_code}: {r.text[:200]}"
        return True

    async def _unit_decision(self, op: Op) -> bool:
        """A fresh unit taken through its year's cycle to the People's Committee decision (recognised): register
        for the year, score every hand-scored criterion of its framework, self-assess, submit, appraise, decide.
        Acknowledged = the decision answered 2xx; its effect is one UnitCertified for (unit, year)."""
        assert self.http is not None
        r = await self._post("units", "/units", {"name": f"Cơ quan {op.key}", "kind": "agency", "area_code": "79",
                                                 "address": "1 Lý Tự Trọng"})
        if r.status_code not in (200, 201):
            op.error = f"unit: HTTP {r.status_code}: {r.text[:200]}"
            return True
        unit_id = r.json()["unit_id"]
        for year in (datetime.now(UTC).year, datetime.now(UTC).year + 1):
            # The assessment year ends mid-November: after that, units register for the next one.
            base = f"/units/{unit_id}/cycles/{year}"
            r = await self._post("units", base, {})
            if r.status_code != 409 or "year_closed" not in r.text:
                break
        op.info.update(unit_id=unit_id, year=year)
        if r.status_code not in (200, 201):
            op.error = f"register: HTTP {r.status_code}: {r.text[:200]}"
            return True
        cycle = r.json()
        framework = (await self.http.get(self.p.url("units") + f"/frameworks/{cycle['framework_code']}",
                                         params={"kind": cycle["kind"]})).json()
        for criterion in framework.get("criteria", []):
            if criterion.get("derived") is None:
                r = await self.http.put(self.p.url("units") + f"{base}/criteria/{criterion['code']}",
                                        headers=self.p.admin(), json={"result": "met", "evidence": ["bien-ban.pdf"]})
                if r.status_code != 200:
                    op.error = f"criterion: HTTP {r.status_code}: {r.text[:200]}"
                    return True
        for path, body in ((base + "/self-assessment", None), (base + "/submit", None),
                           (base + "/appraisal", {"recommended": True})):
            r = await self.http.post(self.p.url("units") + path, json=body, headers=self.p.admin())
            if r.status_code not in (200, 201):
                op.error = f"{path.rsplit('/', 1)[-1]}: HTTP {r.status_code}: {r.text[:200]}"
                return True
        r = await self._post("units", base + "/decision",
                             {"recognized": True, "decision_no": f"{self._seq}/QĐ-UBND", "rating": "good"})
        op.info["status"] = r.status_code
        if r.status_code in (200, 201, 202):
            op.acked = True
        else:
            op.error = f"decision: HTTP {r.status_code}: {r.text[:200]}"
        return True

    async def _award_approval(self, op: Op) -> bool:
        """A manual nomination (commendation of a staff member), reviewed and approved with a decision number.
        Acknowledged = the approval answered 2xx; its effect is one AwardApproved for the award."""
        r = await self._post("awards", "/awards", {
            "award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": f"staff-{op.key}",
            # Commendations have a yearly quota (40 in the national rules): spread them over recent years.
            "recipient_name": "Nguyễn Văn An", "year": datetime.now(UTC).year - self._seq % 5, "area_code": "79.26743",
            "evidence": [f"QĐ {self._seq}/2026 khen thưởng đột xuất"]})
        if r.status_code not in (200, 201):
            op.error = f"nominate: HTTP {r.status_code}: {r.text[:200]}"
            return True
        award_id = r.json()["award_id"]
        op.info["award_id"] = award_id
        r = await self._post("awards", f"/awards/{award_id}/review", {"note": "hồ sơ đầy đủ"})
        if r.status_code not in (200, 201):
            op.error = f"review: HTTP {r.status_code}: {r.text[:200]}"
            return True
        r = await self._post("awards", f"/awards/{award_id}/approve", {"decision_no": f"{self._seq}/QĐ-CAT"})
        op.info["status"] = r.status_code
        if r.status_code in (200, 201, 202):
            op.acked = True
        else:
            op.error = f"approve: HTTP {r.status_code}: {r.text[:200]}"
        return True


# --- poison --------------------------------------------------------------------------------------------------
@dataclass
class Poison:
    """Malformed messages injected on every subject a durable consumer reads, and the DLQ copies they must
    produce: one per (message, consumer whose filter matches its subject)."""

    expected: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    subjects: set[str] = field(default_factory=set)
    # (stream, sequence) -> mark: a consumer whose DLQ records keep no body (forwarded tips) is matched this way.
    by_seq: dict[tuple[str, int], str] = field(default_factory=dict)

    @staticmethod
    def concrete_subjects(filter_subject: str) -> list[str]:
        if filter_subject.startswith("antq.inbound."):
            return [filter_subject.replace("*", POISON_AGENCY).replace(">", "TipSubmitted.v1")]
        stem = filter_subject.removesuffix(".>").removesuffix(".*")
        if stem != filter_subject:
            service = stem.split(".")[1] if stem.count(".") >= 1 else "x"
            typical = {"tips": "TipReceived.v1", "units": "UnitCertified.v1", "awards": "AwardApproved.v1",
                       "notify": "NotificationDelivered.v1"}.get(service, "Unknown.v1")
            return [f"{stem}.{typical}"]
        return [filter_subject]

    @staticmethod
    def dead_letters(filter_subject: str, subject: str) -> bool:
        """Whether the consumer with this filter dead-letters poison on `subject`: every consumer whose filter
        matches."""
        return subject_matches(filter_subject, subject)

    async def inject(self, js: Any, *, per_kind: int = 1) -> None:
        consumers = await durable_consumers(js)
        filters = [c.config.filter_subject for c in consumers if c.config.filter_subject]
        for f in filters:
            for subject in self.concrete_subjects(f):
                self.subjects.add(subject)
        for subject in sorted(self.subjects):
            matching = sum(1 for f in filters if self.dead_letters(f, subject))
            for _ in range(per_kind):
                for payload in self._payloads(subject):
                    mark = POISON_MARK.search(payload)
                    assert mark is not None
                    ack = await js.publish(subject, payload, headers={"Nats-Msg-Id": mark.group().decode()},
                                           timeout=5)
                    self.by_seq[(ack.stream, ack.seq)] = mark.group().decode()
                    self.expected[mark.group().decode()] += matching
                    self.sent += 1

    @staticmethod
    def _payloads(subject: str) -> list[bytes]:
        """Malformed in every way a consumer must dead-letter whatever event types it handles: not JSON, not an
        object, not a CloudEvent; on inbound subjects also invalid data and a source that is not the agency."""
        def mark() -> str:
            return f"poison-{uuid.uuid4().hex}"

        out = [b"\xff\xfe not json " + mark().encode(),
               json.dumps([mark(), 1, 2]).encode(),
               json.dumps({"specversion": "1.0", "id": mark(), "note": "no source, type, time or data"}).encode()]
        if subject.startswith("antq.inbound."):
            type_ = subject.split(".", 3)[-1]
            bad_data = {"specversion": "1.0", "id": mark(), "source": f"agency/{POISON_AGENCY}", "type": type_,
                        "time": datetime.now(UTC).isoformat(), "data": {"unexpected": True}}
            out.append(json.dumps(bad_data).encode())
            out.append(json.dumps(dict(bad_data, id=mark(), source="agency/someone-else",
                                       data={"reference": mark()})).encode())
        return out


# --- reading the platform's state ----------------------------------------------------------------------------
@dataclass
class StreamMsg:
    stream: str
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str]

    def event(self) -> dict[str, Any] | None:
        if POISON_MARK.search(self.data):
            return None  # injected by the poison fault: not an event of the platform
        try:
            ev = json.loads(self.data)
        except ValueError:
            return None
        return ev if isinstance(ev, dict) and isinstance(ev.get("data"), dict) else None


async def read_stream(js: Any, stream: str) -> list[StreamMsg]:
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return []
    first, last = max(1, info.state.first_seq), info.state.last_seq
    out: list[StreamMsg] = []

    async def get(seq: int) -> StreamMsg | None:
        try:
            m = await js.get_msg(stream, seq)
        except NotFoundError:
            return None
        return StreamMsg(stream, seq, m.subject or "", m.data or b"", dict(m.headers or {}))

    for start in range(first, last + 1, 200):
        got = await asyncio.gather(*(get(s) for s in range(start, min(last, start + 199) + 1)))
        out.extend(m for m in got if m is not None)
    return out


async def consumers_state(js: Any) -> dict[str, dict[str, int]]:
    return {c.name: {"num_pending": c.num_pending or 0, "num_ack_pending": c.num_ack_pending or 0,
                     "num_redelivered": c.num_redelivered or 0}
            for c in await durable_consumers(js)}


async def outbox_pending(http: httpx.AsyncClient, platform: Platform) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in SERVICES:
        try:
            text = (await http.get(platform.url(name) + "/metrics")).text
        except httpx.HTTPError:
            out[name] = -1
            continue
        m = re.search(r"^antq_outbox_pending_events(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.M)
        out[name] = float(m.group(1)) if m else 0.0
    return out


async def consumer_results(http: httpx.AsyncClient, platform: Platform, result: str) -> Counter[str]:
    """antq_consumer_messages_total{result=...} per consumer, summed from every service's /metrics."""
    out: Counter[str] = Counter()
    for name in SERVICES:
        with contextlib.suppress(httpx.HTTPError):
            text = (await http.get(platform.url(name) + "/metrics")).text
            for m in re.finditer(r'^antq_consumer_messages_total\{([^}]*)\} ([0-9.e+]+)$', text, re.M):
                labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
                if labels.get("result") == result:
                    out[labels.get("consumer", name)] += int(float(m.group(2)))
    return out


async def settle(platform: Platform, js: Any, *, timeout: float = 120) -> tuple[bool, dict[str, Any]]:
    """Until every durable consumer has nothing pending or unacknowledged and every outbox is empty, twice in a
    row (a consumer's work can put new events on the bus)."""
    deadline = time.monotonic() + timeout
    calm = 0
    last: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                cons = await consumers_state(js)
                outbox = await outbox_pending(http, platform)
            except Exception as exc:
                last = {"error": repr(exc)}
                calm = 0
                await asyncio.sleep(0.5)
                continue
            busy = {n: s for n, s in cons.items() if s["num_pending"] or s["num_ack_pending"]}
            last = {"busy_consumers": busy, "outbox_pending": {k: v for k, v in outbox.items() if v}}
            calm = calm + 1 if not busy and not any(outbox.values()) else 0
            if calm >= 3:
                return True, last
            await asyncio.sleep(0.5)
    return False, last


async def inbox_items(http: httpx.AsyncClient, platform: Platform) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        r = await http.get(platform.url("notify") + "/inbox", params=params, headers=platform.admin())
        r.raise_for_status()
        page = r.json()
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def tip_rows(platform: Platform) -> list[tuple[str, str]]:
    """(tip_id, description) of every tip, read from the tips service's own database (read-only)."""
    conn = sqlite3.connect(f"file:{platform.db_path('tips')}?mode=ro", uri=True, timeout=30)
    try:
        return [(str(a), str(b)) for a, b in conn.execute("SELECT tip_id, description FROM tips")]
    finally:
        conn.close()


# --- the verdict ---------------------------------------------------------------------------------------------
@dataclass
class Verdict:
    fault: str
    attempted: int = 0
    acknowledged: int = 0
    effects_found: int = 0
    lost: int = 0
    duplicated: int = 0
    unacked_with_effect: int = 0
    dlq_expected: int = 0
    dlq_found: int = 0
    dlq_unexpected: int = 0
    stuck: int = 0
    by_kind: dict[str, Counter[str]] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.duplicated == 0 and self.stuck == 0 and self.dlq_unexpected == 0
                and self.dlq_found == self.dlq_expected)

    def problems(self) -> str:
        """The first few findings of each kind, then the notes."""
        shown: list[str] = []
        for prefix in ("LOST", "DUPLICATED", "UNEXPECTED", "DLQ", "not settled"):
            mine = [d for d in self.details if d.startswith(prefix)]
            shown += mine[:12] + ([f"... and {len(mine) - 12} more {prefix}"] if len(mine) > 12 else [])
        return "\n".join([*shown, *self.notes])


HEADER = ("fault", "attempted", "acknowledged", "effects found", "lost", "duplicated", "unacked+effect",
          "DLQ exp/found", "stuck")


def format_table(verdicts: Iterable[Verdict]) -> str:
    rows = [HEADER] + [(v.fault, str(v.attempted), str(v.acknowledged), str(v.effects_found), str(v.lost),
                        str(v.duplicated), str(v.unacked_with_effect),
                        f"{v.dlq_expected}/{v.dlq_found}" + (f" +{v.dlq_unexpected} other" if v.dlq_unexpected else ""),
                        str(v.stuck)) for v in verdicts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]

    def line(r: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths,
                                                                                                  strict=True))) + " |"

    sep = "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    return "\n".join([line(rows[0]), sep, *(line(r) for r in rows[1:])])


def format_kinds(v: Verdict) -> str:
    parts = []
    for kind, c in sorted(v.by_kind.items()):
        parts.append(f"{kind}: {c['attempted']} attempted, {c['acked']} acked, {c['found']} found, "
                     f"{c['lost']} lost, {c['dup']} dup")
    return "; ".join(parts)


def _dt(value: Any) -> datetime | None:
    try:
        d = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


async def check(platform: Platform, load: Load, *, fault: str, poison: Poison | None = None,
                settle_timeout: float = 150, lost_grace: float = 30, started: float | None = None) -> Verdict:
    """Settle, then evaluate every invariant; records the verdict in RESULTS and returns it."""
    await platform.wait_all_ready(timeout=120)
    js = load.js
    calm, state = await settle(platform, js, timeout=settle_timeout)
    deadline = time.monotonic() + lost_grace
    while True:
        v = await _evaluate(platform, load, fault=fault, poison=poison)
        if v.lost == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    if not calm:
        v.stuck = len(state.get("busy_consumers", {})) + sum(1 for x in state.get("outbox_pending", {}).values() if x)
        v.details.append(f"not settled after {settle_timeout}s: {state}")
    final = await consumers_state(js)
    redelivered = {n: s["num_redelivered"] for n, s in final.items() if s["num_redelivered"]}
    if redelivered:
        v.notes.append(f"redeliveries by consumer: {redelivered}")
    errors = Counter(f"{o.kind}: {re.sub(r'[0-9a-f-]{8,}', '…', (o.error or '').split(':', 1)[0])[:60]}"
                     for o in load.ops if not o.acked)
    if errors:
        v.notes.append("not acknowledged: " + ", ".join(f"{k} ×{n}" for k, n in errors.most_common()))
    v.notes.extend(load.notes)
    if started is not None:
        v.seconds = time.monotonic() - started
    RESULTS.append(v)
    return v


@dataclass
class _Seen:
    """What the platform holds after a run, indexed by what each operation's effects are looked up by."""

    tips_by_marker: dict[str, list[str]]
    tip_ids: set[str]
    received_by_tip: Counter[str]
    inbox_by_tip: Counter[str]
    registered_by_name: dict[str, list[str]]
    registered_by_key: dict[str, list[str]]
    incidents: Counter[tuple[str, datetime | None]]
    decisions: Counter[tuple[str, int]]
    approvals: Counter[str]


def _events_by_type(streams: dict[str, list[StreamMsg]]) -> dict[str, list[dict[str, Any]]]:
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in ("UNITS", "TIPS", "AWARDS"):
        for m in streams[s]:
            ev = m.event()
            if ev is not None and ev.get("type") == m.subject:
                events[m.subject.split(".")[2]].append(ev)
    return events


async def _seen(platform: Platform, load: Load, http: httpx.AsyncClient,
                events: dict[str, list[dict[str, Any]]]) -> _Seen:
    received_by_tip: Counter[str] = Counter()
    tip_of_event: dict[str, str] = {}
    for ev in events["TipReceived"]:
        received_by_tip[ev["data"]["tip_id"]] += 1
        tip_of_event[ev["id"]] = ev["data"]["tip_id"]
    inbox = await inbox_items(http, platform) if load.caps.get("inbox") else []
    inbox_by_tip: Counter[str] = Counter(tip_of_event[i["cause_event_id"]] for i in inbox
                                         if i.get("cause_event_id") in tip_of_event)
    rows = tip_rows(platform)
    tips_by_marker: dict[str, list[str]] = defaultdict(list)
    for tip_id, description in rows:
        marker = re.match(r"\[(rel-[^\]]+)\]", description)
        if marker:
            tips_by_marker[marker.group(1)].append(tip_id)
    registered_by_name: dict[str, list[str]] = defaultdict(list)
    registered_by_key: dict[str, list[str]] = defaultdict(list)
    for ev in events["UnitRegistered"]:
        registered_by_name[ev["data"]["name"]].append(ev["data"]["unit_id"])
        if ev["data"].get("external_key"):
            registered_by_key[ev["data"]["external_key"]].append(ev["data"]["unit_id"])
    return _Seen(
        tips_by_marker=tips_by_marker, tip_ids={t for t, _ in rows}, received_by_tip=received_by_tip,
        inbox_by_tip=inbox_by_tip, registered_by_name=registered_by_name, registered_by_key=registered_by_key,
        incidents=Counter((ev["data"]["unit_id"], _dt(ev["data"]["occurred_at"])) for ev in events["IncidentRecorded"]),
        decisions=Counter((ev["data"]["unit_id"], int(ev["data"]["year"]))
                          for ev in events["UnitCertified"] + events["CertificationDenied"]),
        approvals=Counter(ev["data"]["award_id"] for ev in events["AwardApproved"]))


class _Effects:
    """Counts each operation's effects (events, rows, inbox items, API reads): one method per kind of operation."""

    def __init__(self, platform: Platform, load: Load, http: httpx.AsyncClient, seen: _Seen) -> None:
        self.platform, self.load, self.http, self.seen = platform, load, http, seen
        self.unit_exists: dict[str, bool] = {}

    async def count(self, op: Op) -> dict[str, int]:
        counter = {"tip_http": self.tip, "tip_inbound": self.tip, "unit_http": self.unit_by_name,
                   "unit_inbound": self.unit_by_key}.get(op.kind)
        if counter is not None:
            return await counter(op)
        return self.recorded(op)

    async def exists(self, unit_id: str) -> bool:
        if unit_id not in self.unit_exists:
            r = await self.http.get(self.platform.url("units") + f"/units/{unit_id}", headers=self.platform.admin())
            self.unit_exists[unit_id] = r.status_code == 200
        return self.unit_exists[unit_id]

    async def tip(self, op: Op) -> dict[str, int]:
        seen, caps = self.seen, self.load.caps
        ids = seen.tips_by_marker.get(op.key, [])
        if op.kind == "tip_http" and op.acked and op.info["tip_id"] not in ids:
            ids = [*ids, op.info["tip_id"]] if op.info["tip_id"] in seen.tip_ids else ids
        counts = {"tip rows": len(ids)}
        for tip_id in ids:
            counts[f"TipReceived {tip_id[:8]}"] = seen.received_by_tip[tip_id]
            if caps.get("inbox"):
                counts[f"inbox {tip_id[:8]}"] = seen.inbox_by_tip[tip_id]
        if op.acked and op.kind == "tip_http" and caps.get("tip_get") and ids:
            r = await self.http.get(self.platform.url("tips") + f"/tips/{op.info['tip_id']}",
                                    headers=self.platform.admin())
            counts["GET /tips/{id}"] = 1 if r.status_code == 200 else 0
        return counts

    async def unit_by_name(self, op: Op) -> dict[str, int]:
        return await self._units(self.seen.registered_by_name.get(f"Trường THPT {op.key}", []))

    async def unit_by_key(self, op: Op) -> dict[str, int]:
        return await self._units(self.seen.registered_by_key.get(op.key, []))

    async def _units(self, ids: list[str]) -> dict[str, int]:
        counts = {"UnitRegistered": len(ids)}
        if ids:
            counts["GET /units/{id}"] = sum([await self.exists(u) for u in set(ids)])
        return counts

    def recorded(self, op: Op) -> dict[str, int]:
        seen = self.seen
        if op.kind == "incident_inbound":
            return {"IncidentRecorded": seen.incidents[(op.info["unit_id"], _dt(op.info["occurred_at"]))]}
        if op.kind == "unit_decision" and "year" in op.info:  # (else its unit was never registered)
            return {"decision event": seen.decisions[(op.info["unit_id"], op.info["year"])]}
        if op.kind == "award_approval" and "award_id" in op.info:  # (else the nomination failed)
            return {"AwardApproved": seen.approvals[op.info["award_id"]]}
        return {}


def _tally(v: Verdict, op: Op, counts: dict[str, int]) -> None:
    """One operation's verdict: acknowledged, found once, duplicated, lost, or an effect without an ack."""
    kind = v.by_kind.setdefault(op.kind, Counter())
    kind["attempted"] += 1
    v.attempted += 1
    present = bool(counts) and all(n >= 1 for n in counts.values())
    primary = next(iter(counts.values()), 0)
    dup = any(n > 1 for n in counts.values())
    if op.acked:
        v.acknowledged += 1
        kind["acked"] += 1
    if dup:
        v.duplicated += 1
        kind["dup"] += 1
        v.details.append(f"DUPLICATED {op.kind} {op.key} acked={op.acked}: {counts} {op.info}")
    if op.acked and present and not dup:
        v.effects_found += 1
        kind["found"] += 1
    if (op.acked or primary) and not present:
        v.lost += 1
        kind["lost"] += 1
        v.details.append(f"LOST {op.kind} {op.key} acked={op.acked}: {counts} {op.info} {op.error or ''}")
    if not op.acked and primary:
        v.unacked_with_effect += 1


def _check_dlq(v: Verdict, dlq: list[StreamMsg], poison: Poison | None) -> None:
    """The DLQ holds exactly the injected poison, nothing else."""
    found: Counter[str] = Counter()
    for m in dlq:
        mark = _poison_mark(m, poison)
        if mark:
            found[mark] += 1
        else:
            v.dlq_unexpected += 1
            v.details.append(f"UNEXPECTED DLQ {m.headers.get('Antq-Dlq-Consumer')} "
                             f"{m.headers.get('Antq-Dlq-Original-Subject')}: {m.headers.get('Antq-Dlq-Reason')}")
    expected = poison.expected if poison else Counter()
    v.dlq_expected, v.dlq_found = sum(expected.values()), sum(found.values())
    for key, n in (found - expected).items():
        v.dlq_unexpected += n
        v.details.append(f"DLQ holds {key} {found[key]} times, expected {expected[key]}")
    for key, n in (expected - found).items():
        v.details.append(f"DLQ misses {key} ({n} of {expected[key]})")


async def _evaluate(platform: Platform, load: Load, *, fault: str, poison: Poison | None) -> Verdict:
    js = load.js
    streams = {s: await read_stream(js, s) for s in ("UNITS", "TIPS", "AWARDS", "DLQ")}
    v = Verdict(fault)
    async with httpx.AsyncClient(timeout=30) as http:
        effects = _Effects(platform, load, http, await _seen(platform, load, http, _events_by_type(streams)))
        for op in load.ops:
            _tally(v, op, await effects.count(op))
        _check_dlq(v, streams["DLQ"], poison)
    return v


def _poison_mark(m: StreamMsg, poison: Poison | None) -> str | None:
    """The poison a DLQ record copies: from its body, or from where it was read when the body was not kept."""
    found = POISON_MARK.search(m.data)
    if found:
        return found.group().decode()
    original, seq = m.headers.get("Antq-Dlq-Original-Subject", ""), m.headers.get("Antq-Dlq-Stream-Seq", "")
    if poison is None or m.headers.get("Antq-Dlq-Body") != "dropped" or not seq.isdigit():
        return None
    try:
        stream = stream_for_subject(original).name
    except KeyError:
        return None
    return poison.by_seq.get((stream, int(seq)))


def report(v: Verdict) -> str:
    return (format_table([v]) + f"\n{format_kinds(v)}\n" + (f"({v.seconds:.0f}s)\n" if v.seconds else "")
            + v.problems())


# --- scenario ------------------------------------------------------------------------------------------------
Fault = Callable[[Platform, Load], Awaitable[None]]


async def scenario(platform: Platform, *, fault: str, inject: Fault | None, count: int, duration: float,
                   rate: float | None = None, concurrency: int = 4, seed: int = 1, poison: Poison | None = None,
                   weights: dict[str, int] | None = None) -> Verdict:
    """Run a load and a fault concurrently, then check the invariants."""
    started = time.monotonic()
    load = await Load(platform, seed=seed, weights=weights).open()
    try:
        runner = load.start(count=count, duration=duration, concurrency=concurrency, rate=rate)
        if inject is not None:
            try:
                await inject(platform, load)
            except BaseException:
                failure = runner.exception() if runner.done() else None
                if failure is not None:
                    raise failure from None  # the load itself failed: that is the error to see
                runner.cancel()
                raise
        await runner
        verdict = await check(platform, load, fault=fault, poison=poison, started=started)
    finally:
        await load.close()
    print("\n" + report(verdict), flush=True)
    return verdict
