"""Incidents at a unit: which assessment year they count for, whether they disqualify, and the event they emit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.events import IncidentRecorded
from shared.errors import Invalid

from .calendar import assessment_year_of
from .cycle import IncidentRef
from .frameworks import Framework

# Clocks of reporting agencies drift; an occurrence a few minutes ahead of ours is not "in the future".
CLOCK_SKEW = timedelta(minutes=5)


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
) -> tuple[Incident, list[IncidentRecorded]]:
    """Classify an incident with the category list of `framework` and emit `IncidentRecorded`.

    `framework` is the one of the unit's cycle for that year, or the one in force on the occurrence date when
    the unit has no cycle. The handler then passes `incident.ref()` to `cycle.note_incident` if a cycle exists.
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
        framework_code=framework.code,
    )
    event = IncidentRecorded(incident_id=incident_id, unit_id=unit_id, year=year, category=cat.code,
                             disqualifying=cat.disqualifying, occurred_at=occurred_at, source=source)
    return incident, [event]
