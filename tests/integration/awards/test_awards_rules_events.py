"""Rule evaluation driven by published events: proposals with their basis, replay, out-of-order, overlays, priors."""

from __future__ import annotations

import uuid

from shared.contracts.events import AwardProposed
from shared.testing import eventually
from tests.integration.awards.awards_helpers import Awards, certified, drained, registered, revoked


def _uid() -> str:
    return f"u-{uuid.uuid4().hex[:8]}"


async def _awards_of(awards: Awards, unit_id: str) -> list[dict]:
    r = await awards.http.get("/awards", params={"recipient_ref": unit_id}, headers=awards.token("admin"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_two_consecutive_recognitions_propose_a_giay_khen_resting_on_both(awards: Awards) -> None:
    unit = _uid()
    await awards.bus.publish(registered(unit, "01.00004"))
    first = await awards.bus.publish(certified(unit, 2024))
    second = await awards.bus.publish(certified(unit, 2025))

    items = await eventually(lambda: _awards_of(awards, unit), what="the proposal")
    assert len(items) == 1
    award = items[0]
    assert (award["award_type"], award["recipient_kind"], award["year"], award["level"]) == (
        "giay_khen", "unit", 2025, "commune")
    assert award["basis"] == [first.id, second.id]
    assert award["area_code"] == "01.00004" and award["status"] == "proposed"
    assert award["recipient_name"] == "Trường THPT Demo"

    async def proposed_event() -> list[dict]:
        return [e for e in await awards.bus.events(type_suffix="AwardProposed.v1")
                if e["data"]["award_id"] == award["award_id"]]

    events = await eventually(proposed_event, what="AwardProposed on the AWARDS stream")
    data = AwardProposed.model_validate(events[0]["data"])
    assert data.basis == [first.id, second.id] and data.recipient_ref == unit and data.level == "commune"
    assert events[0]["source"] == "antq/awards"

    detail = (await awards.http.get(f"/awards/{award['award_id']}", headers=awards.token("admin"))).json()
    assert [s["action"] for s in detail["audit"]] == ["award.propose"]
    assert detail["audit"][0]["actor"] == "system" and detail["audit"][0]["details"]["basis"] == award["basis"]


async def test_replaying_the_same_events_proposes_nothing_new(awards: Awards) -> None:
    unit = _uid()
    sent = [await awards.bus.publish(registered(unit, "01.00004"))]
    sent += [await awards.bus.publish(certified(unit, year)) for year in (2023, 2024, 2025, 2026)]
    await eventually(lambda: _awards_of(awards, unit), what="proposals")
    await drained(awards.service)
    before = sorted((a["year"], a["award_id"]) for a in await _awards_of(awards, unit))
    assert [year for year, _ in before] == [2024, 2026]  # windows 2023-24 and 2025-26

    # The same envelopes again (a replay of the stream) and the same facts under new event ids.
    for envelope in sent:
        await awards.bus.send(envelope, msg_id=f"replay-{envelope.id}")
    for year in (2023, 2024, 2025, 2026):
        await awards.bus.publish(certified(unit, year))
    await drained(awards.service)

    after = sorted((a["year"], a["award_id"]) for a in await _awards_of(awards, unit))
    assert after == before
    proposed = [e for e in await awards.bus.events(type_suffix="AwardProposed.v1")
                if e["data"]["recipient_ref"] == unit]
    assert len(proposed) == 2


async def test_out_of_order_events_converge_to_the_same_proposals(awards: Awards) -> None:
    # In order: registered, 2024, 2025. Out of order: recognitions first, newest first, the unit last.
    in_order, shuffled = _uid(), _uid()
    await awards.bus.publish(registered(in_order, "01.00004"))
    await awards.bus.publish(certified(in_order, 2024))
    await awards.bus.publish(certified(in_order, 2025))
    await awards.bus.publish(certified(shuffled, 2025))
    await awards.bus.publish(certified(shuffled, 2024))
    await drained(awards.service)
    assert await _awards_of(awards, shuffled) == []  # the unit's area is not known yet: nothing proposed
    await awards.bus.publish(registered(shuffled, "01.00004"))
    await drained(awards.service)

    def shape(items: list[dict]) -> list[tuple]:
        return [(a["award_type"], a["year"], a["level"], len(a["basis"])) for a in items]

    assert shape(await _awards_of(awards, in_order)) == shape(await _awards_of(awards, shuffled)) == [
        ("giay_khen", 2025, "commune", 2)]


async def test_a_revocation_seen_before_its_recognition_still_breaks_the_run(awards: Awards) -> None:
    unit = _uid()
    await awards.bus.publish(registered(unit, "01.00004"))
    await awards.bus.publish(revoked(unit, 2024))
    await awards.bus.publish(certified(unit, 2023))
    await awards.bus.publish(certified(unit, 2024))
    await drained(awards.service)
    assert await _awards_of(awards, unit) == []
    r = await awards.http.get(f"/units/{unit}/certifications", headers=awards.token("officer", area="01"))
    assert [(c["year"], c["certified"], c["revoked"]) for c in r.json()] == [(2023, True, False), (2024, True, True)]

    await awards.bus.publish(certified(unit, 2025))
    await awards.bus.publish(certified(unit, 2026))
    items = await eventually(lambda: _awards_of(awards, unit), what="a proposal after the broken run")
    assert [a["year"] for a in items] == [2026]


async def test_a_province_overlay_changes_the_threshold_without_code(awards: Awards) -> None:
    hanoi, hcmc = _uid(), _uid()
    for unit, area in ((hanoi, "01.00004"), (hcmc, "79.26743")):
        await awards.bus.publish(registered(unit, area))
        await awards.bus.publish(certified(unit, 2024))
        await awards.bus.publish(certified(unit, 2025))
    await eventually(lambda: _awards_of(awards, hanoi), what="the national two-year proposal")
    await drained(awards.service)
    assert await _awards_of(awards, hcmc) == []  # province 79 asks for three years
    await awards.bus.publish(certified(hcmc, 2026))
    items = await eventually(lambda: _awards_of(awards, hcmc), what="the three-year proposal in 79")
    assert [(a["award_type"], a["year"], a["rule_version"]) for a in items] == [
        ("giay_khen", 2026, "national-2024.1+79-2025.1")]

    rules = await awards.http.get("/rules", params={"province": "79"})
    assert rules.status_code == 200
    assert rules.json()["award_types"]["giay_khen"]["collective"]["consecutive_years"] == 3
    national = (await awards.http.get("/rules")).json()
    assert national["award_types"]["giay_khen"]["collective"]["consecutive_years"] == 2


async def test_approving_the_prior_award_makes_the_next_one_owed(awards: Awards) -> None:
    unit = _uid()
    await awards.bus.publish(registered(unit, "01.00004"))
    for year in (2023, 2024, 2025):
        await awards.bus.publish(certified(unit, year))
    await drained(awards.service)
    items = await _awards_of(awards, unit)
    assert [(a["award_type"], a["year"]) for a in items] == [("giay_khen", 2024)]
    # Bằng khen of the province needs three years and a Giấy khen held before the window's last year.
    admin = awards.token("admin")
    award_id = items[0]["award_id"]
    assert (await awards.http.post(f"/awards/{award_id}/review", headers=admin)).status_code == 200
    r = await awards.http.post(f"/awards/{award_id}/approve", json={"decision_no": "12/QĐ-UBND"}, headers=admin)
    assert r.status_code == 200, r.text
    items = await _awards_of(awards, unit)
    assert sorted((a["award_type"], a["year"], a["status"]) for a in items) == [
        ("bang_khen_province", 2025, "proposed"), ("giay_khen", 2024, "approved")]
    bang_khen = next(a for a in items if a["award_type"] == "bang_khen_province")
    assert len(bang_khen["basis"]) == 3 and bang_khen["level"] == "province"
