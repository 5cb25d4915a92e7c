"""The demo `antq up --demo` loads: units, tips in several states, awards through the workflow and notifications,
loaded through the HTTP APIs of the four real services on one NATS namespace."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx

from services.awards.app import build as build_awards
from services.demo import TIPS, load_demo
from services.notify.app import build as build_notify
from services.tips.app import build as build_tips
from services.units.app import build as build_units
from shared import places
from shared.settings import PORT_OFFSETS, Settings
from shared.testing import free_port_block
from tests.console_world import over_http


async def test_the_demo_fills_tips_awards_and_notifications_and_is_safe_to_run_twice(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(port_base=free_port_block(max(PORT_OFFSETS.values()) + 1))
    services = {name: build(settings) for name, build in (("units", build_units), ("tips", build_tips),
                                                          ("awards", build_awards), ("notify", build_notify))}
    async with contextlib.AsyncExitStack() as stack:
        for name, service in services.items():
            await stack.enter_async_context(over_http(service, settings.http_port_for(name), ready_timeout=30))
        summary = await load_demo(settings)
        assert summary.startswith("province 79:"), summary
        admin = {"Authorization": "Bearer " + services["tips"].tokens.issue(role="admin", sub="reader")}

        async def get(name: str, path: str, reader: dict[str, str] = admin, **params: Any) -> Any:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port_for(name)}") as http:
                r = await http.get(path, headers=reader, params=params)
                assert r.status_code == 200, r.text
                return r.json()

        tips = (await get("tips", "/tips", limit=100))["items"]
        assert {t["status"] for t in tips} >= {"received", "triaged", "verifying", "decided", "dismissed", "closed"}
        assert len(tips) == len(TIPS)
        assert any(t["priority"] == "urgent" for t in tips)
        # Every tip is in a real commune of the national list, most about a real unit of that commune.
        assert all(places.place(t["area_code"]) is not None for t in tips)
        details = [await get("tips", f"/tips/{t['tip_id']}") for t in tips]
        with_unit = [d for d in details if d["unit_id"]]
        assert len(with_unit) >= 5
        for d in with_unit:
            unit = await get("units", f"/units/{d['unit_id']}")
            assert unit["area_code"] == d["area_code"]

        awards = (await get("awards", "/awards", limit=200))["items"]
        statuses = {a["status"] for a in awards}
        assert {"proposed", "approved", "granted", "rejected"} <= statuses, statuses
        assert {a["recipient_kind"] for a in awards} >= {"reporter", "person"}

        desks = (await get("notify", "/inbox", limit=100))["items"]
        assert {n["event_type"].split(".")[1] for n in desks} >= {"tips", "units"}
        leader = services["notify"].tokens.issue(role="leader", level="police_unit", area="79", sub="leader-79")
        approvals = (await get("notify", "/inbox", {"Authorization": f"Bearer {leader}"}, limit=100))["items"]
        assert {n["event_type"] for n in approvals} >= {"antq.awards.AwardProposed.v1"}
        # People read names: no area code or tip id in any notice's text.
        texts = [n["title"] + " " + n["body"] for n in desks + approvals]
        assert not [t for t in texts if "79.2" in t or any(tip["tip_id"] in t for tip in tips)]

        # Safe to run twice: no new units, tips or awards.
        again = await load_demo(settings)
        assert "0 new" in again and "tips: already loaded" in again
        assert len((await get("tips", "/tips", limit=100))["items"]) == len(TIPS)
        assert len((await get("awards", "/awards", limit=200))["items"]) == len(awards)
