"""The console's background work: the session sweep app.py starts, and what pages start in the console process:
the live pollers and the bulk imports of units.

- The sweep deletes expired sessions every minute and keeps the live-session gauge current.
- Live updates: one poller per topic (a tip queue's area, a person's inbox), fanned out to every open page's
  event stream, so that eight open queues of one area cost one poll of the tips service.
- Imports: a file's chunks (`domain/unit_imports.py`) go one after another to the units service; the page shows
  how many rows are done and the report of every row with its line in the uploaded file. Jobs live in the
  console process's memory for the person who started them, the last few only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from services.console.clients import ApiError, ServiceApis
from services.console.domain.accounts import Account
from services.console.domain.unit_imports import Chunk, chunks_of, media_of

if TYPE_CHECKING:
    from services.console.context import ConsoleContext

log = logging.getLogger(__name__)
SESSION_SWEEP_SECONDS = 60.0
KEPT_JOBS = 50
CHUNK_TIMEOUT_SECONDS = 120.0

async def sweep_sessions(ctx: ConsoleContext) -> None:
    """Delete expired sessions and keep the live-session gauge current; close the API clients on stop."""
    try:
        while True:
            try:
                await ctx.accounts.purge_expired(now=ctx.now())
                ctx.metrics.sessions.set(await ctx.accounts.count_sessions())
            except Exception as exc:  # noqa: BLE001 — the next sweep tries again; /readyz reports the database
                log.warning("console sessions not swept: %s", exc)
            await asyncio.sleep(SESSION_SWEEP_SECONDS)
    finally:
        await ctx.live.close()
        await ctx.apis.close()


# --- live updates --------------------------------------------------------------------------------------------
Poll = Callable[[], Awaitable[str | None]]


@dataclass(eq=False)
class _Topic:
    poll: Poll
    subscribers: set[asyncio.Queue[str]] = field(default_factory=set)
    mark: str | None = None  # the newest item seen; None until the first answer
    task: asyncio.Task[None] | None = None


class LiveHub:
    """Topics keyed by what their poll reads; a topic's poller runs while at least one stream listens to it.

    `poll` answers the newest item's id ("" for none), or None when the service could not be asked (the next
    round asks again). A change of the mark after the first answer is sent to every subscriber. A subscriber's
    queue holds one pending mark at most: a page fetches everything new at once, so older marks add nothing.
    """

    def __init__(self, interval: float, *, polled: Callable[[str], None] | None = None):
        self.interval = interval
        self.polled = polled or (lambda _name: None)
        self.topics: dict[Hashable, _Topic] = {}

    def subscribers(self, key: Hashable) -> int:
        topic = self.topics.get(key)
        return len(topic.subscribers) if topic else 0

    @contextlib.asynccontextmanager
    async def subscribe(self, key: tuple[str, ...], poll: Poll) -> AsyncIterator[asyncio.Queue[str]]:
        """A queue of news for `key`; the first subscriber's `poll` serves every later one of the same key."""
        inbox: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        topic = self.topics.get(key)
        if topic is None:
            topic = self.topics[key] = _Topic(poll)
            topic.task = asyncio.create_task(self._run(key[0], topic), name=f"console-live-{key[0]}")
        topic.subscribers.add(inbox)
        try:
            yield inbox
        finally:
            topic.subscribers.discard(inbox)
            if not topic.subscribers and self.topics.get(key) is topic:
                del self.topics[key]
                assert topic.task is not None
                topic.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await topic.task

    async def _run(self, name: str, topic: _Topic) -> None:
        while True:
            try:
                mark = await topic.poll()
            except Exception as exc:  # noqa: BLE001 — a failed poll is retried next round; pages keep their stream
                log.warning("console live poll of %s failed: %s", name, type(exc).__name__)
                mark = None
            self.polled(name)
            if mark is not None:
                if topic.mark is not None and mark != topic.mark:
                    for inbox in list(topic.subscribers):
                        with contextlib.suppress(asyncio.QueueFull):
                            inbox.put_nowait(mark)
                topic.mark = mark
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        for topic in list(self.topics.values()):
            if topic.task is not None:
                topic.task.cancel()
        self.topics.clear()


# --- imports of units ----------------------------------------------------------------------------------------
@dataclass
class ImportJob:
    job_id: str
    owner: str
    filename: str
    total: int
    done: int = 0
    state: str = "running"  # running, done, failed
    counts: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0,
                                                            "rejected": 0})
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    task: asyncio.Task[None] | None = None

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * self.done / self.total)


class ImportJobs:
    """The last few imports, in the console process's memory, for the person who started them."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, ImportJob] = OrderedDict()

    def add(self, job: ImportJob) -> None:
        self._jobs[job.job_id] = job
        while len(self._jobs) > KEPT_JOBS:
            self._jobs.popitem(last=False)

    def get(self, job_id: str) -> ImportJob | None:
        return self._jobs.get(job_id)


def start_import(jobs: ImportJobs, account: Account, apis: ServiceApis, body: bytes, filename: str,
                 content_type: str) -> ImportJob:
    """Cut the file into chunks (refused with ImportRefused) and send them in the background."""
    media = media_of(filename, content_type)
    chunks, total = chunks_of(body, media)
    job = ImportJob(job_id=secrets.token_urlsafe(12), owner=account.username, filename=filename, total=total)
    jobs.add(job)
    job.task = asyncio.create_task(_run_import(job, account, apis, chunks, media))
    return job


async def _run_import(job: ImportJob, account: Account, apis: ServiceApis, chunks: list[Chunk], media: str) -> None:
    try:
        for chunk in chunks:
            report = await apis.post_body(account, "units", "/imports/units", chunk.body, media,
                                          params={"rows": "all"}, timeout=CHUNK_TIMEOUT_SECONDS)
            for key in job.counts:
                job.counts[key] += int(report.get(key, 0))
            for row in report.get("rows", []):
                line = chunk.lines.get(int(row["line"]), int(row["line"]))
                job.rows.append({**row, "line": line, "name": chunk.names.get(line, "")})
            job.done += len(chunk.lines)
        job.state = "done"
    except ApiError as exc:
        job.state, job.error = "failed", exc.message or exc.code
    except Exception as exc:  # noqa: BLE001 — the page says the import stopped, and why
        job.state, job.error = "failed", type(exc).__name__
    finally:
        with contextlib.suppress(Exception):
            job.rows.sort(key=lambda r: (r.get("status") != "rejected", r["line"]))
