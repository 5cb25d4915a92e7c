"""Legal deadlines of a tip: due dates, extensions, and which approaching/overdue events are still owed.

How deadlines are counted (rules in `rules/deadlines.<version>.yaml`):
- `forward_24h` runs from `received_at`; 48 h when the tip's area is remote. Triage by an officer satisfies it.
- `decide_20d` runs from triage (the investigating body has the tip from then on). A decision or dismissal
  satisfies it; an extension supersedes it.
- `decide_extended` is one deadline instance per granted extension: the first may reach 2 months from the start
  of the decide period, the second 2 more months after the first extended expiry. Each must be requested at
  least 5 days before the deadline that is running expires.
- Durations are exact (20 days = 20 x 24 h from the starting instant), which is never later than the legal
  "end of the last day"; counting in Vietnam's calendar days and holidays is left to a later rules version.

Scheduling is a pure function of history, not of when it runs: a marker (deadline instance, kind) is owed when
its trigger time is at or before `now` and the deadline instance had not ended (been satisfied or superseded)
by that trigger time. So a scheduler that was down across a deadline emits, on restart, what it would have
emitted had it been running, even if the tip was triaged or decided in the meantime. When both the approaching
warning and the overdue notice are owed after downtime, both are emitted, approaching first: each (tip,
deadline instance, kind) is a fact that consumers may count, and the order keeps the timeline readable.
An urgent tip also escalates while it waits for triage: one level up (commune -> province -> national desk) at
each end of the `escalation.urgent_untriaged_minutes` period after receipt; each escalation is a marker too.
Exactly-once is the caller's part: it stores the markers it emitted (unique key) in the same transaction as the
outbox rows, and passes them back in `emitted`.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.contracts.events import TipDeadlineApproaching, TipEscalated, TipOverdue
from shared.errors import Conflict, Invalid

from .rules import DeadlineName, DeadlineRules

MarkerKind = Literal["approaching", "overdue", "escalated"]


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive time is ambiguous for a legal deadline; refuse it rather than guess a zone.
        raise Invalid(f"{name} must carry a time zone", code="naive_datetime", details={"field": name})
    return value


def add_months(value: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months later, clamped to the month's end (31 Jan + 1 -> 28/29 Feb)."""
    index = value.month - 1 + months
    year, month = value.year + index // 12, index % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Extension:
    """A granted extension of the decide period."""

    ordinal: int
    requested_at: datetime
    reason: str
    due_at: datetime


@dataclass(frozen=True)
class DeadlineState:
    """What the deadline rules need to know about one tip."""

    tip_id: str
    received_at: datetime
    area_code: str | None = None
    priority: str = "normal"
    forwarded_at: datetime | None = None
    decided_at: datetime | None = None
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True)
class DeadlineInstance:
    """One run of a deadline: when it is due, when to warn, and when it ended (None while running)."""

    deadline: DeadlineName
    started_at: datetime
    due_at: datetime
    approaching_at: datetime
    ended_at: datetime | None

    def is_running(self) -> bool:
        return self.ended_at is None

    def is_overdue(self, now: datetime) -> bool:
        """Missed: still running after the due time, or ended after it."""
        if self.ended_at is not None:
            return self.ended_at > self.due_at
        return now >= self.due_at


@dataclass(frozen=True, order=True)
class DeadlineMarker:
    """The identity of one owed event: unique per tip in the scheduler's table."""

    deadline: DeadlineName
    kind: MarkerKind
    due_at: datetime

    def key(self) -> str:
        return f"{self.deadline}:{self.kind}:{self.due_at.isoformat()}"


DeadlineEvent = TipDeadlineApproaching | TipOverdue | TipEscalated


# --- due dates -------------------------------------------------------------------------------------------------
def forward_due(received_at: datetime, area_code: str | None, rules: DeadlineRules) -> datetime:
    """When the tip must have been forwarded (triaged): 24 h after receipt, 48 h in a remote area."""
    hours = rules.forward.remote_area_hours if rules.is_remote(area_code) else rules.forward.hours
    return _aware(received_at, "received_at") + timedelta(hours=hours)


def decide_due(forwarded_at: datetime, rules: DeadlineRules) -> datetime:
    """When the investigating body must decide if no extension is granted: 20 days after forwarding."""
    return _aware(forwarded_at, "forwarded_at") + timedelta(days=rules.decide.days)


def max_extension_due(state: DeadlineState, rules: DeadlineRules) -> datetime:
    """The latest due date the next extension may set. Conflict when no further extension exists."""
    ordinal = len(state.extensions) + 1
    if state.forwarded_at is None:
        raise Conflict("the decide period has not started: triage the tip first", code="not_forwarded")
    if ordinal > len(rules.extensions):
        raise Conflict(
            "the decide period has already been extended the maximum number of times",
            code="extension_limit",
            details={"extensions": len(state.extensions), "max": len(rules.extensions)},
        )
    rule = rules.extensions[ordinal - 1]
    if rule.months_from_start is not None:
        return add_months(state.forwarded_at, rule.months_from_start)
    assert rule.months_after_previous is not None  # guaranteed by ExtensionRule's validator
    return add_months(state.extensions[-1].due_at, rule.months_after_previous)


def deadline_instances(state: DeadlineState, rules: DeadlineRules) -> list[DeadlineInstance]:
    """Every deadline instance of the tip so far, in the order they started."""
    received_at = _aware(state.received_at, "received_at")
    due = forward_due(received_at, state.area_code, rules)
    fwd_before = timedelta(hours=rules.forward.approaching_before_hours)
    instances = [DeadlineInstance("forward_24h", received_at, due, due - fwd_before, state.forwarded_at)]
    if state.forwarded_at is None:
        return instances
    ends = [ext.requested_at for ext in state.extensions] + [state.decided_at]
    due = decide_due(state.forwarded_at, rules)
    before = timedelta(days=rules.decide.approaching_before_days)
    instances.append(DeadlineInstance("decide_20d", state.forwarded_at, due, due - before, ends[0]))
    for i, ext in enumerate(state.extensions):
        rule = rules.extensions[min(ext.ordinal, len(rules.extensions)) - 1]
        before = timedelta(days=rule.approaching_before_days)
        instances.append(
            DeadlineInstance("decide_extended", ext.requested_at, ext.due_at, ext.due_at - before, ends[i + 1])
        )
    return instances


def current_deadline(state: DeadlineState, rules: DeadlineRules) -> DeadlineInstance | None:
    """The deadline instance running now, or None when the tip has been decided or dismissed."""
    running = [d for d in deadline_instances(state, rules) if d.is_running()]
    return running[-1] if running else None


def is_overdue(state: DeadlineState, now: datetime, rules: DeadlineRules) -> bool:
    """Whether the running deadline has passed (for the officer queue's `overdue` filter)."""
    running = current_deadline(state, rules)
    return running is not None and _aware(now, "now") >= running.due_at


# --- extensions ------------------------------------------------------------------------------------------------
def plan_extension(
    state: DeadlineState, *, reason: str, now: datetime, rules: DeadlineRules, until: datetime | None = None
) -> Extension:
    """The extension that may be granted now, up to `until` (the maximum when None).

    Raises Conflict when nothing is running, the limit is reached (`extension_limit`) or it is too late
    (`extension_too_late`: fewer than 5 days left); Invalid for an empty reason or an `until` out of range.
    """
    now = _aware(now, "now")
    if not reason.strip():
        raise Invalid("an extension needs a reason", code="reason_required")
    running = current_deadline(state, rules)
    if running is None or running.deadline == "forward_24h":
        raise Conflict("no decide period is running", code="no_decide_period")
    latest = max_extension_due(state, rules)
    last_request = running.due_at - timedelta(days=rules.extension_request_min_days_before_expiry)
    if now > last_request:
        raise Conflict(
            f"an extension must be requested at least {rules.extension_request_min_days_before_expiry} days "
            "before the deadline expires",
            code="extension_too_late",
            details={"due_at": running.due_at.isoformat(), "last_request_at": last_request.isoformat()},
        )
    due_at = latest if until is None else _aware(until, "until")
    if not running.due_at < due_at <= latest:
        raise Invalid(
            "the extended deadline must be after the current one and not beyond the legal maximum",
            code="extension_out_of_range",
            details={"current_due_at": running.due_at.isoformat(), "max_due_at": latest.isoformat()},
        )
    return Extension(ordinal=len(state.extensions) + 1, requested_at=now, reason=reason.strip(), due_at=due_at)


# --- scheduling ------------------------------------------------------------------------------------------------
def escalation_levels(area_code: str | None) -> list[tuple[Literal["province", "national"], str | None]]:
    """The levels above a tip's area, nearest first: a commune's province, then the national desk."""
    if area_code is not None and "." in area_code:
        return [("province", area_code.split(".", 1)[0]), ("national", None)]
    return [("national", None)]


def _triggers(instance: DeadlineInstance, state: DeadlineState,
              rules: DeadlineRules) -> Iterable[tuple[datetime, DeadlineMarker, DeadlineEvent]]:
    yield (instance.approaching_at, DeadlineMarker(instance.deadline, "approaching", instance.due_at),
           TipDeadlineApproaching(tip_id=state.tip_id, deadline=instance.deadline, due_at=instance.due_at))
    yield (instance.due_at, DeadlineMarker(instance.deadline, "overdue", instance.due_at),
           TipOverdue(tip_id=state.tip_id, deadline=instance.deadline, due_at=instance.due_at))
    if instance.deadline == "forward_24h" and state.priority == "urgent":
        # An urgent tip still waiting for triage goes up one level at each period's end, while levels remain.
        period = timedelta(minutes=rules.escalation.urgent_untriaged_minutes)
        for step, (level, to_area) in enumerate(escalation_levels(state.area_code), start=1):
            at = instance.started_at + step * period
            yield (at, DeadlineMarker(instance.deadline, "escalated", at),
                   TipEscalated(tip_id=state.tip_id, level=level, escalated_at=at, to_area=to_area))


_KIND_ORDER = {"approaching": 0, "overdue": 1, "escalated": 2}


def _pending(
    state: DeadlineState, emitted: Collection[DeadlineMarker], rules: DeadlineRules
) -> list[tuple[datetime, DeadlineMarker, DeadlineEvent]]:
    """Markers not yet emitted whose instance was still running at their trigger time (or still is)."""
    pending = []
    for instance in deadline_instances(state, rules):
        for trigger, marker, event in _triggers(instance, state, rules):
            if marker in emitted:
                continue
            # Strictly after: a tip triaged exactly at its due time was forwarded in time.
            if instance.ended_at is None or instance.ended_at > trigger:
                pending.append((trigger, marker, event))
    return sorted(pending, key=lambda item: (item[0], _KIND_ORDER[item[1].kind]))


def owed_deadline_events(
    state: DeadlineState, emitted: Collection[DeadlineMarker], now: datetime, rules: DeadlineRules
) -> list[tuple[DeadlineMarker, DeadlineEvent]]:
    """The approaching/overdue/escalated events owed at `now` and not yet emitted, oldest trigger first."""
    now = _aware(now, "now")
    return [(marker, event) for trigger, marker, event in _pending(state, emitted, rules) if trigger <= now]


def escalations(state: DeadlineState, emitted: Collection[DeadlineMarker],
                rules: DeadlineRules) -> list[TipEscalated]:
    """The escalations already emitted for the tip (shown on it), oldest first."""
    instance = deadline_instances(state, rules)[0]
    return [event for _, marker, event in _triggers(instance, state, rules)
            if isinstance(event, TipEscalated) and marker in emitted]


def next_wakeup(state: DeadlineState, emitted: Collection[DeadlineMarker], rules: DeadlineRules) -> datetime | None:
    """The earliest trigger time still to be emitted (may be in the past), or None when nothing is left."""
    pending = _pending(state, emitted, rules)
    return pending[0][0] if pending else None
