"""Notify: an urgent tip's escalation reaches the officers of the level it went up to, and only them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.notify.app import build
from shared.contracts.events import TipEscalated
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import Clock, Mail, Publisher, inbox, prefs, tip

AT = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)


async def test_escalations_reach_the_province_then_the_national_desk(
        notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        tokens = {sub: notify.tokens.issue(role=role, area=area, sub=sub) for sub, role, area in (
            ("p79", "officer", "79"), ("c26743", "officer", "79.26743"), ("p01", "officer", "01"),
            ("root", "admin", None))}
        for sub, token in tokens.items():
            await prefs(http, token, email=f"{sub}@police.example")
        await bus.publish(tip("T-urgent", "79.26743", priority="urgent"))
        await bus.publish(TipEscalated(tip_id="T-urgent", level="province", escalated_at=AT, to_area="79"))
        await bus.publish(TipEscalated(tip_id="T-urgent", level="national", escalated_at=AT))

        async def seen(sub: str) -> set[str | None]:
            """The levels (by the area each notice is for: None is the national desk) the officer was told of."""
            return {i["area_code"] for i in await inbox(http, tokens[sub]) if i["event_type"] == TipEscalated.TYPE}

        async def admin_has_both() -> bool:
            return await seen("root") == {"79", None}

        await eventually(admin_has_both, what="both escalations routed")
        assert await seen("p79") == {"79"}
        assert await seen("c26743") == set()  # the commune already had it and let it wait
        assert await seen("p01") == set()

        async def mailed() -> bool:
            return any(word in str(m["Subject"]).lower() for word in ("escalat", "chuyển cấp")
                       for m in mail.server.to("p79@police.example"))

        await eventually(mailed, what="the province officer e-mailed")
