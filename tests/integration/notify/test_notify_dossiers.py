"""A submitted dossier reaches the inbox of the officers whose area covers the unit, and nobody else's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.notify.app import build
from shared.contracts.events import DossierSubmitted
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import Clock, Publisher, inbox


async def test_a_submitted_dossier_reaches_the_communes_officers_inbox(
        notify_settings: Callable[..., Settings], bus: Publisher, clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        commune = notify.tokens.issue(role="officer", area="79.26743", sub="c26743")
        neighbour = notify.tokens.issue(role="officer", area="79.26737", sub="c26737")
        unit = notify.tokens.issue(role="unit", unit="U1", sub="u1-staff")
        submitted = await bus.publish(DossierSubmitted(unit_id="U1", year=2026, area_code="79.26743",
                                                       unit_name="Công ty A",
                                                       submitted_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC)))

        async def notice() -> list[dict[str, Any]]:
            return await inbox(http, commune)

        items = await eventually(notice, what="the dossier notice in the commune's inbox")
        assert [(i["event_type"], i["cause_event_id"]) for i in items] == [(DossierSubmitted.TYPE, submitted.id)]
        assert "Công ty A" in items[0]["body"]
        assert await inbox(http, neighbour) == []
        assert await inbox(http, unit) == []
