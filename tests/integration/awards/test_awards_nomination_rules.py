"""A manual collective nomination is held to the award rule in force: refused with what it misses, or, where the
rule allows exceptions, proposed as one with the nominator's justification for the approver to see."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from services.awards import handlers
from services.awards.domain import RuleSet
from tests.integration.awards.awards_helpers import Awards, drained, qualify, registered

AREA = "01.00004"


async def _unit(awards: Awards, *, recognised: tuple[int, int] | None = None) -> str:
    unit = f"u-{uuid.uuid4().hex[:8]}"
    await awards.bus.publish(registered(unit, AREA))
    if recognised is not None:
        await qualify(awards.bus, unit, *recognised)
    await drained(awards.service)
    return unit


def _body(unit: str, award_type: str = "giay_khen", **extra: Any) -> dict[str, Any]:
    return {"award_type": award_type, "recipient_kind": "unit", "recipient_ref": unit, "year": 2026,
            "proposer": "police", **extra}


async def test_a_collective_nomination_that_misses_the_rule_is_refused_with_the_unmet_conditions(
        awards: Awards) -> None:
    officer = awards.token("officer", area="01")
    never = await _unit(awards)
    r = await awards.http.post("/awards", json=_body(never, "bang_khen_province"), headers=officer)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "rule_not_met"
    assert error["details"]["conditions"] == [
        {"condition": "consecutive_years", "required": 3, "actual": 0, "ending": 2026},
        {"condition": "requires_prior", "award_type": "giay_khen"}]
    # Three recognised years, but no Giấy khen held before: still refused, for that alone.
    recognised = await _unit(awards, recognised=(2024, 2026))
    r = await awards.http.post("/awards", json=_body(recognised, "bang_khen_province"), headers=officer)
    assert r.status_code == 422 and r.json()["error"]["details"]["conditions"] == [
        {"condition": "requires_prior", "award_type": "giay_khen"}], r.text
    # A justification does not help where the rule allows no exception.
    r = await awards.http.post("/awards", json=_body(never, justification="flood rescue"), headers=officer)
    assert r.status_code == 422 and r.json()["error"]["code"] == "rule_not_met"
    # The Giấy khen's two years are met for 2026 (the rules owe the 2025 one themselves): proposed as usual.
    r = await awards.http.post("/awards", json=_body(recognised), headers=officer)
    assert r.status_code == 201, r.text
    assert "exception" not in (r.json()["nomination"] or {})


async def test_where_the_rule_allows_exceptions_the_nomination_carries_the_justification_to_the_approver(
        awards: Awards, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = handlers._rules

    def lenient(province: str | None, now: datetime) -> RuleSet:
        rules: RuleSet = shipped(province, now)
        bang_khen = rules.award_types["bang_khen_province"]
        assert bang_khen.collective is not None
        allowing = bang_khen.model_copy(update={"collective": bang_khen.collective.model_copy(
            update={"allows_exception": True})})
        return rules.model_copy(update={"award_types": {**rules.award_types, "bang_khen_province": allowing}})

    monkeypatch.setattr(handlers, "_rules", lenient)
    officer = awards.token("officer", area="01")
    unit = await _unit(awards)
    r = await awards.http.post("/awards", json=_body(unit, "bang_khen_province"), headers=officer)
    assert r.status_code == 422 and r.json()["error"]["code"] == "justification_required", r.text
    assert [c["condition"] for c in r.json()["error"]["details"]["conditions"]] == [
        "consecutive_years", "requires_prior"]

    why = "Đơn vị phát hiện, ngăn chặn vụ cháy kho năm 2026"
    r = await awards.http.post("/awards", json=_body(unit, "bang_khen_province", justification=why),
                               headers=officer)
    assert r.status_code == 201, r.text
    award_id = r.json()["award_id"]
    leader = awards.token("leader", level="province", area="01")
    detail = (await awards.http.get(f"/awards/{award_id}", headers=leader)).json()
    exception = detail["nomination"]["exception"]
    assert exception["justification"] == why
    assert [c["condition"] for c in exception["unmet"]] == ["consecutive_years", "requires_prior"]
    assert detail["audit"][0]["details"]["exception"] == exception
