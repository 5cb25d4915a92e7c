"""The representative part of the reliability suite that `make test` runs: a small mixed load through the
platform started by `antq up`, one `kill -9` of the tips service right after some 202s and one of notify, then
the invariants: every acknowledged operation had its full effect exactly once, nothing stuck, DLQ empty."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.reliability.harness import Load, Platform, report, scenario

pytestmark = pytest.mark.timeout(180)


async def test_kill_tips_then_notify_under_load_loses_and_duplicates_nothing(
        start_platform: Callable[..., Platform]) -> None:
    platform = start_platform()

    async def inject(p: Platform, load: Load) -> None:
        await load.wait_acked(6, kind="tip_http")
        pid = p.kill("tips")  # right after some 202s: committed tips whose events may not be published yet
        await p.wait_restarted("tips", pid)
        await load.wait_acked(6)
        pid = p.kill("notify")
        await p.wait_restarted("notify", pid)

    verdict = await scenario(platform, fault="kill -9 tips, then notify (quick)", inject=inject, count=240, rate=20,
                             duration=40, seed=7)
    assert verdict.acknowledged >= 20, report(verdict)
    assert verdict.ok, report(verdict)
    kinds: dict[str, Any] = verdict.by_kind
    assert kinds["tip_http"]["acked"] > 0 and kinds["tip_http"]["found"] == kinds["tip_http"]["acked"]
