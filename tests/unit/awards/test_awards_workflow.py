"""The approval workflow: every transition allowed or refused, quotas at approval, audit, annulment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.awards.domain import (
    TRANSITIONS,
    Award,
    RuleSet,
    Step,
    annul,
    approve,
    grant,
    propose,
    reject,
    restore_on_recognition,
    review,
    withdraw_on_revocation,
)
from services.awards.domain.evaluation import Proposal, proposal_key
from shared.contracts.events import (
    AwardAnnulled,
    AwardApproved,
    AwardGranted,
    AwardProposed,
    AwardRejected,
    AwardRestored,
)
from shared.errors import Conflict, Forbidden, IllegalTransition, Invalid

from .awards_builders import NOW, make_award

STATUSES = ["proposed", "reviewed", "approved", "rejected", "granted", "annulled"]
ACTIONS = ["review", "approve", "reject", "grant", "annul"]


def _do(action: str, award: Award, rules: RuleSet) -> Step:
    later = NOW + timedelta(days=1)
    if action == "review":
        return review(award, actor="officer", now=later)
    if action == "approve":
        return approve(award, rules, decision_no="QD-9", actor="chair", now=later, existing=[])
    if action == "reject":
        return reject(award, reason="not enough evidence", actor="officer", now=later)
    if action == "grant":
        return grant(award, certificate_id="c-9", actor="officer", now=later)
    return annul(award, reason="fraud", actor="chair", now=later)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_transition_is_allowed_or_refused_by_the_table(national: RuleSet, status: str, action: str) -> None:
    award = make_award(national, status=status)
    expected = TRANSITIONS[status].get(action)
    if expected is None:
        with pytest.raises(IllegalTransition) as raised:
            _do(action, award, national)
        assert raised.value.state == status
        assert raised.value.allowed == sorted(TRANSITIONS[status])
        assert raised.value.details["allowed"] == sorted(TRANSITIONS[status])
    else:
        step = _do(action, award, national)
        assert step.award.status == expected
        # One revision and one audit entry per step taken (an approval of a proposal passes through `reviewed`).
        assert step.award.revision == award.revision + len(step.path)
        assert (step.path[0].audit.from_status, step.audit.to_status, step.audit.action) == (status, expected, action)
        assert [s.audit.to_status for s in step.path[:-1]] == [s.audit.from_status for s in step.path[1:]]


def test_the_happy_path_emits_the_catalogue_events_and_audits_each_step(national: RuleSet) -> None:
    proposal = Proposal(key=proposal_key("giay_khen", "unit", "u-1", 2024), award_type="giay_khen",
                        recipient_kind="unit", recipient_ref="u-1", year=2024, basis=("e1", "e2"), level="commune",
                        area_code="26743", province_code="01", rule_version=national.version)
    proposed = propose(proposal, national, actor="system", now=NOW)
    assert proposed.award.award_id == proposal.award_id
    assert proposed.events == (AwardProposed(award_id=proposal.award_id, award_type="giay_khen", recipient_kind="unit",
                                             recipient_ref="u-1", year=2024, basis=["e1", "e2"], level="commune",
                                             area_code=proposal.area_code),)
    assert proposed.audit.actor == "system" and proposed.audit.at == NOW
    reviewed = review(proposed.award, actor="officer-1", now=NOW, note="dossier complete")
    assert reviewed.events == () and reviewed.audit.note == "dossier complete"
    approved = approve(reviewed.award, national, decision_no=" QD-77/UBND ", actor="chair", now=NOW, existing=[])
    assert approved.events == (AwardApproved(award_id=proposal.award_id, decision_no="QD-77/UBND",
                                             approved_by_level="commune"),)
    assert approved.award.decision_no == "QD-77/UBND" and approved.award.approved_at == NOW
    granted = grant(approved.award, certificate_id="cert-1", actor="officer-1", now=NOW)
    assert granted.events == (AwardGranted(award_id=proposal.award_id, certificate_id="cert-1"),)
    assert granted.award.certificate_id == "cert-1" and granted.award.status == "granted"


def test_review_deadline_comes_from_the_rules_of_the_level(national: RuleSet, hcmc: RuleSet) -> None:
    assert make_award(national).review_due_at == NOW + timedelta(days=15)
    assert make_award(hcmc).review_due_at == NOW + timedelta(days=10)
    award = make_award(national, award_type="bang_khen_province", level="province")
    assert award.review_due_at == NOW + timedelta(days=20)
    assert award.review_overdue(NOW + timedelta(days=21)) and not award.review_overdue(NOW + timedelta(days=19))
    assert not make_award(national, status="approved").review_overdue(NOW + timedelta(days=100))


def test_reject_records_the_reason(national: RuleSet) -> None:
    step = reject(make_award(national), reason="duplicate dossier", actor="officer", now=NOW)
    assert step.award.reason == "duplicate dossier" and step.award.closed_at == NOW
    assert step.events == (AwardRejected(award_id=step.award.award_id, reason="duplicate dossier"),)


@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_and_annul_need_a_reason(national: RuleSet, reason: str) -> None:
    with pytest.raises(Invalid):
        reject(make_award(national), reason=reason, actor="officer", now=NOW)
    with pytest.raises(Invalid):
        annul(make_award(national, status="granted"), reason=reason, actor="chair", now=NOW)


def test_approve_needs_a_decision_number(national: RuleSet) -> None:
    with pytest.raises(Invalid):
        approve(make_award(national, status="reviewed"), national, decision_no=" ", actor="c", now=NOW, existing=[])


def test_approval_at_another_level_is_forbidden(national: RuleSet) -> None:
    with pytest.raises(Forbidden):
        approve(make_award(national, status="reviewed"), national, decision_no="QD", actor="c", now=NOW,
                existing=[], level="province")


@pytest.mark.parametrize("status", ["approved", "granted"])
def test_manual_annulment_for_fraud(national: RuleSet, status: str) -> None:
    step = annul(make_award(national, status=status), reason="forged dossier", actor="chair", now=NOW)
    assert step.award.status == "annulled" and step.award.reason == "forged dossier"
    assert step.events == (AwardAnnulled(award_id=step.award.award_id, reason="forged dossier"),)
    assert step.audit.note == "forged dossier"


# --- quotas --------------------------------------------------------------------------------------------------
def _approved_in(rules: RuleSet, n: int, *, award_type: str, level: str, province: str, area: str,
                 status: str = "approved", year: int = 2024) -> list[Award]:
    return [make_award(rules, status=status, award_type=award_type, level=level, recipient=f"u-{100 + i}",
                       province=province, area=area, year=year) for i in range(n)]


def test_quota_is_enforced_at_approval(national: RuleSet) -> None:
    existing = _approved_in(national, 4, award_type="bang_khen_mps", level="ministry", province="01", area="x")
    existing += _approved_in(national, 1, award_type="bang_khen_mps", level="ministry", province="01", area="y",
                             status="granted")
    candidate = make_award(national, status="reviewed", award_type="bang_khen_mps", level="ministry", province="01")
    with pytest.raises(Conflict) as raised:
        approve(candidate, national, decision_no="QD", actor="minister", now=NOW, existing=existing)
    assert raised.value.code == "quota_exceeded"
    assert raised.value.details == {"award_type": "bang_khen_mps", "year": 2024, "used": 5, "quota": 5}
    assert approve(candidate, national, decision_no="QD", actor="m", now=NOW, existing=existing[:4]).award.status \
        == "approved"


def test_quota_counts_only_approved_and_granted_of_the_same_type_year_and_province(national: RuleSet) -> None:
    others = (
        _approved_in(national, 5, award_type="bang_khen_mps", level="ministry", province="02", area="x")
        + _approved_in(national, 5, award_type="bang_khen_mps", level="ministry", province="01", area="x", year=2023)
        + _approved_in(national, 5, award_type="bang_khen_mps", level="ministry", province="01", area="x",
                       status="annulled")
        + _approved_in(national, 5, award_type="bang_khen_mps", level="ministry", province="01", area="x",
                       status="reviewed")
    )
    candidate = make_award(national, status="reviewed", award_type="bang_khen_mps", level="ministry", province="01")
    assert approve(candidate, national, decision_no="QD", actor="m", now=NOW, existing=others).award.status \
        == "approved"


def test_overlay_quota_by_area_applies(hcmc: RuleSet) -> None:
    full = _approved_in(hcmc, 40, award_type="giay_khen", level="commune", province="79", area="26743")
    in_other_commune = make_award(hcmc, status="reviewed", recipient="u-x", province="79", area="26735")
    assert approve(in_other_commune, hcmc, decision_no="QD", actor="c", now=NOW, existing=full).award.status \
        == "approved"
    same_commune = make_award(hcmc, status="reviewed", recipient="u-y", province="79", area="26743")
    with pytest.raises(Conflict):
        approve(same_commune, hcmc, decision_no="QD", actor="c", now=NOW, existing=full)


def test_unlimited_quota_never_blocks(national: RuleSet) -> None:
    many = _approved_in(national, 60, award_type="giay_khen", level="commune", province="01", area="26743")
    candidate = make_award(national, status="reviewed", recipient="u-new")
    assert approve(candidate, national, decision_no="QD", actor="c", now=NOW, existing=many).award.status == "approved"


# --- annulment on revocation ---------------------------------------------------------------------------------
def test_revocation_annuls_held_awards_and_rejects_pending_ones_resting_on_it(national: RuleSet) -> None:
    granted = make_award(national, status="granted", recipient="u-1", basis=("ev-1", "ev-2"))
    approved = make_award(national, status="approved", recipient="u-2", basis=("ev-2", "ev-3"))
    pending = make_award(national, status="proposed", recipient="u-3", basis=("ev-2",))
    unrelated = make_award(national, status="granted", recipient="u-4", basis=("ev-8", "ev-9"))
    rejected = make_award(national, status="rejected", recipient="u-5", basis=("ev-2",))
    steps = withdraw_on_revocation([granted, approved, pending, unrelated, rejected], ["ev-2"],
                                   reason="recognition 2023 revoked", now=NOW)
    assert {(s.award.recipient_ref, s.award.status) for s in steps} == {
        ("u-1", "annulled"), ("u-2", "annulled"), ("u-3", "rejected")}
    assert all(s.audit.actor == "system" for s in steps)
    assert isinstance(steps[0].events[0], AwardAnnulled)


def test_applying_the_same_revocation_twice_changes_nothing_the_second_time(national: RuleSet) -> None:
    granted = make_award(national, status="granted", basis=("ev-1",))
    first = withdraw_on_revocation([granted], ["ev-1"], reason="revoked", now=NOW)
    assert withdraw_on_revocation([first[0].award], ["ev-1"], reason="revoked", now=NOW) == []


# --- approval straight from `proposed` (contract: propose → approve) ----------------------------------------------
def test_approving_a_proposal_records_the_review_on_the_way(national: RuleSet) -> None:
    proposed = make_award(national)
    later = NOW + timedelta(days=2)
    step = approve(proposed, national, decision_no="QD-5", actor="chair", now=later, existing=[], note="ok")
    assert step.award.status == "approved" and step.award.decision_no == "QD-5"
    assert step.award.reviewed_at == later and step.award.approved_at == later
    assert step.award.revision == proposed.revision + 2
    [review_step] = step.through
    assert (review_step.audit.action, review_step.audit.from_status, review_step.audit.to_status) == (
        "review", "proposed", "reviewed")
    assert (review_step.audit.actor, review_step.audit.at) == ("chair", later)
    assert review_step.events == review(proposed, actor="chair", now=later).events  # what a review emits: nothing
    assert (step.audit.action, step.audit.from_status, step.audit.to_status, step.audit.note) == (
        "approve", "reviewed", "approved", "ok")
    assert [type(e) for s in step.path for e in s.events] == [AwardApproved]
    assert "approve" in proposed.allowed_actions and "review" in proposed.allowed_actions


def test_a_refused_approval_of_a_proposal_takes_no_step(national: RuleSet) -> None:
    proposed = make_award(national, award_type="bang_khen_mps", level="ministry")
    full = _approved_in(national, 5, award_type="bang_khen_mps", level="ministry", province="01", area="x")
    with pytest.raises(Conflict) as raised:
        approve(proposed, national, decision_no="QD", actor="m", now=NOW, existing=full)
    assert raised.value.code == "quota_exceeded"
    with pytest.raises(Forbidden):
        approve(proposed, national, decision_no="QD", actor="m", now=NOW, existing=[], level="province")
    assert proposed.status == "proposed" and proposed.reviewed_at is None


def test_an_approval_of_a_reviewed_award_passes_through_nothing(national: RuleSet) -> None:
    reviewed = make_award(national, status="reviewed")
    step = approve(reviewed, national, decision_no="QD", actor="chair", now=NOW + timedelta(days=3), existing=[])
    assert step.through == () and step.path == (step,)
    assert step.award.reviewed_at == reviewed.reviewed_at  # the explicit review keeps its own time


# --- barred / deferred re-checked at approval -------------------------------------------------------------------
def _medal_award(rules: RuleSet, status: str = "proposed") -> Award:
    proposal = Proposal(key=proposal_key("ky_niem_chuong", "person", "p-7", 2025), award_type="ky_niem_chuong",
                        recipient_kind="person", recipient_ref="p-7", year=2025, basis=(), level="ministry",
                        area_code="01.00004", province_code="01", rule_version=rules.version, origin="nomination")
    award = propose(proposal, rules, actor="officer", now=NOW).award
    return review(award, actor="officer", now=NOW).award if status == "reviewed" else award


@pytest.mark.parametrize("status", ["proposed", "reviewed"])
def test_approval_refuses_a_person_now_prosecuted_or_disciplined(national: RuleSet, status: str) -> None:
    award = _medal_award(national, status)
    with pytest.raises(Invalid) as barred:
        approve(award, national, decision_no="QD", actor="m", now=NOW, existing=[], standing=["prosecuted"])
    assert barred.value.code == "barred"
    assert barred.value.details == {"standing": ["prosecuted"], "award_id": award.award_id, "at": "approval"}
    with pytest.raises(Conflict) as deferred:
        approve(award, national, decision_no="QD", actor="m", now=NOW, existing=[], standing=["disciplined"])
    assert deferred.value.code == "deferred" and deferred.value.details["standing"] == ["disciplined"]
    assert approve(award, national, decision_no="QD", actor="m", now=NOW, existing=[], standing=[]).award.status \
        == "approved"


def test_standing_is_not_a_condition_of_collective_awards(national: RuleSet) -> None:
    award = make_award(national, status="reviewed")
    step = approve(award, national, decision_no="QD", actor="c", now=NOW, existing=[], standing=["prosecuted"])
    assert step.award.status == "approved"


# --- a restored recognition restores what its revocation closed ------------------------------------------------
def test_a_restored_recognition_restores_the_awards_its_revocation_closed(national: RuleSet) -> None:
    granted = make_award(national, status="granted", recipient="u-1", basis=("ev-1", "ev-2"))
    approved = make_award(national, status="approved", recipient="u-2", basis=("ev-2",))
    pending = make_award(national, status="proposed", recipient="u-3", basis=("ev-2",))
    also_on_ev3 = make_award(national, status="granted", recipient="u-4", basis=("ev-2", "ev-3"))
    by_people = make_award(national, status="annulled", recipient="u-5", basis=("ev-2",))
    closed = [s.award for s in withdraw_on_revocation([granted, approved, pending, also_on_ev3], ["ev-2"],
                                                       reason="revoked", now=NOW, revocation="rev-2")]
    assert all(a.closed_by_revocation == "rev-2" for a in closed)
    assert by_people.closed_by_revocation is None
    later = NOW + timedelta(days=3)
    steps = restore_on_recognition([*closed, by_people], "rev-2", ["ev-3"], reason="incident withdrawn", now=later)
    assert [(s.award.recipient_ref, s.award.status, s.audit.action) for s in steps] == [
        ("u-1", "granted", "restore_grant"), ("u-2", "approved", "restore_approval"), ("u-3", "proposed", "reopen")]
    restored = steps[0].award
    assert (restored.certificate_id, restored.reason, restored.closed_at, restored.closed_by_revocation) == (
        granted.certificate_id, None, None, None)
    assert all(isinstance(s.events[0], AwardRestored) and s.audit.actor == "system" for s in steps)
    # Another revocation's awards, and a second delivery of the same restoration, change nothing.
    assert restore_on_recognition(closed, "rev-other", [], reason="x", now=later) == []
    assert restore_on_recognition([s.award for s in steps], "rev-2", [], reason="x", now=later) == []


def test_system_steps_are_not_offered_to_people(national: RuleSet) -> None:
    annulled = make_award(national, status="annulled")
    assert annulled.allowed_actions == [] and make_award(national, status="rejected").allowed_actions == []
    assert "restore_grant" in TRANSITIONS["annulled"]
