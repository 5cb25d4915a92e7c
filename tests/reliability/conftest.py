"""The reliability suite's fixtures and the results table printed at the end of the run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import RESULTS, Platform, format_kinds, format_table


@pytest.fixture
def start_platform(tmp_path: Path) -> Iterator[Any]:
    """`start_platform(env=..., nats_url=...)` starts `antq up`; everything started is stopped afterwards."""
    started: list[Platform] = []

    def start(**kwargs: Any) -> Platform:
        p = Platform.start(tmp_path / f"p{len(started)}", **kwargs)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    mine = [v for v in RESULTS if not v.fault.startswith("cluster:")]
    if not mine:
        return
    table = format_table(mine)
    terminalreporter.write_sep("=", "reliability: faults and invariants")
    terminalreporter.write_line(table)
    for v in mine:
        terminalreporter.write_line(f"- {v.fault} ({v.seconds:.0f}s): {format_kinds(v)}")
        for note in v.notes:
            terminalreporter.write_line(f"    {note}")
    out = os.environ.get("ANTQ_RELIABILITY_RESULTS")
    if out:
        with Path(out).open("a") as fh:
            fh.write(table + "\n")
