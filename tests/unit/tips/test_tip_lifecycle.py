"""The tip state machine: which commands each state allows, and the catalogue events each command causes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.tips.domain import (
    ALLOWED,
    Tip,
    begin_verification,
    close,
    load_categories,
    load_deadline_rules,
    post_message,
    receive_tip,
    triage,
    verify,
)
from shared.contracts.events import TipClosed, TipMessagePosted, TipReceived, TipTriaged, TipVerified
from shared.errors import IllegalTransition, Invalid

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
CATEGORIES = load_categories()
RULES = load_deadline_rules()


def received(category: str = "theft", *, anonymous: bool = True, reward_ref: str | None = "rr1_abc") -> Tip:
    tip, _ = receive_tip(
        tip_id="t1", category=category, channel="web", received_at=T0, anonymous=anonymous,
        categories=CATEGORIES, area_code="00745", unit_id="u1", reward_ref=reward_ref,
    )
    return tip


def triaged(category: str = "theft", **kwargs: object) -> Tip:
    tip, _ = triage(received(category, **kwargs), now=T0 + timedelta(hours=2), categories=CATEGORIES,  # type: ignore[arg-type]
                    deadline_rules=RULES, assigned_officer="officer-7")
    return tip


def test_receiving_a_tip_emits_tip_received_without_reporter_data() -> None:
    tip, events = receive_tip(
        tip_id="t1", category="theft", channel="api", received_at=T0, anonymous=False, categories=CATEGORIES
    )
    assert tip.status == "received"
    assert tip.priority == "normal"
    assert events == [TipReceived(tip_id="t1", category="theft", channel="api", anonymous=False,
                                  priority="normal", received_at=T0)]
    assert tip.categories_version == CATEGORIES.version


def test_urgent_category_gets_urgent_priority_on_receipt() -> None:
    tip = received("threat_to_life")
    assert tip.priority == "urgent"


def test_urgent_category_cannot_be_lowered_to_normal_at_triage() -> None:
    with pytest.raises(Invalid) as err:
        triage(received("ongoing_crime"), now=T0, categories=CATEGORIES, deadline_rules=RULES, priority="normal")
    assert err.value.code == "urgent_category"


def test_officer_may_raise_a_normal_category_to_urgent() -> None:
    tip, events = triage(received(), now=T0, categories=CATEGORIES, deadline_rules=RULES, priority="urgent")
    assert tip.priority == "urgent"
    assert isinstance(events[0], TipTriaged)
    assert events[0].priority == "urgent"


def test_triage_recategorises_assigns_and_announces_the_decide_deadline() -> None:
    now = T0 + timedelta(hours=3)
    tip, events = triage(received(), now=now, categories=CATEGORIES, deadline_rules=RULES,
                         category="drugs", assigned_area="00746", assigned_officer="officer-7")
    assert (tip.status, tip.category, tip.assigned_area, tip.triaged_at) == ("triaged", "drugs", "00746", now)
    assert events == [TipTriaged(tip_id="t1", category="drugs", priority="normal", assigned_area="00746",
                                 due_at=now + timedelta(days=20))]


def test_triage_defaults_the_assigned_area_to_the_tip_area() -> None:
    assert triaged().assigned_area == "00745"


def test_full_path_to_closed_emits_verified_then_closed() -> None:
    tip, _ = begin_verification(triaged(), now=T0 + timedelta(days=1))
    assert tip.status == "verifying"
    tip, events = verify(tip, valuable=True, outcome="prosecuted", now=T0 + timedelta(days=5))
    assert tip.status == "decided"
    assert tip.valuable is True
    assert events == [TipVerified(tip_id="t1", valuable=True, outcome="prosecuted", unit_id="u1", reward_ref="rr1_abc")]
    tip, events = close(tip, now=T0 + timedelta(days=6))
    assert tip.status == "closed"
    assert events == [TipClosed(tip_id="t1", outcome="prosecuted")]


def test_reward_ref_is_published_only_for_valuable_tips_anonymous_or_named() -> None:
    _, not_valuable = verify(triaged(), valuable=False, outcome="not_prosecuted", now=T0 + timedelta(days=3))
    _, identified = verify(triaged(anonymous=False), valuable=True, outcome="prosecuted", now=T0 + timedelta(days=3))
    assert isinstance(not_valuable[0], TipVerified)
    assert not_valuable[0].reward_ref is None
    assert isinstance(identified[0], TipVerified)
    assert identified[0].reward_ref == "rr1_abc"


@pytest.mark.parametrize("outcome", ["unfounded", "prank"])
def test_dismissal_goes_to_dismissed_and_then_closes(outcome: str) -> None:
    tip, _ = verify(triaged(), valuable=False, outcome=outcome, now=T0 + timedelta(days=1))  # type: ignore[arg-type]
    assert tip.status == "dismissed"
    tip, events = close(tip, now=T0 + timedelta(days=2))
    assert events == [TipClosed(tip_id="t1", outcome=outcome)]  # type: ignore[arg-type]


def test_duplicate_must_name_the_original_tip() -> None:
    with pytest.raises(Invalid) as err:
        verify(triaged(), valuable=False, outcome="duplicate", now=T0)
    assert err.value.code == "duplicate_of_required"
    tip, _ = verify(triaged(), valuable=False, outcome="duplicate", now=T0, duplicate_of="t0")
    assert tip.duplicate_of == "t0"


def test_a_dismissed_tip_cannot_be_valuable() -> None:
    with pytest.raises(Invalid):
        verify(triaged(), valuable=True, outcome="prank", now=T0)


def test_suspension_requires_a_legal_reason() -> None:
    with pytest.raises(Invalid) as err:
        verify(triaged(), valuable=False, outcome="suspended", now=T0)
    assert err.value.code == "suspension_reason_required"
    tip, _ = verify(triaged(), valuable=False, outcome="suspended", now=T0, suspension_reason="expert_examination")
    assert (tip.status, tip.suspension_reason) == ("decided", "expert_examination")
    with pytest.raises(Invalid):
        verify(triaged(), valuable=False, outcome="prosecuted", now=T0, suspension_reason="valuation")


@pytest.mark.parametrize(
    ("make", "command"),
    [
        (received, lambda t: verify(t, valuable=False, outcome="prank", now=T0)),
        (received, lambda t: close(t, now=T0)),
        (received, lambda t: begin_verification(t, now=T0)),
        (triaged, lambda t: triage(t, now=T0, categories=CATEGORIES, deadline_rules=RULES)),
        (triaged, lambda t: close(t, now=T0)),
    ],
)
def test_illegal_transitions_raise_with_state_and_allowed_steps(
    make: Callable[[], Tip], command: Callable[[Tip], object]
) -> None:
    tip = make()
    with pytest.raises(IllegalTransition) as err:
        command(tip)
    assert err.value.status == 409
    assert err.value.state == tip.status
    assert err.value.allowed == sorted(ALLOWED[tip.status])


def test_a_closed_tip_refuses_everything_but_an_officer_message() -> None:
    tip, _ = verify(triaged(), valuable=False, outcome="unfounded", now=T0)
    tip, _ = close(tip, now=T0)
    with pytest.raises(IllegalTransition):
        close(tip, now=T0)
    with pytest.raises(IllegalTransition):
        post_message(tip, message_id="m1", author="reporter")
    _, events = post_message(tip, message_id="m2", author="officer")
    assert events == [TipMessagePosted(tip_id="t1", message_id="m2", author="officer")]


def test_messages_do_not_change_state() -> None:
    tip = received()
    same, events = post_message(tip, message_id="m1", author="reporter")
    assert same == tip
    assert events == [TipMessagePosted(tip_id="t1", message_id="m1", author="reporter")]


def test_every_state_has_an_entry_in_the_transition_table() -> None:
    assert set(ALLOWED) == {"received", "triaged", "verifying", "decided", "dismissed", "closed"}
