"""Approval notices reach the leaders who decide them: every award type of the catalogue, at every level it can be
proposed at, lands in the inbox of a leader of the level approvers.yaml names, for the award's area only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from services.awards.domain import rules_in_force
from services.notify.app import build
from services.notify.domain.routing import default_approvers
from shared.contracts.events import AwardProposed
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import Clock, Publisher, inbox, tip

AREA = "79.26743"


def _proposals() -> list[AwardProposed]:
    """One proposal per (award type, level it may be proposed at) of the national catalogue."""
    rules = rules_in_force(None, date(2026, 1, 1))
    return [AwardProposed(award_id=f"A-{code}-{level}", award_type=code, recipient_kind=award_type.recipient_kinds[0],
                          recipient_ref=f"R-{code}", year=2026, basis=[], level=level, area_code=AREA)
            for code, award_type in sorted(rules.award_types.items())
            for level in sorted(set(award_type.approving_levels) | set(award_type.level_by_certifier.values()))]


async def test_every_award_types_approval_notice_reaches_a_leader_of_its_level(
        notify_settings: Callable[..., Settings], bus: Publisher, clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        leaders = {
            "commune": notify.tokens.issue(role="leader", level="commune", area=AREA, sub="chu-tich-xa"),
            "police_unit": notify.tokens.issue(role="leader", level="police_unit", area="79", sub="giam-doc-ca"),
            "province": notify.tokens.issue(role="leader", level="province", area="79", sub="chu-tich-tinh"),
            "ministry": notify.tokens.issue(role="leader", level="ministry", sub="bo-truong"),
        }
        elsewhere = notify.tokens.issue(role="leader", level="province", area="01", sub="chu-tich-01")
        proposals = _proposals()
        assert {p.award_type for p in proposals} >= {"giay_khen", "bang_khen_province", "bang_khen_mps",
                                                     "ky_niem_chuong", "tip_reward"}
        await bus.publish(tip("T-1", AREA))  # tips are the officers' business, never a leader's
        sent = {p.award_id: (await bus.publish(p)).id for p in proposals}

        approvers = default_approvers()
        expected = {level: {sent[p.award_id] for p in proposals if approvers.levels[p.level].leader == level}
                    for level in leaders}
        assert all(expected.values()), expected  # every leader level decides something
        assert set().union(*expected.values()) == set(sent.values())  # and every proposal reaches some leader

        for level, token in leaders.items():
            async def arrived(token: str = token, level: str = level) -> bool:
                return len(await inbox(http, token, limit=100)) >= len(expected[level])

            await eventually(arrived, what=f"the {level} leader's approval notices")
            items = await inbox(http, token, limit=100)
            assert {i["cause_event_id"] for i in items} == expected[level], level
            assert len(items) == len(expected[level]), level
        assert await inbox(http, elsewhere) == []
        # A leader marks a notice read in their own inbox.
        first = (await inbox(http, leaders["province"]))[0]
        r = await http.post(f"/inbox/{first['notification_id']}/read",
                            headers={"Authorization": f"Bearer {leaders['province']}"})
        assert r.status_code in (200, 204), r.text
