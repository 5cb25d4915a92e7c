"""Bulk imports of units started from the console, with their progress and per-row report.

The file (CSV with a header row, or JSON lines) is cut into chunks of whole records that go one after another to
the units service's `POST /imports/units` (each chunk idempotent on the external key, as the endpoint is); the
page shows how many rows are done and the report of every row with its line in the uploaded file. Jobs live in
the console process's memory for the person who started them, the last few only.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from services.console.clients import ApiError, ServiceApis
from services.console.domain import Account

MAX_BYTES = 20 * 1024 * 1024
CHUNK_ROWS = 500
KEPT_JOBS = 50
CHUNK_TIMEOUT_SECONDS = 120.0


class ImportRefused(Exception):
    """The file cannot be imported; `key` is the page's message (i18n), `values` its placeholders."""

    def __init__(self, key: str, **values: Any):
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass
class Chunk:
    body: bytes
    lines: dict[int, int]  # the chunk's line number (as the units service reports it) -> the file's line
    names: dict[int, str]  # the file's line -> the unit name the record gives


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


class Jobs:
    def __init__(self) -> None:
        self._jobs: OrderedDict[str, ImportJob] = OrderedDict()

    def add(self, job: ImportJob) -> None:
        self._jobs[job.job_id] = job
        while len(self._jobs) > KEPT_JOBS:
            self._jobs.popitem(last=False)

    def get(self, job_id: str) -> ImportJob | None:
        return self._jobs.get(job_id)


def jobs_of(app: Any) -> Jobs:
    jobs = getattr(app.state, "unit_imports", None)
    if jobs is None:
        jobs = app.state.unit_imports = Jobs()
    return jobs  # type: ignore[no-any-return]


def media_of(filename: str, content_type: str) -> str:
    name = filename.lower()
    kind = content_type.split(";")[0].strip().lower()
    if name.endswith(".csv") or kind == "text/csv":
        return "text/csv"
    if name.endswith((".jsonl", ".ndjson")) or kind in ("application/x-ndjson", "application/jsonl"):
        return "application/x-ndjson"
    raise ImportRefused("reg.import_type", name=filename or "?")


def chunks_of(body: bytes, media: str, size: int | None = None) -> tuple[list[Chunk], int]:
    """The file's records in chunks of `size`, each with the map back to the file's lines; and the row count."""
    if len(body) > MAX_BYTES:
        raise ImportRefused("reg.import_too_big", mb=MAX_BYTES // (1024 * 1024))
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused("reg.import_encoding") from exc
    records: list[tuple[int, str, str, int]] = []  # (the file's line, the record's text, its name, its lines)
    if media == "text/csv":
        lines = io.StringIO(text, newline="").readlines()
        reader = csv.reader(iter(lines))
        try:
            header = next(reader, None)
            if not header:
                raise ImportRefused("reg.import_empty")
            head_end = reader.line_num
            name_at = header.index("name") if "name" in header else None
            start = head_end
            for record in reader:
                end = reader.line_num
                if any(cell.strip() for cell in record):
                    name = record[name_at] if name_at is not None and name_at < len(record) else ""
                    records.append((end, "".join(lines[start:end]), name, end - start))
                start = end
        except csv.Error as exc:
            raise ImportRefused("reg.import_csv", why=str(exc)) from exc
        head = "".join(lines[:head_end])
    else:
        head, head_end = "", 0
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    value = json.loads(line)
                    name = str(value.get("name", "")) if isinstance(value, dict) else ""
                except ValueError:
                    name = ""
                records.append((number, line + "\n", name, 1))
    if not records:
        raise ImportRefused("reg.import_empty")
    out = []
    size = size or CHUNK_ROWS
    for begin in range(0, len(records), size):
        part = records[begin:begin + size]
        at, mapping = head_end, {}
        for file_line, _, _, count in part:
            at += count
            mapping[at] = file_line
        out.append(Chunk(body=(head + "".join(r[1] for r in part)).encode(), lines=mapping,
                         names={r[0]: r[2] for r in part}))
    return out, len(records)


def start(jobs: Jobs, account: Account, apis: ServiceApis, body: bytes, filename: str,
          content_type: str) -> ImportJob:
    media = media_of(filename, content_type)
    chunks, total = chunks_of(body, media)
    job = ImportJob(job_id=secrets.token_urlsafe(12), owner=account.username, filename=filename, total=total)
    jobs.add(job)
    job.task = asyncio.create_task(_run(job, account, apis, chunks, media))
    return job


async def _run(job: ImportJob, account: Account, apis: ServiceApis, chunks: list[Chunk], media: str) -> None:
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
