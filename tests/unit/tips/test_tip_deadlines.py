"""Legal deadlines: due dates, remote areas, extensions, and the exactly-once approaching/overdue scheduler."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.tips.domain import (
    DeadlineEvent,
    DeadlineMarker,
    DeadlineState,
    add_months,
    current_deadline,
    escalations,
    extend,
    is_overdue,
    load_categories,
    load_deadline_rules,
    next_wakeup,
    owed_deadline_events,
    plan_extension,
    receive_tip,
    triage,
    verify,
)
from shared.contracts.events import TipDeadlineApproaching, TipEscalated, TipOverdue
from shared.errors import Conflict, IllegalTransition, Invalid

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
RULES = load_deadline_rules()
H, D = timedelta(hours=1), timedelta(days=1)


def state(**kwargs: object) -> DeadlineState:
    return replace(DeadlineState(tip_id="t1", received_at=T0, area_code="79001"), **kwargs)  # type: ignore[arg-type]


def run_scheduler(s: DeadlineState, emitted: set[DeadlineMarker], now: datetime) -> list[DeadlineEvent]:
    """What the service's scheduler does each tick: emit what is owed and remember the markers."""
    out = []
    for marker, event in owed_deadline_events(s, emitted, now, RULES):
        emitted.add(marker)
        out.append(event)
    return out


# --- due dates -------------------------------------------------------------------------------------------------
def test_forward_deadline_is_24_hours_after_receipt() -> None:
    running = current_deadline(state(), RULES)
    assert running is not None
    assert running.deadline == "forward_24h"
    assert running.due_at == T0 + 24 * H
    assert running.approaching_at == T0 + 12 * H


@pytest.mark.parametrize("area_code", [
    "11",          # a listed province, filed at province level
    "11.03199",    # a commune of a listed province
    "79.26732",    # a listed commune (Côn Đảo)
    "31.11948",    # a listed island commune (Bạch Long Vĩ)
])
def test_forward_deadline_is_48_hours_in_a_remote_area(area_code: str) -> None:
    running = current_deadline(state(area_code=area_code), RULES)
    assert running is not None
    assert running.due_at == T0 + 48 * H


@pytest.mark.parametrize("area_code", ["79", "79.26743", "111", "13.00745", "31", None])
def test_forward_deadline_stays_24_hours_outside_remote_areas(area_code: str | None) -> None:
    running = current_deadline(state(area_code=area_code), RULES)
    assert running is not None
    assert running.due_at == T0 + 24 * H


def test_decide_deadline_runs_20_days_from_triage() -> None:
    running = current_deadline(state(forwarded_at=T0 + 5 * H), RULES)
    assert running is not None
    assert running.deadline == "decide_20d"
    assert running.due_at == T0 + 5 * H + 20 * D
    assert running.approaching_at == running.due_at - 7 * D


def test_a_decided_tip_has_no_running_deadline() -> None:
    assert current_deadline(state(forwarded_at=T0 + H, decided_at=T0 + 2 * D), RULES) is None


def test_naive_times_are_refused() -> None:
    with pytest.raises(Invalid):
        current_deadline(state(received_at=datetime(2026, 1, 1)), RULES)


def test_is_overdue_follows_the_running_deadline() -> None:
    assert not is_overdue(state(), T0 + 23 * H, RULES)
    assert is_overdue(state(), T0 + 24 * H, RULES)
    assert not is_overdue(state(forwarded_at=T0 + 30 * H), T0 + 31 * H, RULES)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 1, 31, 8, tzinfo=UTC), 1, datetime(2026, 2, 28, 8, tzinfo=UTC)),
        (datetime(2028, 12, 30, tzinfo=UTC), 2, datetime(2029, 2, 28, tzinfo=UTC)),
        (datetime(2026, 11, 22, tzinfo=UTC), 2, datetime(2027, 1, 22, tzinfo=UTC)),
    ],
)
def test_adding_months_clamps_to_the_end_of_the_month(start: datetime, months: int, expected: datetime) -> None:
    assert add_months(start, months) == expected


# --- extensions ------------------------------------------------------------------------------------------------
def test_first_extension_reaches_two_months_from_triage() -> None:
    s = state(forwarded_at=T0)
    ext = plan_extension(s, reason="complex case", now=T0 + 10 * D, rules=RULES)
    assert ext.ordinal == 1
    assert ext.due_at == datetime(2027, 1, 22, 3, 0, tzinfo=UTC)
    running = current_deadline(replace(s, extensions=(ext,)), RULES)
    assert running is not None
    assert running.deadline == "decide_extended"
    assert running.due_at == ext.due_at


def test_second_extension_adds_two_months_and_a_third_is_refused() -> None:
    s = state(forwarded_at=T0)
    first = plan_extension(s, reason="complex", now=T0 + 10 * D, rules=RULES)
    s = replace(s, extensions=(first,))
    second = plan_extension(s, reason="expert report pending", now=first.due_at - 6 * D, rules=RULES)
    assert second.ordinal == 2
    assert second.due_at == add_months(first.due_at, 2)
    s = replace(s, extensions=(first, second))
    with pytest.raises(Conflict) as err:
        plan_extension(s, reason="again", now=second.due_at - 30 * D, rules=RULES)
    assert err.value.code == "extension_limit"


def test_extension_requested_less_than_5_days_before_expiry_is_refused() -> None:
    s = state(forwarded_at=T0)
    due = T0 + 20 * D
    assert plan_extension(s, reason="ok", now=due - 5 * D, rules=RULES).ordinal == 1
    with pytest.raises(Conflict) as err:
        plan_extension(s, reason="late", now=due - 5 * D + timedelta(seconds=1), rules=RULES)
    assert err.value.code == "extension_too_late"


def test_extension_needs_a_reason_and_a_due_date_within_the_legal_maximum() -> None:
    s = state(forwarded_at=T0)
    with pytest.raises(Invalid):
        plan_extension(s, reason="  ", now=T0, rules=RULES)
    with pytest.raises(Invalid):
        plan_extension(s, reason="x", now=T0, rules=RULES, until=T0 + 90 * D)
    with pytest.raises(Invalid):
        plan_extension(s, reason="x", now=T0, rules=RULES, until=T0 + 10 * D)
    assert plan_extension(s, reason="x", now=T0, rules=RULES, until=T0 + 30 * D).due_at == T0 + 30 * D


def test_extension_before_triage_is_refused_by_the_state_machine() -> None:
    tip, _ = receive_tip(tip_id="t1", category="theft", channel="web", received_at=T0, anonymous=True,
                         categories=load_categories())
    with pytest.raises(IllegalTransition):
        extend(tip, reason="x", now=T0, deadline_rules=RULES)


def test_extending_a_triaged_tip_records_the_extension() -> None:
    categories = load_categories()
    tip, _ = receive_tip(tip_id="t1", category="theft", channel="web", received_at=T0, anonymous=True,
                         categories=categories)
    tip, _ = triage(tip, now=T0 + H, categories=categories, deadline_rules=RULES)
    tip, events = extend(tip, reason="complex", now=T0 + 2 * D, deadline_rules=RULES)
    assert events == []
    assert len(tip.extensions) == 1
    assert tip.extensions[0].reason == "complex"


# --- scheduler -------------------------------------------------------------------------------------------------
def test_scheduler_emits_approaching_then_overdue_exactly_once() -> None:
    s, emitted = state(), set[DeadlineMarker]()
    assert run_scheduler(s, emitted, T0 + 11 * H) == []
    assert run_scheduler(s, emitted, T0 + 12 * H) == [
        TipDeadlineApproaching(tip_id="t1", deadline="forward_24h", due_at=T0 + 24 * H)
    ]
    assert run_scheduler(s, emitted, T0 + 20 * H) == []
    overdue = TipOverdue(tip_id="t1", deadline="forward_24h", due_at=T0 + 24 * H)
    assert run_scheduler(s, emitted, T0 + 24 * H) == [overdue]
    assert run_scheduler(s, emitted, T0 + 100 * D) == []


def test_after_downtime_both_owed_events_are_emitted_in_order() -> None:
    events = run_scheduler(state(), set(), T0 + 30 * H)
    assert [type(e) for e in events] == [TipDeadlineApproaching, TipOverdue]


def test_a_tip_forwarded_late_while_the_scheduler_was_down_is_still_reported_overdue() -> None:
    # Restart after the tip was triaged at 30 h: the forward deadline was missed at 24 h, whatever the clock says now.
    events = run_scheduler(state(forwarded_at=T0 + 30 * H), set(), T0 + 31 * H)
    assert [(type(e), e.deadline) for e in events] == [
        (TipDeadlineApproaching, "forward_24h"),
        (TipOverdue, "forward_24h"),
    ]


def test_a_tip_forwarded_before_the_warning_owes_nothing_for_forwarding() -> None:
    s = state(forwarded_at=T0 + 10 * H)
    assert run_scheduler(s, set(), T0 + 5 * D) == []


def test_a_tip_forwarded_exactly_at_its_due_time_was_warned_but_is_not_overdue() -> None:
    events = run_scheduler(state(forwarded_at=T0 + 24 * H), set(), T0 + 25 * H)
    assert events == [TipDeadlineApproaching(tip_id="t1", deadline="forward_24h", due_at=T0 + 24 * H)]


def test_a_clock_jumping_backwards_does_not_re_emit() -> None:
    s, emitted = state(), set[DeadlineMarker]()
    assert len(run_scheduler(s, emitted, T0 + 25 * H)) == 2
    assert run_scheduler(s, emitted, T0 + 19 * H) == []
    assert run_scheduler(s, emitted, T0 + 25 * H) == []


def test_an_extension_re_arms_warnings_for_the_new_deadline_only() -> None:
    s, emitted = state(forwarded_at=T0 + H), set[DeadlineMarker]()
    run_scheduler(s, emitted, T0 + 10 * D)
    first = plan_extension(s, reason="complex", now=T0 + 12 * D, rules=RULES)
    s = replace(s, extensions=(first,))
    # decide_20d was superseded before its warning time: nothing is owed for it, ever.
    assert run_scheduler(s, emitted, T0 + 25 * D) == []
    events = run_scheduler(s, emitted, first.due_at)
    assert events == [
        TipDeadlineApproaching(tip_id="t1", deadline="decide_extended", due_at=first.due_at),
        TipOverdue(tip_id="t1", deadline="decide_extended", due_at=first.due_at),
    ]


def test_next_wakeup_points_at_the_next_trigger() -> None:
    s, emitted = state(), set[DeadlineMarker]()
    assert next_wakeup(s, emitted, RULES) == T0 + 12 * H
    run_scheduler(s, emitted, T0 + 12 * H)
    assert next_wakeup(s, emitted, RULES) == T0 + 24 * H
    run_scheduler(s, emitted, T0 + 24 * H)
    assert next_wakeup(s, emitted, RULES) is None


def test_deciding_stops_further_deadline_events() -> None:
    categories = load_categories()
    tip, _ = receive_tip(tip_id="t1", category="theft", channel="web", received_at=T0, anonymous=True,
                         categories=categories)
    tip, _ = triage(tip, now=T0 + H, categories=categories, deadline_rules=RULES)
    tip, _ = verify(tip, valuable=False, outcome="not_prosecuted", now=T0 + 2 * D)
    assert run_scheduler(tip.deadline_state(), set(), T0 + 365 * D) == []


@settings(max_examples=60, deadline=None)
@given(
    ticks=st.lists(st.integers(min_value=0, max_value=200 * 24), max_size=30),
    forwarded_after_h=st.one_of(st.none(), st.integers(min_value=0, max_value=72)),
    extended=st.booleans(),
)
def test_any_sequence_of_scheduler_runs_emits_each_marker_once_and_the_same_set(
    ticks: list[int], forwarded_after_h: int | None, extended: bool
) -> None:
    s = state(forwarded_at=None if forwarded_after_h is None else T0 + forwarded_after_h * H)
    if extended and s.forwarded_at is not None:
        s = replace(s, extensions=(plan_extension(s, reason="x", now=s.forwarded_at + D, rules=RULES),))
    end = T0 + 200 * D
    emitted: set[DeadlineMarker] = set()
    seen: list[tuple[str, str, datetime]] = []
    for tick in [*ticks, 200 * 24]:  # arbitrary clock order (restarts, clock jumps), then a final run
        seen.extend((type(e).__name__, e.deadline, e.due_at) for e in run_scheduler(s, emitted, T0 + tick * H))
    once = [(type(e).__name__, e.deadline, e.due_at) for _, e in owed_deadline_events(s, set(), end, RULES)]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(once)


# --- escalation of urgent tips ---------------------------------------------------------------------------------
M = timedelta(minutes=1)


def test_an_untriaged_urgent_tip_escalates_to_the_province_then_the_national_desk_every_30_minutes() -> None:
    s, emitted = state(area_code="79.26743", priority="urgent"), set[DeadlineMarker]()
    assert run_scheduler(s, emitted, T0 + 29 * M) == []
    assert run_scheduler(s, emitted, T0 + 30 * M) == [
        TipEscalated(tip_id="t1", level="province", escalated_at=T0 + 30 * M, to_area="79")]
    assert run_scheduler(s, emitted, T0 + 59 * M) == []
    assert run_scheduler(s, emitted, T0 + 60 * M) == [
        TipEscalated(tip_id="t1", level="national", escalated_at=T0 + 60 * M, to_area=None)]
    assert [e.level for e in escalations(s, emitted, RULES)] == ["province", "national"]
    # No level is left above the national desk: nothing more, ever.
    assert [type(e) for e in run_scheduler(s, emitted, T0 + 11 * H)] == []


def test_triage_stops_the_escalation_and_normal_tips_never_escalate() -> None:
    triaged = state(area_code="79.26743", priority="urgent", forwarded_at=T0 + 40 * M)
    events = run_scheduler(triaged, set(), T0 + 2 * H)
    assert [(e.level, e.to_area) for e in events if isinstance(e, TipEscalated)] == [("province", "79")]
    assert not [e for e in run_scheduler(state(), set(), T0 + 2 * H) if isinstance(e, TipEscalated)]


def test_a_province_or_unplaced_urgent_tip_escalates_straight_to_the_national_desk() -> None:
    for area in ("79", None):
        events = run_scheduler(state(area_code=area, priority="urgent"), set(), T0 + 2 * H)
        assert [(e.level, e.to_area) for e in events if isinstance(e, TipEscalated)] == [("national", None)]
