"""The tip aggregate and its state machine: each command returns the new state and the catalogue events it causes.

received -> triaged -> verifying -> decided (prosecuted / not_prosecuted / suspended)
                                 \\-> dismissed (unfounded / duplicate / prank)     -> closed
`verify` is allowed from `triaged` as well as `verifying`, because a prank or a duplicate is often recognised at
triage and forcing an empty verification step would only add a click. Messages do not change the state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, get_args

from shared.contracts.events import (
    EventData,
    Priority,
    TipChannel,
    TipClosed,
    TipMessagePosted,
    TipOutcome,
    TipReceived,
    TipTriaged,
    TipVerified,
)
from shared.errors import IllegalTransition, Invalid

from .deadlines import DeadlineState, Extension, decide_due, plan_extension
from .rules import CategorySet, DeadlineRules

TipStatus = Literal["received", "triaged", "verifying", "decided", "dismissed", "closed"]
Action = Literal["triage", "begin_verification", "extend", "verify", "close", "reporter_message", "officer_message"]
Author = Literal["reporter", "officer"]
SuspensionReason = Literal["expert_examination", "valuation", "foreign_legal_assistance", "requested_documents"]

DECISION_OUTCOMES: frozenset[str] = frozenset({"prosecuted", "not_prosecuted", "suspended"})
DISMISSAL_OUTCOMES: frozenset[str] = frozenset({"unfounded", "duplicate", "prank"})
SUSPENSION_REASONS: frozenset[str] = frozenset(get_args(SuspensionReason))
OPEN_STATUSES: frozenset[str] = frozenset({"received", "triaged", "verifying"})

ALLOWED: dict[str, frozenset[str]] = {
    "received": frozenset({"triage", "reporter_message", "officer_message"}),
    "triaged": frozenset({"begin_verification", "extend", "verify", "reporter_message", "officer_message"}),
    "verifying": frozenset({"extend", "verify", "reporter_message", "officer_message"}),
    "decided": frozenset({"close", "reporter_message", "officer_message"}),
    "dismissed": frozenset({"close", "reporter_message", "officer_message"}),
    # After closing, an officer may still tell the reporter the result (the reporter's right to know).
    "closed": frozenset({"officer_message"}),
}

Decision = tuple["Tip", list[EventData]]


@dataclass(frozen=True)
class Tip:
    """A tip's handling state. Holds no reporter identity: that lives encrypted beside it (see secrecy.py)."""

    tip_id: str
    category: str
    channel: TipChannel
    received_at: datetime
    anonymous: bool
    priority: Priority
    status: TipStatus = "received"
    area_code: str | None = None
    unit_id: str | None = None
    categories_version: str | None = None
    reward_ref: str | None = None
    assigned_area: str | None = None
    assigned_officer: str | None = None
    triaged_at: datetime | None = None
    verification_started_at: datetime | None = None
    decided_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: TipOutcome | None = None
    valuable: bool | None = None
    suspension_reason: SuspensionReason | None = None
    duplicate_of: str | None = None
    extensions: tuple[Extension, ...] = ()

    def allowed_actions(self) -> list[str]:
        return sorted(ALLOWED[self.status])

    def deadline_state(self) -> DeadlineState:
        return DeadlineState(
            tip_id=self.tip_id,
            received_at=self.received_at,
            area_code=self.area_code,
            priority=self.priority,
            forwarded_at=self.triaged_at,
            decided_at=self.decided_at,
            extensions=self.extensions,
        )


def _require(tip: Tip, action: Action) -> None:
    if action not in ALLOWED[tip.status]:
        raise IllegalTransition(
            f"cannot {action.replace('_', ' ')} a tip that is {tip.status}",
            state=tip.status,
            allowed=list(ALLOWED[tip.status]),
            details={"action": action},
        )


def priority_for(category: str, categories: CategorySet, requested: Priority | None = None) -> Priority:
    """Urgent categories are always urgent; otherwise the requested priority (normal by default).

    Invalid when asked to lower an urgent category: a threat to life must not drop out of the urgent queue.
    """
    if categories.is_urgent(category):
        if requested == "normal":
            raise Invalid(f"category {category!r} is always urgent", code="urgent_category")
        return "urgent"
    return requested or "normal"


def receive_tip(
    *,
    tip_id: str,
    category: str,
    channel: TipChannel,
    received_at: datetime,
    anonymous: bool,
    categories: CategorySet,
    area_code: str | None = None,
    unit_id: str | None = None,
    reward_ref: str | None = None,
) -> Decision:
    """A new tip. Invalid for an unknown category (inbound handlers coerce to `other` first)."""
    code = categories.get(category).code
    tip = Tip(
        tip_id=tip_id,
        category=code,
        channel=channel,
        received_at=received_at,
        anonymous=anonymous,
        priority=priority_for(code, categories),
        area_code=area_code,
        unit_id=unit_id,
        categories_version=categories.version,
        reward_ref=reward_ref,
    )
    event = TipReceived(
        tip_id=tip_id,
        category=code,
        channel=channel,
        area_code=area_code,
        unit_id=unit_id,
        anonymous=anonymous,
        priority=tip.priority,
        received_at=received_at,
    )
    return tip, [event]


def triage(
    tip: Tip,
    *,
    now: datetime,
    categories: CategorySet,
    deadline_rules: DeadlineRules,
    category: str | None = None,
    priority: Priority | None = None,
    assigned_area: str | None = None,
    assigned_officer: str | None = None,
) -> Decision:
    """An officer forwards the tip: confirms or changes its category, sets priority and assignment.

    This satisfies the forward_24h deadline and starts the decide_20d one, whose due time TipTriaged carries.
    """
    _require(tip, "triage")
    code = categories.get(category).code if category is not None else tip.category
    new = replace(
        tip,
        status="triaged",
        category=code,
        priority=priority_for(code, categories, priority),
        assigned_area=assigned_area or tip.assigned_area or tip.area_code,
        assigned_officer=assigned_officer,
        triaged_at=now,
    )
    due_at = decide_due(now, deadline_rules)
    event = TipTriaged(
        tip_id=tip.tip_id, category=new.category, priority=new.priority, assigned_area=new.assigned_area, due_at=due_at
    )
    return new, [event]


def begin_verification(tip: Tip, *, now: datetime) -> Decision:
    """The assigned officer starts verifying. No catalogue event: the public timeline shows the status."""
    _require(tip, "begin_verification")
    return replace(tip, status="verifying", verification_started_at=now), []


def extend(
    tip: Tip, *, reason: str, now: datetime, deadline_rules: DeadlineRules, until: datetime | None = None
) -> Decision:
    """Extends the decide period (see deadlines.plan_extension for the legal conditions and errors)."""
    _require(tip, "extend")
    extension = plan_extension(tip.deadline_state(), reason=reason, now=now, rules=deadline_rules, until=until)
    # No v1 catalogue event exists for an extension; the scheduler picks the new deadline up from the state.
    return replace(tip, extensions=(*tip.extensions, extension)), []


def verify(
    tip: Tip,
    *,
    valuable: bool,
    outcome: TipOutcome,
    now: datetime,
    suspension_reason: SuspensionReason | None = None,
    duplicate_of: str | None = None,
) -> Decision:
    """Records the result of verification: a decision (prosecuted / not / suspended) or a dismissal.

    Invalid when a suspension has no reason from the legal list, when a duplicate does not name the tip it
    duplicates, or when a dismissed tip is marked valuable. TipVerified carries `reward_ref` for a valuable tip,
    anonymous or not, so that its reporter can claim the reward with the receipt and the awards service never
    needs to know who the reporter is.
    """
    _require(tip, "verify")
    if outcome not in DECISION_OUTCOMES | DISMISSAL_OUTCOMES:
        raise Invalid(f"unknown outcome {outcome!r}", code="unknown_outcome")
    if outcome == "suspended":
        if suspension_reason not in SUSPENSION_REASONS:
            raise Invalid(
                "a suspension must wait on one of the legal reasons",
                code="suspension_reason_required",
                details={"allowed": sorted(SUSPENSION_REASONS)},
            )
    elif suspension_reason is not None:
        raise Invalid("only a suspension has a suspension reason", code="unexpected_suspension_reason")
    if outcome == "duplicate":
        if not duplicate_of or duplicate_of == tip.tip_id:
            raise Invalid("a duplicate must name the tip it duplicates", code="duplicate_of_required")
    elif duplicate_of is not None:
        raise Invalid("only a duplicate names another tip", code="unexpected_duplicate_of")
    dismissed = outcome in DISMISSAL_OUTCOMES
    if dismissed and valuable:
        raise Invalid("a dismissed tip cannot be valuable", code="dismissed_not_valuable")
    new = replace(
        tip,
        status="dismissed" if dismissed else "decided",
        outcome=outcome,
        valuable=valuable,
        suspension_reason=suspension_reason,
        duplicate_of=duplicate_of,
        decided_at=now,
        verification_started_at=tip.verification_started_at or now,
    )
    reward_ref = tip.reward_ref if valuable else None
    event = TipVerified(
        tip_id=tip.tip_id, valuable=valuable, outcome=outcome, unit_id=tip.unit_id, reward_ref=reward_ref
    )
    return new, [event]


def close(tip: Tip, *, now: datetime) -> Decision:
    """Closes a decided or dismissed tip."""
    _require(tip, "close")
    assert tip.outcome is not None  # decided and dismissed tips always have one
    return replace(tip, status="closed", closed_at=now), [TipClosed(tip_id=tip.tip_id, outcome=tip.outcome)]


def post_message(tip: Tip, *, message_id: str, author: Author) -> Decision:
    """A message in the two-way follow-up. The event names only the author's side, never the text."""
    _require(tip, "reporter_message" if author == "reporter" else "officer_message")
    return tip, [TipMessagePosted(tip_id=tip.tip_id, message_id=message_id, author=author)]
