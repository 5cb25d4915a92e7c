"""The files of bulk imports of units, cut into chunks: pure (bytes in, chunks with their map back to the lines of
the uploaded file out). The jobs that send the chunks to the units service are in `tasks.py`.

The file (CSV with a header row, or JSON lines) is cut into chunks of whole records that go one after another to
the units service's `POST /imports/units` (each chunk idempotent on the external key, as the endpoint is).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

MAX_BYTES = 20 * 1024 * 1024
CHUNK_ROWS = 500


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
