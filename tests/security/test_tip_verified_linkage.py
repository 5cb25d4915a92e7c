"""What `TipVerified` links and where that link stops: the document says what the code does.

`TipVerified` carries the tip id and, for a valuable tip, the reward reference, so a reward is linked to its tip
by design (docs/security.md §3, "Rewards"). The claimant is not: a claim answers the reward's status only, and
notify's texts never print the reference.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from services.notify.domain import render
from services.notify.domain.templates import TEMPLATED_CHANNELS
from shared.contracts.envelope import new_event
from shared.contracts.events import TipVerified
from shared.rewards import reward_ref_for_receipt
from shared.settings import Settings
from tests.integration.awards.awards_helpers import Awards, awards_running, drained, tip_received, tip_verified

SECURITY_MD = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _rewards_section() -> str:
    text = SECURITY_MD.read_text(encoding="utf-8")
    section = text[text.index("## 3. Reporter identity secrecy"):text.index("## 4.")]
    return " ".join(section[section.index("- **Rewards.**"):].split())


def test_the_security_document_says_that_tip_verified_links_a_reward_to_its_tip() -> None:
    rewards = _rewards_section()
    # The event carries both, so the document must not promise that the awards service never sees the tip id.
    assert {"tip_id", "reward_ref"} <= set(TipVerified.model_fields)
    assert not re.search(r"never (sees )?the tip id", rewards), rewards
    for named in ("`tip_id`", "`reward_ref`", "What the link reveals", "POST /rewards/claim",
                  "test_tip_verified_linkage.py"):
        assert named in rewards, named


@pytest.fixture
async def awards(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
                 namespace: str) -> AsyncIterator[Awards]:
    async with awards_running(settings_factory(awards_database_url=database_url("awards")), nats_url,
                              namespace) as world:
        yield world


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_reward_claim_and_certificate_name_no_tip(awards: Awards) -> None:
    tip_id, receipt = str(uuid.uuid4()), "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345"
    await awards.bus.publish(tip_received(tip_id, "79.26743"))
    verification = await awards.bus.publish(tip_verified(tip_id, reward_ref_for_receipt(receipt)))
    await drained(awards.service)
    admin = awards.token("admin")
    [reward] = (await awards.http.get("/awards", params={"recipient_kind": "reporter"}, headers=admin)).json()[
        "items"]
    # The award is linked to its tip through its basis (the TipVerified event): by design, for officers.
    assert reward["basis"] == [verification.id] and reward["recipient_name"] is None
    for action, body in (("approve", {"decision_no": "9/QĐ-CAT"}), ("grant", None)):
        assert (await awards.http.post(f"/awards/{reward['award_id']}/{action}", json=body, headers=admin)
                ).status_code == 200

    claim = await awards.http.post("/rewards/claim", json={"receipt": receipt})
    assert claim.status_code == 200 and claim.json()["reward_status"] == "granted"
    assert set(claim.json()) == {"reward_status", "award_type", "year", "decision_no", "certificate_id",
                                 "updated_at"}
    for secret in (tip_id, "79.26743", verification.id, reward["award_id"]):
        assert secret not in claim.text
    certificate = await awards.http.get(f"/certificates/{claim.json()['certificate_id']}")
    assert certificate.status_code == 200 and tip_id not in certificate.text


def test_notify_texts_never_print_the_reward_ref() -> None:
    ref = reward_ref_for_receipt("ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345")
    event = new_event(TipVerified(tip_id="T1", valuable=True, outcome="prosecuted", reward_ref=ref),
                      source="antq/tips").model_dump(mode="json")
    for channel in TEMPLATED_CHANNELS:
        for lang in ("vi", "en"):
            rendered = render(TipVerified.TYPE, channel, lang, event)  # type: ignore[arg-type]
            assert ref not in f"{rendered.subject} {rendered.text} {rendered.html}", (channel, lang)
