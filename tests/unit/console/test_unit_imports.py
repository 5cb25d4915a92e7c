"""Cutting an import file into chunks of whole records, with every row's line in the uploaded file."""

from __future__ import annotations

import csv
import io

import pytest

from services.console.domain.unit_imports import ImportRefused, chunks_of, media_of


def _chunk_records(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode(), newline="")))


def test_csv_chunks_repeat_the_header_and_map_each_record_back_to_its_line() -> None:
    text = ("name,kind,address\n"
            "Công ty A,enterprise,1 Lê Lợi\n"
            "\n"
            'Công ty B,enterprise,"tầng 2\nsố 5 Pasteur"\n'
            "Công ty C,school,\n")
    chunks, total = chunks_of(text.encode(), "text/csv", size=2)
    assert total == 3 and len(chunks) == 2
    first, second = chunks
    assert [r["name"] for r in _chunk_records(first.body)] == ["Công ty A", "Công ty B"]
    assert _chunk_records(first.body)[1]["address"] == "tầng 2\nsố 5 Pasteur"
    # The units service reports a CSV record at the line where it ends (csv line_num), in the chunk's text.
    assert first.lines == {2: 2, 4: 5} and first.names == {2: "Công ty A", 5: "Công ty B"}
    assert _chunk_records(second.body) == [{"name": "Công ty C", "kind": "school", "address": ""}]
    assert second.lines == {2: 6}


def test_json_lines_map_each_line_and_skip_blank_ones() -> None:
    body = b'{"name": "A"}\n\n{"name": "B"}\nnot json\n'
    chunks, total = chunks_of(body, "application/x-ndjson", size=500)
    assert total == 3
    assert chunks[0].lines == {1: 1, 2: 3, 3: 4} and chunks[0].names == {1: "A", 3: "B", 4: ""}


def test_files_that_cannot_be_imported_are_refused_with_the_pages_message() -> None:
    with pytest.raises(ImportRefused) as exc:
        media_of("danh-sach.xlsx", "application/vnd.ms-excel")
    assert exc.value.key == "reg.import_type" and exc.value.values == {"name": "danh-sach.xlsx"}
    assert media_of("ds.CSV", "") == "text/csv" and media_of("ds.jsonl", "") == "application/x-ndjson"
    for body, key in ((b"\xff\xfe", "reg.import_encoding"), (b"name,kind\n", "reg.import_empty"),
                      (b"", "reg.import_empty")):
        with pytest.raises(ImportRefused) as exc:
            chunks_of(body, "text/csv")
        assert exc.value.key == key
