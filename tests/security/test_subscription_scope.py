"""Subscriptions reach only what their maker may read: units and agencies never tips events (nor agencies awards
events), however the pattern is written; an officer's unit must be a unit notify knows inside the officer's area."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.notify.app import build
from services.notify.domain import Directory, Subscription, route
from services.notify.domain.routing import pattern_reaches
from shared.contracts.events import AwardProposed, UnitRegistered
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import Publisher, auth, tip

SQLITE = pytest.mark.parametrize("backend", ["sqlite"])
REACH_TIPS = ["*", ">", "antq.>", "antq.*", "antq.*.TipReceived.v1", "*.tips.TipVerified.v1", "antq.tips.*",
              "antq.tips.TipReceived.v1"]


@pytest.mark.parametrize("pattern", REACH_TIPS)
def test_patterns_that_can_match_a_tips_event_are_recognised(pattern: str) -> None:
    assert pattern_reaches(pattern, "tips")


@pytest.mark.parametrize("pattern", ["antq.units.*", "antq.awards.AwardGranted.v1", "antq.tips", "antq"])
def test_patterns_of_other_services_do_not_reach_tips(pattern: str) -> None:
    assert not pattern_reaches(pattern, "tips")


def test_a_stored_unit_or_agency_subscription_never_matches_what_its_owner_may_not_read() -> None:
    """Subscriptions stored before the API refused such patterns are held to the same rule when routing."""
    subs = [Subscription(subscription_id=f"old-{owner}", owner=owner, event_types=("*",), channel="webhook",
                         target="https://receiver.example/hook") for owner in ("unit:U1", "external:national-app")]
    award = AwardProposed(award_id="A1", award_type="certificate", recipient_kind="unit", recipient_ref="U1",
                          year=2026, basis=[], level="province").model_dump(mode="json")
    tip_data = tip("T1", "79", ).model_dump(mode="json") | {"unit_id": "U1"}

    def subscribers(event_type: str, data: dict[str, Any]) -> set[str | None]:
        return {i.subscription_id for i in route(event_type, data, subs, Directory(), {}) if i.subscription_id}

    assert subscribers(AwardProposed.TYPE, award) == {"old-unit:U1"}  # a unit reads its own awards
    assert subscribers("antq.tips.TipReceived.v1", tip_data) == set()


@SQLITE
async def test_units_and_agencies_may_not_subscribe_to_patterns_that_reach_events_they_may_not_read(
        notify_config: Callable[..., Settings], backend: str) -> None:
    notify = build(notify_config())
    async with running(notify) as http:
        unit = notify.tokens.issue(role="unit", unit="U1", sub="u1")
        agency = notify.tokens.issue(role="agency", sub="national-app")
        for token, patterns in [(unit, REACH_TIPS), (agency, [*REACH_TIPS, "antq.awards.*", "antq.*.AwardGranted.v1"])]:
            for pattern in patterns:
                r = await http.post("/subscriptions", headers=auth(token), json={"event_types": [pattern],
                                                                                 "channel": "inbox"})
                assert r.status_code == 403, (pattern, r.text)
                assert r.json()["error"]["code"] == "event_types_not_allowed"
                assert r.json()["error"]["details"] == {"event_types": [pattern]}
        r = await http.post("/subscriptions", headers=auth(unit), json={
            "event_types": ["antq.units.*", "antq.awards.*"], "channel": "inbox"})
        assert r.status_code == 201 and r.json()["unit_id"] == "U1", r.text
        r = await http.post("/subscriptions", headers=auth(agency), json={"event_types": ["antq.units.*"],
                                                                          "channel": "inbox"})
        assert r.status_code == 201, r.text


async def known(http: httpx.AsyncClient, admin: str, unit_id: str) -> bool:
    """Whether notify has heard of the unit (an admin's subscription naming it is accepted; deleted again)."""
    r = await http.post("/subscriptions", headers=auth(admin), json={
        "event_types": ["antq.units.*"], "unit_id": unit_id, "channel": "inbox"})
    if r.status_code != 201:
        return False
    await http.delete(f"/subscriptions/{r.json()['subscription_id']}", headers=auth(admin))
    return True


@SQLITE
async def test_an_officer_subscribes_only_to_known_units_of_their_own_area(
        notify_config: Callable[..., Settings], bus: Publisher, backend: str) -> None:
    notify = build(notify_config())
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        await bus.publish(UnitRegistered(unit_id="U-79", name="Trường A", kind="school", area_code="79.26743",
                                         in_scope=True))
        await bus.publish(UnitRegistered(unit_id="U-80", name="Trường B", kind="school", area_code="80.25459",
                                         in_scope=True))

        async def both_known() -> bool:
            return await known(http, admin, "U-79") and await known(http, admin, "U-80")

        await eventually(both_known, what="notify knows both units")
        body = {"event_types": ["antq.units.*"], "channel": "inbox"}
        # Another province's unit, whatever area the officer claims alongside it.
        for claimed in ({"area_code": "79"}, {}):
            r = await http.post("/subscriptions", headers=auth(officer), json={**body, **claimed, "unit_id": "U-80"})
            assert r.status_code == 403, (claimed, r.text)
            assert r.json()["error"]["code"] == "forbidden_scope"
        r = await http.post("/subscriptions", headers=auth(officer), json={**body, "unit_id": "U-nobody-knows"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "unit_not_known", r.text
        r = await http.post("/subscriptions", headers=auth(officer), json={**body, "area_code": "79",
                                                                         "unit_id": "U-79"})
        assert r.status_code == 201, r.text
