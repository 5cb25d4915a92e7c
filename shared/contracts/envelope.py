"""CloudEvents 1.0 structured-mode envelope: the one shape every message on the bus has."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contracts.events import EventData

CLOUDEVENTS_REQUIRED = ("specversion", "id", "source", "type")
"""The context attributes CloudEvents 1.0 requires of every event."""


def _cloudevents_required(schema: dict[str, Any]) -> None:
    # `specversion` has a default (producers need not name it) but is always written, as CloudEvents requires.
    schema["required"] = [*CLOUDEVENTS_REQUIRED, *(f for f in schema.get("required", [])
                                                   if f not in CLOUDEVENTS_REQUIRED)]


class CloudEvent(BaseModel):
    """One event, as published on NATS. The subject equals `type`; the `Nats-Msg-Id` header equals `id`."""

    model_config = ConfigDict(frozen=True, extra="allow", json_schema_extra=_cloudevents_required)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    time: datetime
    subject: str | None = Field(default=None, max_length=200)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("time must carry a timezone (RFC 3339)")
        return v

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def utcnow() -> datetime:
    """The current time, timezone-aware UTC: the platform's one clock (services import it from `shared.db`)."""
    return datetime.now(UTC)


def new_event(
    data: EventData,
    *,
    source: str,
    subject: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """Wrap a catalogue event's data in an envelope with a fresh id (a UUID) and the current time."""
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=data.TYPE,
        time=time or utcnow(),
        subject=subject if subject is not None else data.aggregate_id(),
        data=data.model_dump(mode="json", exclude_none=True),
    )
