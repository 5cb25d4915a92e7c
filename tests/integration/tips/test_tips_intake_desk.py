"""A tip with no area waits at the deployment's intake desk until an officer assigns it to an area."""

from __future__ import annotations

from collections.abc import Callable

from shared.settings import Settings
from tests.integration.tips.tips_support import Clock, Tips, tips_running, tips_settings


async def _queue(tips: Tips, area: str | None) -> set[str]:
    r = await tips.http.get("/tips", headers=tips.auth(area=area))
    assert r.status_code == 200, r.text
    return {t["tip_id"] for t in r.json()["items"]}


async def test_a_tip_without_an_area_is_in_the_province_officers_queue_until_assigned(tips: Tips) -> None:
    unplaced = (await tips.submit(area_code=None, location=None))["tip_id"]
    placed = (await tips.submit())["tip_id"]  # in 79.26743
    # The default desk: every province-level officer sees the unplaced tip; a commune officer does not.
    assert await _queue(tips, "79") == {placed, unplaced}
    assert await _queue(tips, "01") == {unplaced}
    assert await _queue(tips, "79.26743") == {placed}
    r = await tips.http.get(f"/tips/{unplaced}", headers=tips.auth(area="79.26743"))
    assert r.status_code == 403
    # A desk officer opens it and assigns it to a commune: from then on it is that commune's.
    assert (await tips.http.get(f"/tips/{unplaced}", headers=tips.auth(area="01"))).status_code == 200
    r = await tips.http.post(f"/tips/{unplaced}/triage", headers=tips.auth(area="79"),
                             json={"assigned_area": "79.26743"})
    assert r.status_code == 200, r.text
    assert await _queue(tips, "79.26743") == {placed, unplaced}
    assert await _queue(tips, "01") == set()


async def test_a_configured_intake_desk_area_holds_the_tips_without_an_area(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str) -> None:
    settings = tips_settings(settings_factory, database_url, tips_intake_desk_area="79.26743")
    async with tips_running(settings, Clock(), nats_url, namespace) as tips:
        unplaced = (await tips.submit(area_code=None, location=None))["tip_id"]
        assert await _queue(tips, "79.26743") == {unplaced}
        assert await _queue(tips, "79") == {unplaced}  # the desk's province covers it
        assert await _queue(tips, "01") == set()  # another province's officer is not the desk
        assert await _queue(tips, "79.26797") == set()
        r = await tips.http.post(f"/tips/{unplaced}/triage", headers=tips.auth(area="79.26743"), json={})
        assert r.status_code == 200, r.text
