"""Movement activities a unit reports (propaganda sessions, trainings, commitment drives, drills)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.events import ActivityKind, ActivityReported
from shared.errors import Invalid

from .calendar import assessment_year_of, local_date


class ActivityFields(BaseModel):
    """What `POST /units/{unit_id}/activities` accepts."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    kind: ActivityKind
    held_on: date
    participants: int = Field(ge=0, le=10_000_000)
    title: str | None = Field(default=None, max_length=500)
    # For a commitment drive: how many commitments were signed (defaults to the participants).
    commitments_signed: int | None = Field(default=None, ge=0, le=10_000_000)
    note: str | None = Field(default=None, max_length=2000)


class Activity(ActivityFields):
    activity_id: str = Field(min_length=1, max_length=200)
    unit_id: str = Field(min_length=1, max_length=200)
    year: int
    reported_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Activity:
        return cls.model_validate(dict(data))


def record_activity(
    fields: ActivityFields, *, activity_id: str, unit_id: str, now: datetime
) -> tuple[Activity, list[ActivityReported]]:
    """An activity held on or before today, counted in the assessment year of its date."""
    if fields.held_on > local_date(now):
        raise Invalid("an activity is reported after it is held", details={"field": "held_on"})
    if fields.commitments_signed is not None and fields.kind != "commitment_drive":
        raise Invalid("commitments_signed belongs to a commitment drive", details={"field": "commitments_signed"})
    signed = fields.commitments_signed
    if fields.kind == "commitment_drive" and signed is None:
        signed = fields.participants
    activity = Activity(
        **{**fields.model_dump(), "commitments_signed": signed},
        activity_id=activity_id, unit_id=unit_id, year=assessment_year_of(fields.held_on), reported_at=now,
    )
    event = ActivityReported(activity_id=activity_id, unit_id=unit_id, kind=fields.kind, held_on=fields.held_on,
                             participants=fields.participants)
    return activity, [event]
