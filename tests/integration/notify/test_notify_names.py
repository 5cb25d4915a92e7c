"""Names in notices, end to end on a real bus: a unit registered and renamed through the units events is named
(with its place and the incident's label) in the inbox and email notices of an incident at that unit."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.notify.app import build
from shared.contracts.events import CertificationRevoked, IncidentRecorded, UnitRegistered, UnitUpdated
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import Clock, Mail, Publisher, inbox, prefs

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CONSOLE = "https://console.example.gov.vn"


async def test_a_unit_registered_through_the_units_events_is_named_in_the_notices_of_its_incident(
        notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock) -> None:
    notify = build(notify_settings(console_public_url=CONSOLE))
    notify.clock = clock
    unit_id = str(uuid.uuid4())
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        await prefs(http, officer, email="p79@police.example")
        await bus.publish(UnitRegistered(unit_id=unit_id, name="Công ty May Sài Gòn", kind="enterprise",
                                         area_code="79.26743", in_scope=True))
        await bus.publish(UnitUpdated(unit_id=unit_id, changed={"name": "Công ty CP May Sài Gòn"}))
        await bus.publish(IncidentRecorded(incident_id=str(uuid.uuid4()), unit_id=unit_id, year=2026,
                                           category="illegal_strike", disqualifying=True, source="http",
                                           occurred_at=datetime(2026, 11, 22, 1, 0, tzinfo=UTC)))
        await bus.publish(CertificationRevoked(unit_id=unit_id, year=2026, reason="Đình công trái pháp luật",
                                               incident_id=str(uuid.uuid4())))

        async def both_notices() -> list[dict[str, Any]]:
            items = await inbox(http, officer)
            return items if len(items) == 2 else []

        items = {i["event_type"]: i for i in await eventually(both_notices, what="two notices in the inbox")}
        incident = items[IncidentRecorded.TYPE]
        text = f"{incident['title']} {incident['body']}"
        assert "Công ty CP May Sài Gòn" in text  # the name as the latest units event gave it
        assert "Đình công, ngừng việc trái pháp luật" in text and "illegal_strike" not in text
        assert "Phường Bến Thành, Thành phố Hồ Chí Minh" in text  # the place, from the national list (app.py)
        assert "08:00 ngày 22/11/2026 (giờ Việt Nam)" in text
        assert not UUID_RE.search(text)
        assert incident["link"] == f"{CONSOLE}/units/{unit_id}"

        async def mailed() -> bool:
            return len(mail.server.to("p79@police.example")) == 1

        await eventually(mailed, what="the revocation by email")
        (email,) = mail.server.to("p79@police.example")
        body = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Công ty CP May Sài Gòn" in str(email["Subject"])
        assert "Công ty CP May Sài Gòn (doanh nghiệp, Phường Bến Thành, Thành phố Hồ Chí Minh)" in body
        assert f"{CONSOLE}/units/{unit_id}" in body
        assert not UUID_RE.search(str(email["Subject"]) + body.replace(f"{CONSOLE}/units/{unit_id}", ""))
