"""What reading an inbox page costs the notify process: its statements and its renders (docs/benchmarks.md,
National). A page reads its rows and the directory entries its notices name; the cause events (immutable once
stored) are read once per process, and a notice is rendered again only when a name it uses changed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from services.notify.app import build
from services.notify.context import NotifyContext
from shared.contracts.events import IncidentRecorded, UnitRegistered, UnitUpdated
from shared.deps import CONTEXT_KEY
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import Clock, Publisher, inbox, tip


async def test_rereading_an_inbox_page_reads_no_cause_event_and_renders_only_what_a_rename_changed(
        notify_settings: Callable[..., Settings], bus: Publisher, clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    ctx: NotifyContext = getattr(notify.app.state, CONTEXT_KEY)
    statements: list[str] = []

    @event.listens_for(notify.db.engine.sync_engine, "before_cursor_execute")
    def _statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    renders: list[str] = []
    render = ctx.templates.render

    def counted(event_type: str, *args: Any, **kwargs: Any) -> Any:
        renders.append(event_type)
        return render(event_type, *args, **kwargs)

    ctx.templates.render = counted  # type: ignore[method-assign]
    unit_id = str(uuid.uuid4())
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        await bus.publish(UnitRegistered(unit_id=unit_id, name="Công ty May Sài Gòn", kind="enterprise",
                                         area_code="79.26743", in_scope=True))
        await bus.publish(tip("T1", "79.26743"))
        await bus.publish(tip("T2", "79.26737"))
        await bus.publish(IncidentRecorded(incident_id=str(uuid.uuid4()), unit_id=unit_id, year=2026,
                                           category="illegal_strike", disqualifying=True, source="http",
                                           occurred_at=datetime(2026, 11, 22, 1, 0, tzinfo=UTC)))

        async def three_notices() -> list[dict[str, Any]]:
            items = await inbox(http, officer)
            return items if len(items) == 3 else []

        first = await eventually(three_notices, what="three notices in the province inbox")
        renders.clear()
        statements.clear()
        for unread in (None, "true"):
            again = await inbox(http, officer, **({"unread": unread} if unread else {}))
            assert again == first
        # The page's own statements (the delivery worker polls beside it, on other tables).
        reads = [s for s in statements if s.startswith("SELECT") and ("inbox_reads" in s or any(
            f"FROM {table}" in s for table in ("cause_events", "unit_directory", "tip_directory", "award_directory")))]
        # Each read: the page, then the directory entries its notices name (the unit, the tips); no cause event.
        assert len(reads) == 2 * 3, reads
        assert not any("FROM cause_events" in s for s in reads), reads
        assert renders == []

        await bus.publish(UnitUpdated(unit_id=unit_id, changed={"name": "Công ty CP May Sài Gòn"}))

        async def renamed() -> list[dict[str, Any]]:
            items = await inbox(http, officer)
            return items if any("Công ty CP May Sài Gòn" in i["title"] + i["body"] for i in items) else []

        items = await eventually(renamed, what="the incident's notice naming the unit as it is now")
        assert [i["notification_id"] for i in items] == [i["notification_id"] for i in first]
        assert renders and set(renders) == {IncidentRecorded.TYPE}  # the tips' notices were not rendered again
