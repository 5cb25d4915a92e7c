"""The yearly ANTT cycle of one unit as a state machine; every command returns the new cycle and its events.

States: registered → in_progress → self_assessed → submitted → appraised → recognised | not_recognised,
recognised → revoked, and revoked → recognised again when the incident that alone revoked it is withdrawn
(`withdraw_incident`). Commands are pure functions `command(cycle, ..., now=...) -> Outcome`; the handler
saves `outcome.cycle` and appends `outcome.events` to the outbox in one transaction.

Choices the rules leave open, decided here:
- A unit reaches the standard only by meeting every criterion it is scored on (Circular 124/2021, Art. 6 and 7:
  "đạt các tiêu chuẩn sau"; `na` criteria do not count). Appraisal with `recommended=true` is refused (409)
  while a criterion is not met or the year holds a disqualifying incident, and so is a recognition: the
  officer sees why instead of the system silently turning the recommendation round.
- Appraisal may follow the self-assessment directly: the police receiving the dossier and appraising it is
  then one step (the cycle passes through `submitted` at the same instant). `submit` stays for units that
  send the dossier themselves.
- Recognition also needs a favourable appraisal: the People's Committee decides on the police recommendation.
  It may still refuse a recommended unit.
- An officer's incident counts as soon as it is recorded (recording is the confirmation); an agency's report
  counts once an officer confirms it (`incidents.py`). Incidents that count are carried in the cycle so the
  decision does not depend on a second look-up; a withdrawn one leaves it.
- Withdrawing an incident restores a recognition only when that incident revoked it and no other
  disqualifying incident of the year remains; a refusal or a revocation by an officer is not undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.events import (
    CertificationDenied,
    CertificationRestored,
    CertificationRevoked,
    CycleRegistered,
    DossierSubmitted,
    EventData,
    Level,
    Rating,
    UnitAppraised,
    UnitCertified,
    UnitKind,
    UnitSelfAssessed,
)
from shared.errors import Conflict, Forbidden, IllegalTransition, Invalid, NotFound

from .calendar import assessment_period, assessment_year_of, is_late_registration, local_date
from .frameworks import Framework

CycleState = Literal[
    "registered", "in_progress", "self_assessed", "submitted", "appraised", "recognised", "not_recognised", "revoked"
]
CriterionOutcome = Literal["met", "not_met", "na"]
Command = Literal["register", "record_criterion", "self_assess", "submit", "appraise", "decide", "revoke"]

# The commands each state accepts. Noting and withdrawing an incident are accepted in every state and are not
# listed: they are facts, not steps. Withdrawing the incident that alone revoked a recognition undoes that
# revocation (revoked → recognised, see `withdraw_incident`); no one restores a recognition by a command.
ALLOWED: dict[CycleState, tuple[Command, ...]] = {
    "registered": ("record_criterion", "self_assess"),
    "in_progress": ("record_criterion", "self_assess"),
    "self_assessed": ("submit", "appraise"),
    "submitted": ("appraise",),
    "appraised": ("decide",),
    "recognised": ("revoke",),
    "not_recognised": (),
    "revoked": (),
}

# What a dossier waits for in each state (a worklist's filter); final states wait for nothing. A self-assessed
# dossier waits for the unit to submit it, although the police may also appraise it directly.
Awaits = Literal["self_assessment", "submission", "appraisal", "decision"]
AWAITS: dict[CycleState, Awaits | None] = {
    "registered": "self_assessment",
    "in_progress": "self_assessment",
    "self_assessed": "submission",
    "submitted": "appraisal",
    "appraised": "decision",
    "recognised": None,
    "not_recognised": None,
    "revoked": None,
}


def states_awaiting(awaits: Awaits) -> list[CycleState]:
    return [state for state, waits in AWAITS.items() if waits == awaits]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CriterionResult(_Model):
    result: CriterionOutcome
    evidence: tuple[str, ...] = Field(default=(), max_length=100)
    note: str | None = Field(default=None, max_length=2000)
    recorded_at: datetime
    # True when the result follows from the year's incidents rather than the unit's own scoring.
    derived: bool = False


class IncidentRef(_Model):
    """What the cycle needs to know about an incident of its year."""

    incident_id: str
    category: str
    disqualifying: bool
    occurred_at: datetime


class Appraisal(_Model):
    recommended: bool
    note: str | None = Field(default=None, max_length=2000)
    appraised_at: datetime


class Decision(_Model):
    recognized: bool
    decision_no: str | None = None
    rating: Rating | None = None
    level: Level
    # When the decision was recorded; `decided_on` is the date the People's Committee signed it (given by the
    # officer who records it, often days later). Cycles recorded before the date was kept have None.
    decided_at: datetime
    decided_on: date | None = None
    reasons: tuple[str, ...] = ()
    note: str | None = Field(default=None, max_length=2000)
    consecutive_years: int | None = None


class Revocation(_Model):
    reason: str
    incident_id: str | None = None
    revoked_at: datetime


class Restoration(_Model):
    """A revoked recognition standing again: the withdrawn incident that had revoked it, and why it was withdrawn."""

    incident_id: str
    reason: str
    revoked_at: datetime
    restored_at: datetime


class Actor(_Model):
    """Who took a step: the token's subject, role and area (None for unscoped callers and the system)."""

    sub: str
    role: str
    area: str | None = None


class Step(_Model):
    state: CycleState
    at: datetime
    by: Actor | None = None  # None in cycles recorded before steps were attributed


class Cycle(_Model):
    """One unit's cycle for one assessment year. Every field is JSON-serialisable (see `to_dict`)."""

    unit_id: str
    year: int = Field(ge=2000, le=2200)
    kind: UnitKind
    state: CycleState = "registered"
    framework_code: str
    registered_at: datetime
    late: bool
    criteria: dict[str, CriterionResult] = Field(default_factory=dict)
    incidents: tuple[IncidentRef, ...] = ()
    criteria_met: int | None = None
    criteria_total: int | None = None
    self_assessed_at: datetime | None = None
    submitted_at: datetime | None = None
    appraisal: Appraisal | None = None
    decision: Decision | None = None
    revocation: Revocation | None = None
    restoration: Restoration | None = None
    history: tuple[Step, ...] = ()

    @property
    def disqualifying_incidents(self) -> tuple[IncidentRef, ...]:
        return tuple(i for i in self.incidents if i.disqualifying)

    @property
    def allowed(self) -> tuple[Command, ...]:
        return ALLOWED[self.state]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cycle:
        return cls.model_validate(dict(data))


class Outcome(NamedTuple):
    cycle: Cycle
    events: list[EventData]


# --- helpers -------------------------------------------------------------------------------------------------
def _require(cycle: Cycle, command: Command) -> None:
    if command not in ALLOWED[cycle.state]:
        raise IllegalTransition(
            f"cannot {command.replace('_', ' ')} a cycle that is {cycle.state.replace('_', ' ')}",
            state=cycle.state,
            allowed=list(ALLOWED[cycle.state]),
            details={"unit_id": cycle.unit_id, "year": cycle.year, "command": command},
        )


def _move(cycle: Cycle, state: CycleState, now: datetime, **changes: Any) -> Cycle:
    history = cycle.history if state == cycle.state else (*cycle.history, Step(state=state, at=now))
    return cycle.model_copy(update={**changes, "state": state, "history": history})


def attribute(cycle: Cycle, before: Cycle | None, by: Actor) -> Cycle:
    """The cycle with the steps a command added since `before` attributed to `by` (commands stay actor-free)."""
    known = len(before.history) if before is not None else 0
    if len(cycle.history) <= known:
        return cycle
    steps = (*cycle.history[:known], *(s.model_copy(update={"by": by}) for s in cycle.history[known:]))
    return cycle.model_copy(update={"history": steps})


def _check_framework(cycle: Cycle, framework: Framework) -> None:
    if framework.code != cycle.framework_code:
        # A cycle is assessed against the framework in force at registration; any other is a handler bug.
        raise Conflict(
            f"cycle {cycle.year} is assessed against {cycle.framework_code}, not {framework.code}",
            code="framework_mismatch",
        )


def _incident_details(incidents: Iterable[IncidentRef]) -> list[dict[str, str]]:
    return [{"incident_id": i.incident_id, "category": i.category} for i in incidents]


def consecutive_years(recognised_years: Iterable[int], year: int) -> int:
    """Length of the unbroken run of recognised years ending at `year` (which counts as recognised).

    Pass only years whose recognition stands: a revoked year is not recognised and breaks the run.
    """
    years = set(recognised_years) | {year}
    run = 0
    while year - run in years:
        run += 1
    return run


def recognised_years(cycles: Iterable[Cycle]) -> list[int]:
    """The years of a unit's history whose recognition stands (revoked ones excluded by their state)."""
    return sorted(c.year for c in cycles if c.state == "recognised")


def refuse_second_registration(existing: Cycle) -> None:
    """Raise the 409 for registering a year that already has a cycle."""
    raise IllegalTransition(
        f"the unit is already registered for {existing.year} (state {existing.state})",
        state=existing.state,
        allowed=list(ALLOWED[existing.state]),
        details={"unit_id": existing.unit_id, "year": existing.year, "command": "register"},
    )


# --- commands ------------------------------------------------------------------------------------------------
def register(
    *,
    unit_id: str,
    kind: UnitKind,
    year: int,
    framework: Framework,
    now: datetime,
    in_scope: bool = True,
    active: bool = True,
    incidents: Sequence[IncidentRef] = (),
) -> Outcome:
    """Register a unit for `year`. Late (after 31 March) is allowed and flagged; a closed year is refused.

    `framework` must be the one in force on the registration date (`framework_in_force(kind, province, today)`).
    `incidents` are the ones already recorded for the unit in that year.
    """
    today = local_date(now)
    start, end = assessment_period(year)
    if not active:
        raise Conflict("a dissolved unit cannot register", code="unit_dissolved")
    if not in_scope:
        raise Conflict(
            "the unit is out of scope of the ANTT standard; override its scope with a reason first",
            code="out_of_scope",
        )
    if today > end:
        raise Conflict(
            f"the assessment year {year} ended on {end.isoformat()}", code="year_closed",
            details={"year": year, "period": [start.isoformat(), end.isoformat()]},
        )
    if today < start:
        raise Conflict(
            f"the assessment year {year} opens on {start.isoformat()}", code="year_not_open",
            details={"year": year, "period": [start.isoformat(), end.isoformat()]},
        )
    if framework.kind != kind:
        raise Conflict(f"framework {framework.code} is for {framework.kind}, not {kind}", code="framework_mismatch")
    late = is_late_registration(year, today)
    cycle = Cycle(
        unit_id=unit_id, year=year, kind=kind, framework_code=framework.code, registered_at=now, late=late,
        incidents=tuple(i for i in incidents if assessment_year_of(i.occurred_at) == year),
        history=(Step(state="registered", at=now),),
    )
    return Outcome(cycle, [CycleRegistered(unit_id=unit_id, year=year, registered_at=now, late=late)])


def record_criterion(
    cycle: Cycle,
    framework: Framework,
    *,
    code: str,
    result: CriterionOutcome,
    evidence: Sequence[str] = (),
    note: str | None = None,
    now: datetime,
) -> Outcome:
    """Record (or replace) one criterion's result. The first one moves the cycle to in_progress. No event."""
    _require(cycle, "record_criterion")
    _check_framework(cycle, framework)
    criterion = framework.criterion(code)
    if criterion is None:
        raise NotFound(
            f"criterion {code} is not in framework {framework.code}",
            details={"known": [c.code for c in framework.criteria]},
        )
    if criterion.derived is not None:
        raise Invalid(f"criterion {code} follows from the year's incidents and is not scored by hand")
    entry = CriterionResult(result=result, evidence=tuple(evidence), note=note, recorded_at=now)
    return Outcome(_move(cycle, "in_progress", now, criteria={**cycle.criteria, code: entry}), [])


def _derived_result(criterion_categories: tuple[str, ...] | None, cycle: Cycle, now: datetime) -> CriterionResult:
    hits = [
        i for i in cycle.disqualifying_incidents
        if criterion_categories is None or i.category in criterion_categories
    ]
    return CriterionResult(
        result="not_met" if hits else "met", evidence=tuple(i.incident_id for i in hits), recorded_at=now, derived=True
    )


def self_assess(
    cycle: Cycle,
    framework: Framework,
    *,
    now: datetime,
    results: Mapping[str, CriterionResult | Mapping[str, Any]] | None = None,
) -> Outcome:
    """Close the scoring: every hand-scored criterion needs a result (given now or recorded before).

    Derived criteria are computed from the incidents; `na` counts in neither met nor total.
    """
    _require(cycle, "self_assess")
    _check_framework(cycle, framework)
    criteria = dict(cycle.criteria)
    for code, value in (results or {}).items():
        crit = framework.criterion(code)
        if crit is None or crit.derived is not None:
            raise Invalid(f"criterion {code} cannot be scored in framework {framework.code}")
        if isinstance(value, CriterionResult):
            criteria[code] = value
        else:
            criteria[code] = CriterionResult.model_validate({"recorded_at": now, **value})
    missing = [c.code for c in framework.scored_criteria if c.code not in criteria]
    if missing:
        raise Invalid(f"criteria without a result: {', '.join(missing)}", code="criteria_missing",
                      details={"missing": missing})
    for crit in framework.criteria:
        if crit.derived is not None:
            criteria[crit.code] = _derived_result(crit.incident_categories, cycle, now)
    counted = [r for code, r in criteria.items() if framework.criterion(code) is not None and r.result != "na"]
    met = sum(1 for r in counted if r.result == "met")
    new = _move(cycle, "self_assessed", now, criteria=criteria, criteria_met=met, criteria_total=len(counted),
                self_assessed_at=now)
    event = UnitSelfAssessed(unit_id=cycle.unit_id, year=cycle.year, criteria_met=met, criteria_total=len(counted))
    return Outcome(new, [event])


def submit(cycle: Cycle, *, now: datetime, area_code: str, unit_name: str) -> Outcome:
    """Send the dossier to the police (`DossierSubmitted`, so the area's officers learn a dossier awaits them).
    An appraisal straight after the self-assessment passes through `submitted` without this event: the police
    already hold the dossier."""
    _require(cycle, "submit")
    event = DossierSubmitted(unit_id=cycle.unit_id, year=cycle.year, area_code=area_code, unit_name=unit_name,
                             submitted_at=now)
    return Outcome(_move(cycle, "submitted", now, submitted_at=now), [event])


def unmet_criteria(cycle: Cycle) -> list[str]:
    """The scored criteria the unit did not meet (derived ones follow from incidents, checked on their own)."""
    return [code for code, r in sorted(cycle.criteria.items()) if r.result == "not_met" and not r.derived]


def _refuse_if_not_eligible(cycle: Cycle, *, what: str) -> None:
    """409 when the unit cannot reach the standard this year: a criterion not met, a disqualifying incident."""
    if cycle.disqualifying_incidents:
        raise Conflict(
            f"a disqualifying incident this year rules out {what}",
            code="disqualifying_incident",
            details={"incidents": _incident_details(cycle.disqualifying_incidents)},
        )
    unmet = unmet_criteria(cycle)
    if unmet:
        raise Conflict(
            f"criteria not met ({', '.join(unmet)}) rule out {what}: every criterion must be met",
            code="criteria_not_met", details={"criteria": unmet},
        )


def appraise(cycle: Cycle, *, recommended: bool, note: str | None = None, now: datetime) -> Outcome:
    """The police appraisal. Recommending a unit that missed a criterion or has a disqualifying incident this
    year is refused (409). Appraising a self-assessed cycle records the dossier as submitted at the same time."""
    _require(cycle, "appraise")
    if recommended:
        _refuse_if_not_eligible(cycle, what="recommending the unit")
    appraisal = Appraisal(recommended=recommended, note=note, appraised_at=now)
    if cycle.state == "self_assessed":
        cycle = _move(cycle, "submitted", now, submitted_at=now)
    new = _move(cycle, "appraised", now, appraisal=appraisal)
    return Outcome(new, [UnitAppraised(unit_id=cycle.unit_id, year=cycle.year, recommended=recommended)])


def denial_reasons(cycle: Cycle, note: str | None = None) -> list[str]:
    """Why a unit is not recognised, as `kind:value` strings a report can group by the part before the colon."""
    reasons = [f"criterion_not_met:{code}" for code in unmet_criteria(cycle)]
    reasons += [f"disqualifying_incident:{cat}"
                for cat in sorted({i.category for i in cycle.disqualifying_incidents})]
    if cycle.appraisal is not None and not cycle.appraisal.recommended:
        reasons.append("appraisal:not_recommended")
    if note and note.strip():
        reasons.append(f"note:{note.strip()}")
    return reasons or ["decision:not_recognised"]


def reason_kind(reason: str) -> str:
    """The group of a denial reason (`criterion_not_met`, `disqualifying_incident`, `appraisal`, `note`...)."""
    return reason.split(":", 1)[0]


def decide(
    cycle: Cycle,
    *,
    recognized: bool,
    decision_no: str | None,
    level: Level,
    now: datetime,
    rating: Rating | None = None,
    note: str | None = None,
    previously_recognised: Iterable[int] = (),
    decided_on: date | None = None,
) -> Outcome:
    """The People's Committee decision at the unit's managing level.

    Recognition is refused (409) while a criterion is not met or a disqualifying incident stands for the year,
    or without a favourable appraisal. `previously_recognised` is the unit's other years whose recognition stands.
    `decided_on` is the date the committee signed (default: the day it is recorded); it cannot lie after the day
    of recording nor before the dossier was appraised (422).
    """
    _require(cycle, "decide")
    decided_on = _decision_date(cycle, decided_on, now)
    if not recognized:
        if rating is not None:
            raise Invalid("a rating is given only with a recognition", details={"field": "rating"})
        reasons = denial_reasons(cycle, note)
        decision = Decision(recognized=False, decision_no=decision_no or None, level=level, decided_at=now,
                            decided_on=decided_on, reasons=tuple(reasons), note=note)
        new = _move(cycle, "not_recognised", now, decision=decision)
        return Outcome(new, [CertificationDenied(unit_id=cycle.unit_id, year=cycle.year, reasons=reasons)])
    if not decision_no or not decision_no.strip():
        raise Invalid("a recognition needs a decision number", details={"field": "decision_no"})
    _refuse_if_not_eligible(cycle, what="recognition")
    if cycle.appraisal is None or not cycle.appraisal.recommended:
        raise Conflict("the police appraisal did not recommend the unit", code="not_recommended")
    run = consecutive_years((y for y in previously_recognised if y != cycle.year), cycle.year)
    number = decision_no.strip()
    decision = Decision(recognized=True, decision_no=number, rating=rating, level=level, decided_at=now,
                        decided_on=decided_on, note=note, consecutive_years=run)
    new = _move(cycle, "recognised", now, decision=decision)
    event = UnitCertified(unit_id=cycle.unit_id, year=cycle.year, rating=rating, decision_no=number,
                          decided_at=now, decided_by_level=level, consecutive_years=run, decided_on=decided_on)
    return Outcome(new, [event])


def _decision_date(cycle: Cycle, decided_on: date | None, now: datetime) -> date:
    today = local_date(now)
    if decided_on is None:
        return today
    if decided_on > today:
        raise Invalid(f"the decision date {decided_on.isoformat()} is after today ({today.isoformat()})",
                      details={"field": "decided_on"})
    appraised = local_date(cycle.appraisal.appraised_at) if cycle.appraisal is not None else None
    if appraised is not None and decided_on < appraised:
        raise Invalid(f"the decision date {decided_on.isoformat()} is before the appraisal ({appraised.isoformat()})",
                      details={"field": "decided_on"})
    return decided_on


def check_deciding_level(level: Level, decider_area: str | None) -> None:
    """The People's Committee at the unit's managing level decides: a province-managed unit is not decided by an
    officer whose scope is one commune (403). Commune-managed units are decided within the commune's scope,
    which a province officer's scope includes; unscoped officers and admins decide for any level."""
    if level == "province" and decider_area is not None and "." in decider_area:
        raise Forbidden(
            "the unit is managed at province level: its recognition is decided by the province, not a commune",
            code="wrong_deciding_level", details={"managing_level": level, "your_area": decider_area},
        )


def revoke(cycle: Cycle, *, reason: str, now: datetime, incident_id: str | None = None) -> Outcome:
    """Withdraw a recognition (a late disqualifying incident, or fraud found in the dossier)."""
    _require(cycle, "revoke")
    if not reason or not reason.strip():
        raise Invalid("a revocation needs a reason", details={"field": "reason"})
    revocation = Revocation(reason=reason.strip(), incident_id=incident_id, revoked_at=now)
    new = _move(cycle, "revoked", now, revocation=revocation)
    event = CertificationRevoked(unit_id=cycle.unit_id, year=cycle.year, reason=reason.strip(), incident_id=incident_id)
    return Outcome(new, [event])


def note_incident(cycle: Cycle, incident: IncidentRef, *, now: datetime) -> Outcome:
    """Add an incident of the cycle's year. A disqualifying one after recognition revokes it.

    Accepted in every state (incidents are facts, not steps). Noting the same incident twice changes nothing.
    """
    if assessment_year_of(incident.occurred_at) != cycle.year:
        raise Invalid(
            f"incident {incident.incident_id} belongs to {assessment_year_of(incident.occurred_at)}, not {cycle.year}"
        )
    if any(i.incident_id == incident.incident_id for i in cycle.incidents):
        return Outcome(cycle, [])
    noted = cycle.model_copy(update={"incidents": (*cycle.incidents, incident)})
    if incident.disqualifying and cycle.state == "recognised":
        return revoke(noted, reason=f"disqualifying incident: {incident.category}", incident_id=incident.incident_id,
                      now=now)
    return Outcome(noted, [])



def withdraw_incident(cycle: Cycle, incident_id: str, *, reason: str, now: datetime) -> Outcome:
    """Take a withdrawn incident out of the cycle. A recognition it revoked is restored (`CertificationRestored`)
    unless another disqualifying incident of the year remains, which then stands as the revocation's cause.

    Accepted in every state; an incident the cycle does not hold (pending, or of no effect) changes nothing.
    A refused recognition stays refused: the People's Committee's decision is not reopened here.
    """
    if not any(i.incident_id == incident_id for i in cycle.incidents):
        return Outcome(cycle, [])
    kept = tuple(i for i in cycle.incidents if i.incident_id != incident_id)
    cycle = cycle.model_copy(update={"incidents": kept})
    revocation = cycle.revocation
    if cycle.state != "revoked" or revocation is None or revocation.incident_id != incident_id:
        return Outcome(cycle, [])
    remaining = cycle.disqualifying_incidents
    if remaining:
        cause = remaining[0]
        moved = revocation.model_copy(update={"incident_id": cause.incident_id,
                                              "reason": f"disqualifying incident: {cause.category}"})
        return Outcome(cycle.model_copy(update={"revocation": moved}), [])
    text = reason.strip() or "incident withdrawn"
    restoration = Restoration(incident_id=incident_id, reason=text, revoked_at=revocation.revoked_at,
                              restored_at=now)
    new = _move(cycle, "recognised", now, revocation=None, restoration=restoration)
    event = CertificationRestored(unit_id=cycle.unit_id, year=cycle.year, incident_id=incident_id, reason=text,
                                  restored_at=now)
    return Outcome(new, [event])
