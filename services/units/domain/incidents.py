"""Incidents at a unit: which assessment year they count for, whether they disqualify, and the event they emit.

An incident's life is one table (`TRANSITIONS`): an officer's entry is `confirmed` when recorded; an agency's
report is `pending` until an officer confirms it (unless the agency is trusted to be confirmed on arrival, see
`agencies.py`); a pending or confirmed incident recorded by mistake is `withdrawn` by an officer with a reason.
Only a confirmed incident counts for its year's cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.events import IncidentConfirmed, IncidentRecorded, IncidentWithdrawn
from shared.errors import IllegalTransition, Invalid

from .calendar import assessment_year_of
from .cycle import Actor, IncidentRef
from .frameworks import Framework

# Clocks of reporting agencies drift; an occurrence a few minutes ahead of ours is not "in the future".
CLOCK_SKEW = timedelta(minutes=5)

IncidentState = Literal["pending", "confirmed", "withdrawn"]
IncidentCommand = Literal["confirm", "withdraw"]

# The whole machine: state -> command -> next state.
TRANSITIONS: dict[IncidentState, dict[IncidentCommand, IncidentState]] = {
    "pending": {"confirm": "confirmed", "withdraw": "withdrawn"},
    "confirmed": {"withdraw": "withdrawn"},
    "withdrawn": {},
}


class Incident(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    incident_id: str = Field(min_length=1, max_length=200)
    unit_id: str = Field(min_length=1, max_length=200)
    year: int
    category: str
    disqualifying: bool
    occurred_at: datetime
    recorded_at: datetime
    # `http` for an officer's entry, `agency/<name>` for an inbound report.
    source: str = Field(min_length=1, max_length=200)
    reference: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    framework_code: str
    status: IncidentState = "confirmed"  # incidents recorded before confirmation was kept are confirmed
    confirmed_at: datetime | None = None
    confirmed_by: Actor | None = None
    withdrawn_at: datetime | None = None
    withdrawn_by: Actor | None = None
    withdrawal_reason: str | None = Field(default=None, max_length=2000)

    @property
    def counts(self) -> bool:
        """Whether the incident counts for its year's cycle (confirmed, not pending nor withdrawn)."""
        return self.status == "confirmed"

    @property
    def allowed(self) -> list[IncidentCommand]:
        return list(TRANSITIONS[self.status])

    def ref(self) -> IncidentRef:
        return IncidentRef(incident_id=self.incident_id, category=self.category, disqualifying=self.disqualifying,
                           occurred_at=self.occurred_at)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        return cls.model_validate(dict(data))


def record_incident(
    *,
    incident_id: str,
    unit_id: str,
    category: str,
    occurred_at: datetime,
    source: str,
    framework: Framework,
    now: datetime,
    reference: str | None = None,
    description: str | None = None,
    pending: bool = False,
) -> tuple[Incident, list[IncidentRecorded]]:
    """Classify an incident with the category list of `framework` and emit `IncidentRecorded`.

    `framework` is the one of the unit's cycle for that year, or the one in force on the occurrence date when
    the unit has no cycle. The handler then passes `incident.ref()` to `cycle.note_incident` if a cycle exists
    and the incident counts. `pending`: an agency's report that waits for an officer's confirmation.
    """
    cat = framework.category(category)
    if cat is None:
        raise Invalid(
            f"unknown incident category {category} for a {framework.kind}",
            details={"field": "category", "known": [c.code for c in framework.incident_categories]},
        )
    if occurred_at.tzinfo is None:
        raise Invalid("occurred_at needs a time zone", details={"field": "occurred_at"})
    if occurred_at > now + CLOCK_SKEW:
        raise Invalid("an incident cannot occur in the future", details={"field": "occurred_at"})
    year = assessment_year_of(occurred_at)
    incident = Incident(
        incident_id=incident_id, unit_id=unit_id, year=year, category=cat.code, disqualifying=cat.disqualifying,
        occurred_at=occurred_at, recorded_at=now, source=source, reference=reference, description=description,
        framework_code=framework.code, status="pending" if pending else "confirmed",
        confirmed_at=None if pending else now,
    )
    event = IncidentRecorded(incident_id=incident_id, unit_id=unit_id, year=year, category=cat.code,
                             disqualifying=cat.disqualifying, occurred_at=occurred_at, source=source,
                             status="pending" if pending else "confirmed")
    return incident, [event]


def _advance(incident: Incident, command: IncidentCommand) -> IncidentState:
    steps = TRANSITIONS[incident.status]
    if command not in steps:
        raise IllegalTransition(
            f"cannot {command} an incident that is {incident.status}", state=incident.status, allowed=list(steps),
            details={"incident_id": incident.incident_id, "command": command},
        )
    return steps[command]


def confirm_incident(incident: Incident, *, by: Actor, now: datetime) -> tuple[Incident, list[IncidentConfirmed]]:
    """An officer confirms an agency's report: it counts from now on (the handler then notes it in the cycle)."""
    state = _advance(incident, "confirm")
    confirmed = incident.model_copy(update={"status": state, "confirmed_at": now, "confirmed_by": by})
    return confirmed, [IncidentConfirmed(incident_id=incident.incident_id, unit_id=incident.unit_id,
                                         year=incident.year, category=incident.category,
                                         disqualifying=incident.disqualifying, confirmed_at=now)]


def withdraw_incident(incident: Incident, *, reason: str, by: Actor,
                      now: datetime) -> tuple[Incident, list[IncidentWithdrawn]]:
    """An officer withdraws an incident recorded by mistake, with a reason (the handler then takes it out of the
    cycle, which may restore a recognition it revoked)."""
    text = (reason or "").strip()
    if not text:
        raise Invalid("a withdrawal needs a reason", details={"field": "reason"})
    state = _advance(incident, "withdraw")
    withdrawn = incident.model_copy(update={"status": state, "withdrawn_at": now, "withdrawn_by": by,
                                            "withdrawal_reason": text})
    return withdrawn, [IncidentWithdrawn(incident_id=incident.incident_id, unit_id=incident.unit_id,
                                         year=incident.year, category=incident.category, reason=text,
                                         withdrawn_at=now)]
