"""Notify: a tip with no area reaches the intake desk's officers (inbox and e-mail), not nobody."""

from __future__ import annotations

from collections.abc import Callable

from services.notify.app import build
from shared.contracts.events import TipReceived
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import Clock, Mail, Publisher, inbox, prefs, tip

OFFICERS = {"p79": "79", "p01": "01", "c26743": "79.26743"}


async def _deliver_unplaced_tip(notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock,
                                **overrides: object) -> tuple[dict[str, list[str]], list[str]]:
    """Publish an urgent tip with no area; return who has it in their inbox and who was e-mailed of it."""
    notify = build(notify_settings(**overrides))
    notify.clock = clock
    async with running(notify) as http:
        tokens = {sub: notify.tokens.issue(role="officer", area=area, sub=sub) for sub, area in OFFICERS.items()}
        for sub, token in tokens.items():
            await prefs(http, token, email=f"{sub}@police.example")
        await bus.publish(tip("T-nowhere", None, priority="urgent"))
        # Events are routed in stream order: once this one is in the province's inbox, the first was routed too.
        await bus.publish(tip("T-sentinel", "79.26743"))

        async def routed() -> bool:
            return any(i["link"].endswith("/tips/T-sentinel") for i in await inbox(http, tokens["p79"]))

        await eventually(routed, what="both tips routed")
        seen = {sub: [i["body"] for i in await inbox(http, token)  # notices link the tip; their text names it
                      if i["event_type"] == TipReceived.TYPE and i["link"].endswith("/tips/T-nowhere")]
                for sub, token in tokens.items()}

        async def mailed() -> list[str]:
            return sorted(sub for sub in OFFICERS if mail.server.to(f"{sub}@police.example"))

        expected = sorted(sub for sub, bodies in seen.items() if bodies)
        return seen, await eventually(lambda: _equal(mailed, expected), what="urgent mail to the desk")


async def _equal(get: Callable, expected: list[str]) -> list[str]:  # type: ignore[type-arg]
    found = await get()
    return found if found == expected else []


async def test_a_tip_without_an_area_reaches_the_province_officers_by_default(
        notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock) -> None:
    seen, mailed = await _deliver_unplaced_tip(notify_settings, bus, mail, clock)
    assert sorted(sub for sub, bodies in seen.items() if bodies) == ["p01", "p79"]
    assert mailed == ["p01", "p79"]


async def test_a_tip_without_an_area_reaches_the_configured_intake_desk(
        notify_settings: Callable[..., Settings], bus: Publisher, mail: Mail, clock: Clock) -> None:
    seen, mailed = await _deliver_unplaced_tip(notify_settings, bus, mail, clock,
                                               tips_intake_desk_area="79.26743")
    assert sorted(sub for sub, bodies in seen.items() if bodies) == ["c26743", "p79"]
    assert mailed == ["c26743", "p79"]
