"""Tip rewards: valuable tips owe their anonymous reporter a proposal, claimed with the receipt only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.rewards import reward_ref_for_receipt
from shared.testing import eventually
from tests.integration.awards.awards_helpers import Awards, drained, tip_received, tip_verified


def _receipt() -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    symbols = "".join(alphabet[b % 32] for b in uuid.uuid4().bytes + uuid.uuid4().bytes[:12])
    return "-".join(symbols[i:i + 4] for i in range(0, 28, 4))


async def _claim(awards: Awards, receipt: str) -> tuple[int, dict]:
    r = await awards.http.post("/rewards/claim", json={"receipt": receipt})
    return r.status_code, r.json()


async def test_a_valuable_anonymous_tip_gets_a_reward_its_reporter_can_follow(awards: Awards) -> None:
    receipt, tip_id = _receipt(), str(uuid.uuid4())
    await awards.bus.publish(tip_received(tip_id, "01.00004"))
    verification = await awards.bus.publish(tip_verified(tip_id, reward_ref_for_receipt(receipt)))
    admin = awards.token("admin")

    async def rewards() -> list[dict]:
        r = await awards.http.get("/awards", params={"recipient_kind": "reporter"}, headers=admin)
        return [a for a in r.json()["items"] if a["basis"] == [verification.id]]

    award = (await eventually(rewards, what="the reward proposal"))[0]
    assert (award["award_type"], award["area_code"], award["level"]) == ("tip_reward", "01.00004", "police_unit")
    assert award["recipient_ref"] == reward_ref_for_receipt(receipt) and award["recipient_name"] is None
    # The approver's dossier: the verification the reward rests on, not the tip itself.
    detail = (await awards.http.get(f"/awards/{award['award_id']}", headers=admin)).json()
    assert detail["tip_outcome"]["outcome"] == "prosecuted" and detail["tip_outcome"]["valuable"] is True
    assert tip_id not in str(detail)

    status, body = await _claim(awards, receipt)
    assert status == 200 and body["reward_status"] == "proposed" and body["award_type"] == "tip_reward"
    assert "tip_id" not in body and tip_id not in str(body)
    # Retyped by hand: lower case, no hyphens, O for 0 and I for 1 still find it.
    retyped = receipt.replace("-", "").lower().replace("0", "o").replace("1", "i")
    assert (await _claim(awards, retyped))[1]["reward_status"] == "proposed"

    for action, payload in (("review", None), ("approve", {"decision_no": "20/QĐ-CAT"}), ("grant", None)):
        assert (await awards.http.post(f"/awards/{award['award_id']}/{action}", json=payload,
                                       headers=admin)).status_code == 200
    status, body = await _claim(awards, receipt)
    assert body["reward_status"] == "granted" and body["decision_no"] == "20/QĐ-CAT" and body["certificate_id"]
    cert = (await awards.http.get(f"/certificates/{body['certificate_id']}")).json()
    assert "name" not in cert["credential"]["credentialSubject"]  # a reporter is never named


async def test_an_unknown_receipt_gets_a_neutral_404_and_claims_are_rate_limited(awards: Awards) -> None:
    status, body = await _claim(awards, _receipt())
    assert status == 404 and body["error"]["message"] == "no reward is known for this receipt"
    assert (await _claim(awards, "???"))[0] == 404  # not even a receipt: the same neutral answer
    statuses = [(await _claim(awards, _receipt()))[0] for _ in range(8)]
    assert 429 in statuses
    r = await awards.http.post("/rewards/claim", json={"receipt": _receipt()})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


async def test_tips_that_owe_no_reward_propose_nothing_and_a_late_area_is_filled_in(awards: Awards) -> None:
    unvaluable, identified, dismissed = (str(uuid.uuid4()) for _ in range(3))
    await awards.bus.publish(tip_received(unvaluable, "01.00004"))
    await awards.bus.publish(tip_verified(unvaluable, None, valuable=False, outcome="unfounded"))
    await awards.bus.publish(tip_verified(identified, None))  # without a reward_ref: nothing to claim
    not_rewarded = _receipt()
    await awards.bus.publish(tip_verified(dismissed, reward_ref_for_receipt(not_rewarded), outcome="duplicate"))
    await drained(awards.service)
    admin = awards.token("admin")
    assert (await awards.http.get("/awards", headers=admin)).json()["items"] == []
    assert (await _claim(awards, not_rewarded))[1]["reward_status"] == "not_eligible"

    # Verified before received (out of order): proposed at once, its area learnt when TipReceived arrives.
    late, receipt = str(uuid.uuid4()), _receipt()
    await awards.bus.publish(tip_verified(late, reward_ref_for_receipt(receipt)))
    await awards.bus.publish(tip_verified(late, reward_ref_for_receipt(receipt)))  # redelivered verification
    await drained(awards.service)
    items = (await awards.http.get("/awards", headers=admin)).json()["items"]
    assert [(a["award_type"], a["area_code"]) for a in items] == [("tip_reward", None)]
    await awards.bus.publish(tip_received(late, "79.26743"))
    await drained(awards.service)
    items = (await awards.http.get("/awards", headers=awards.token("officer", area="79"))).json()["items"]
    assert [(a["award_type"], a["area_code"], a["province_code"]) for a in items] == [
        ("tip_reward", "79.26743", "79")]


async def test_a_tip_verified_early_on_new_year_day_in_vietnam_is_rewarded_for_the_new_year(awards: Awards) -> None:
    # 00:30 on 1 January 2025 in Vietnam is 17:30 on 31 December 2024 in UTC. The reward belongs to 2025, under
    # the rules in force in Vietnam that day (province 79's overlay takes effect on 1 January 2025).
    instant = datetime(2024, 12, 31, 17, 30, tzinfo=UTC)
    awards.service.clock = lambda: instant
    receipt, tip_id = _receipt(), str(uuid.uuid4())
    await awards.bus.publish(tip_received(tip_id, "79.26743"), time=instant)
    verification = await awards.bus.publish(tip_verified(tip_id, reward_ref_for_receipt(receipt)), time=instant)
    admin = awards.token("admin")

    async def rewards() -> list[dict]:
        r = await awards.http.get("/awards", params={"recipient_kind": "reporter"}, headers=admin)
        return [a for a in r.json()["items"] if a["basis"] == [verification.id]]

    award = (await eventually(rewards, what="the reward proposal"))[0]
    assert (award["year"], award["rule_version"]) == (2025, "national-2024.1+79-2025.1")
    assert (await _claim(awards, receipt))[1]["year"] == 2025
    rules = (await awards.http.get("/rules", params={"province": "79"})).json()  # "today" is 1 January in Vietnam
    assert rules["version"] == "national-2024.1+79-2025.1"
