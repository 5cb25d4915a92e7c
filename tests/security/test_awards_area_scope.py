"""Awards stay in their province: an award's area is its recipient's as the units events tell it, never the
caller's claim; decisions re-check the recipient's area; leaders decide in their area at their level.

Each path is driven with officer, leader and unit tokens against a running awards service (real NATS, SQLite).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from joserfc import jwt
from typer.testing import CliRunner

from services.cli import app as antq_cli
from shared.contracts.events import UnitUpdated
from shared.errors import Unauthorized
from shared.settings import Settings
from tests.integration.awards.awards_helpers import Awards, awards_running, drained, qualify, registered

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

HOME, ELSEWHERE = "79.26743", "80.25480"  # the unit's commune, in province 79; a commune of province 80


@pytest.fixture
async def awards(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
                 namespace: str) -> AsyncIterator[Awards]:
    async with awards_running(settings_factory(awards_database_url=database_url("awards")), nats_url,
                              namespace) as world:
        yield world


async def _unit(awards: Awards, area: str = HOME) -> str:
    """A unit the service knows, recognised every year since 2020: a manual Giấy khen meets the rule from 2021
    on; the rules owe one for 2021, 2023 and 2025 themselves (so the manual ones here are for other years)."""
    unit_id = f"u-{uuid.uuid4().hex[:8]}"
    await awards.bus.publish(registered(unit_id, area))
    await qualify(awards.bus, unit_id, 2020, 2026)
    await drained(awards.service)
    return unit_id


def _body(unit_id: str, **overrides: Any) -> dict[str, Any]:
    return {"award_type": "giay_khen", "recipient_kind": "unit", "recipient_ref": unit_id, "year": 2026, **overrides}


def _person(**overrides: Any) -> dict[str, Any]:
    return {"award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": f"staff-{uuid.uuid4().hex[:8]}",
            "year": 2026, "area_code": HOME, **overrides}


async def _post(awards: Awards, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> tuple[int, str]:
    r = await awards.http.post(path, json=body, headers=headers)
    code = r.json().get("error", {}).get("code", "") if r.status_code >= 400 else ""
    return r.status_code, code


# --- nomination ------------------------------------------------------------------------------------------------------
async def test_a_unit_award_takes_the_units_known_area_not_the_one_the_caller_claims(awards: Awards) -> None:
    unit = await _unit(awards, ELSEWHERE)  # a unit of province 80
    # The attack: an officer of 79 claims area 79 for province 80's unit.
    assert await _post(awards, "/awards", _body(unit, area_code="79"), awards.token("officer", area="79")) == (
        403, "forbidden_scope")
    assert await _post(awards, "/awards", _body(unit), awards.token("officer", area="79")) == (403, "forbidden_scope")
    # Whoever may nominate there still may not choose another area; repeating the unit's own is accepted.
    for headers in (awards.token("officer", area="80"), awards.token("officer"), awards.token("admin")):
        assert await _post(awards, "/awards", _body(unit, area_code="79"), headers) == (422, "area_mismatch")
    r = await awards.http.post("/awards", json=_body(unit, area_code=ELSEWHERE), headers=awards.token("officer",
                                                                                                   area="80"))
    assert r.status_code == 201, r.text
    assert (r.json()["area_code"], r.json()["province_code"]) == (ELSEWHERE, "80")
    r = await awards.http.post("/awards", json=_body(unit, year=2022), headers=awards.token("officer", area="80"))
    assert r.status_code == 201 and r.json()["area_code"] == ELSEWHERE
    # A unit's own token: the same rule.
    own = awards.token("unit", unit=unit)
    assert await _post(awards, "/awards", _body(unit, year=2024, area_code="79"), own) == (422, "area_mismatch")
    # A leader does not nominate.
    assert await _post(awards, "/awards", _body(unit, year=2024),
                       awards.token("leader", level="province", area="80")) == (403, "forbidden_role")


async def test_a_proposal_for_a_unit_the_service_does_not_know_yet_is_refused(awards: Awards) -> None:
    stranger = f"u-{uuid.uuid4().hex[:8]}"
    for headers in (awards.token("officer", area="79"), awards.token("officer"), awards.token("admin"),
                    awards.token("unit", unit=stranger)):
        assert await _post(awards, "/awards", _body(stranger, area_code="79"), headers) == (422, "unit_not_known")
        assert await _post(awards, "/awards", _body(stranger), headers) == (422, "unit_not_known")
    assert await _post(awards, "/awards", _body(stranger, area_code="79"),
                       awards.token("leader", level="province", area="79")) == (403, "forbidden_role")


async def test_a_person_recipient_must_lie_in_the_nominators_area(awards: Awards) -> None:
    officer = awards.token("officer", area="79")
    assert await _post(awards, "/awards", _person(area_code=ELSEWHERE), officer) == (403, "forbidden_scope")
    assert await _post(awards, "/awards", _person(area_code="80"), officer) == (403, "forbidden_scope")
    assert await _post(awards, "/awards", _person(area_code=None), officer) == (422, "area_code_required")
    assert (await _post(awards, "/awards", _person(), officer))[0] == 201
    unit = await _unit(awards)
    assert await _post(awards, "/awards", _person(), awards.token("unit", unit=unit)) == (403, "forbidden_scope")
    assert await _post(awards, "/awards", _person(), awards.token("leader", level="province", area="79")) == (
        403, "forbidden_role")


# --- decisions -------------------------------------------------------------------------------------------------------
async def test_decisions_recheck_the_recipients_area_now(awards: Awards) -> None:
    unit = await _unit(awards)
    officer_79, leader_79 = awards.token("officer", area="79"), awards.token("leader", level="province", area="79")
    officer_80, leader_80 = awards.token("officer", area="80"), awards.token("leader", level="province", area="80")
    own = awards.token("unit", unit=unit)
    r = await awards.http.post("/awards", json=_body(unit), headers=officer_79)
    assert r.status_code == 201, r.text
    award_id = r.json()["award_id"]
    # The unit moves to province 80: the award keeps the area it was proposed in, its recipient is elsewhere now.
    await awards.bus.publish(UnitUpdated(unit_id=unit, changed={"area_code": ELSEWHERE}))
    await drained(awards.service)

    approve = {"decision_no": "12/QĐ"}
    for action, body in (("review", None), ("approve", approve), ("reject", {"reason": "x"})):
        for headers in (officer_79, leader_79, officer_80, leader_80):
            assert await _post(awards, f"/awards/{award_id}/{action}", body, headers) == (403, "forbidden_scope"), \
                action
        assert await _post(awards, f"/awards/{award_id}/{action}", body, own) == (403, "forbidden_role"), action
    national = awards.token("officer")
    assert (await _post(awards, f"/awards/{award_id}/approve", approve, national))[0] == 200

    for headers in (officer_79, leader_79, officer_80, leader_80):
        assert await _post(awards, f"/awards/{award_id}/grant", None, headers) == (403, "forbidden_scope")
    assert await _post(awards, f"/awards/{award_id}/grant", None, own) == (403, "forbidden_role")
    assert (await _post(awards, f"/awards/{award_id}/grant", None, national))[0] == 200

    for headers in (officer_79, leader_79, officer_80, leader_80):
        assert await _post(awards, f"/awards/{award_id}/annul", {"reason": "x"}, headers) == (403, "forbidden_scope")
    assert await _post(awards, f"/awards/{award_id}/annul", {"reason": "x"}, own) == (403, "forbidden_role")
    assert (await _post(awards, f"/awards/{award_id}/annul", {"reason": "gian dối"}, national))[0] == 200


async def test_a_leader_decides_awards_of_its_area_at_its_level(awards: Awards) -> None:
    unit, other = await _unit(awards), await _unit(awards, ELSEWHERE)
    officer = awards.token("officer")
    mine = (await awards.http.post("/awards", json=_body(unit), headers=officer)).json()["award_id"]
    theirs = (await awards.http.post("/awards", json=_body(other), headers=officer)).json()["award_id"]
    leader = awards.token("leader", level="province", area="79", sub="chu-tich-79")

    listed = (await awards.http.get("/awards", headers=leader)).json()["items"]
    assert [a["award_id"] for a in listed if a["origin"] == "nomination"] == [mine]
    assert (await awards.http.get(f"/awards/{theirs}", headers=leader)).status_code == 403
    assert (await _post(awards, f"/awards/{theirs}/approve", {"decision_no": "1"}, leader)) == (403, "forbidden_scope")
    r = await awards.http.post(f"/awards/{mine}/approve", json={"decision_no": "5/QĐ-UBND"}, headers=leader)
    assert r.status_code == 200, r.text
    assert r.json()["audit"][-1]["actor"] == "chu-tich-79" and r.json()["audit"][-1]["role"] == "leader"
    assert (await _post(awards, f"/awards/{mine}/grant", None, leader))[0] == 200
    assert (await _post(awards, f"/awards/{mine}/annul", {"reason": "gian dối"}, leader))[0] == 200

    # Level: a commune's leader does not decide the province's award, nor the provincial police the committee's.
    provincial = (await awards.http.post("/awards", json=_person(award_type="bang_khen_province", year=2025),
                                         headers=officer)).json()
    assert provincial["level"] == "province"
    for headers in (awards.token("leader", level="commune", area=HOME),
                    awards.token("leader", level="police_unit", area="79")):
        assert await _post(awards, f"/awards/{provincial['award_id']}/approve", {"decision_no": "2"}, headers) == (
            403, "forbidden_level")
    assert (await _post(awards, f"/awards/{provincial['award_id']}/approve", {"decision_no": "2"}, leader))[0] == 200


async def test_a_leader_token_names_a_level_that_fits_its_area(awards: Awards) -> None:
    tokens = awards.service.tokens
    for kw in ({}, {"level": "mayor", "area": "79"}, {"level": "province"}, {"level": "commune", "area": "79"},
               {"level": "province", "area": HOME}, {"level": "ministry", "area": "79"}):
        with pytest.raises(ValueError):
            tokens.issue(role="leader", **kw)
    with pytest.raises(ValueError):
        tokens.issue(role="officer", area="79", level="province")
    principal = tokens.verify(tokens.issue(role="leader", level="commune", area=HOME))
    assert (principal.role, principal.level, principal.area) == ("leader", "commune", HOME)
    # A token signed with the right key but whose claims do not fit its role is refused all the same.
    key = tokens.local.key
    claims = {"iss": "antq", "sub": "x", "role": "leader", "area": "79", "exp": 2**40, "jti": "j"}
    unfit = jwt.encode({"alg": "Ed25519", "kid": key.thumbprint()}, claims, key, algorithms=["Ed25519"])
    with pytest.raises(Unauthorized):
        tokens.verify(unfit)

    data_dir = str(awards.service.settings.data_dir)
    out = CliRunner().invoke(antq_cli, ["token", "--data-dir", data_dir, "--role", "leader", "--level", "province",
                                        "--area", "79"])
    assert out.exit_code == 0, out.output
    assert awards.service.tokens.verify(out.output.strip()).level == "province"
    out = CliRunner().invoke(antq_cli, ["token", "--data-dir", data_dir, "--role", "leader", "--area", "79"])
    assert out.exit_code == 2 and "level" in out.output
