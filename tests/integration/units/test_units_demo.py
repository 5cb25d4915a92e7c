"""The demo province loads through the HTTP API of a running units service and holds every kind of data."""

from __future__ import annotations

from collections.abc import Callable

from services.units import store
from services.units.app import build
from services.units.demo import load_demo
from services.units.domain import StatsQuery, assessment_year_of
from shared.settings import Settings
from shared.testing import free_port
from tests.console_world import over_http


async def test_demo_province_has_units_cycles_incidents_and_activities(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str]) -> None:
    settings = settings_factory(units_database_url=database_url("units"), http_port=free_port())
    service = build(settings)
    async with over_http(service, settings.http_port_for("units"), ready_timeout=20):
        summary = await load_demo(settings)
        assert summary.startswith("province 79:")
        query = StatsQuery(year=assessment_year_of(service.clock()), area_code="79")
        async with service.db.read() as session:
            stats = await store.compute_stats(session=session, query=query)
        assert set(stats.units.by_kind) == {"agency", "enterprise", "school"}
        assert stats.units.total >= 50 and stats.units.out_of_scope > 0
        states = set(stats.cycles.by_state)
        assert {"registered", "recognised", "revoked"} <= states and len(states) >= 5, states
        assert stats.incidents.total >= 3 and stats.activities.propaganda_sessions > 0
        assert stats.models.sites > 0
        again = await load_demo(settings)  # safe to run twice
        assert "0 new" in again
