"""Every v1 event of the public catalogue as a frozen pydantic model (the `data` of a CloudEvent).

Consumers ignore fields they do not know, so producers may add optional fields without a new version;
removing or retyping a field, or adding a required one, is a breaking change and needs a `.v2` type.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from shared.contracts.instants import Instant

UnitKind = Literal["agency", "enterprise", "school"]
Rating = Literal["excellent", "good", "pass"]
Level = Literal["commune", "province"]
TipChannel = Literal["web", "api", "agency"]
Priority = Literal["normal", "urgent"]
Deadline = Literal["forward_24h", "decide_20d", "decide_extended"]
TipOutcome = Literal["prosecuted", "not_prosecuted", "suspended", "unfounded", "duplicate", "prank"]
ActivityKind = Literal["propaganda_session", "training", "commitment_drive", "drill"]
RecipientKind = Literal["unit", "person", "reporter"]
Channel = Literal["inbox", "email", "webhook", "sms"]
IncidentStatus = Literal["confirmed", "pending"]

ShortText = Field(min_length=1, max_length=200)


class EventData(BaseModel):
    """Base of every event's `data`. TYPE is the CloudEvents type and the NATS subject."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str] = ""
    AGGREGATE: ClassVar[str] = ""

    def aggregate_id(self) -> str | None:
        value = getattr(self, self.AGGREGATE, None) if self.AGGREGATE else None
        return str(value) if value is not None else None


# --- units ---------------------------------------------------------------------------------------------------
class UnitRegistered(EventData):
    TYPE: ClassVar[str] = "antq.units.UnitRegistered.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    name: str = Field(min_length=1, max_length=500)
    kind: UnitKind
    area_code: str = ShortText
    in_scope: bool
    external_key: str | None = None


class UnitUpdated(EventData):
    TYPE: ClassVar[str] = "antq.units.UnitUpdated.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    changed: dict[str, Any]


class CycleRegistered(EventData):
    TYPE: ClassVar[str] = "antq.units.CycleRegistered.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    registered_at: datetime
    late: bool


class IncidentRecorded(EventData):
    TYPE: ClassVar[str] = "antq.units.IncidentRecorded.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    incident_id: str = ShortText
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    category: str = ShortText
    disqualifying: bool
    occurred_at: datetime
    source: str = ShortText
    status: IncidentStatus = Field(
        default="confirmed",
        description="confirmed: it counts now; pending: an agency's report awaiting an officer's confirmation")


class IncidentConfirmed(EventData):
    """An officer confirmed an agency's incident report: from now on it counts for its year."""

    TYPE: ClassVar[str] = "antq.units.IncidentConfirmed.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    incident_id: str = ShortText
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    category: str = ShortText
    disqualifying: bool
    confirmed_at: datetime


class IncidentWithdrawn(EventData):
    """An incident recorded by mistake was withdrawn by an officer: it no longer counts."""

    TYPE: ClassVar[str] = "antq.units.IncidentWithdrawn.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    incident_id: str = ShortText
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    category: str = ShortText
    reason: str = Field(min_length=1, max_length=2000)
    withdrawn_at: datetime


class UnitSelfAssessed(EventData):
    TYPE: ClassVar[str] = "antq.units.UnitSelfAssessed.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    criteria_met: int = Field(ge=0)
    criteria_total: int = Field(ge=0)


class DossierSubmitted(EventData):
    """A unit sent its dossier to the police: the commune's officers have one more dossier to appraise."""

    TYPE: ClassVar[str] = "antq.units.DossierSubmitted.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    area_code: str = ShortText
    unit_name: str = Field(min_length=1, max_length=500)
    submitted_at: datetime


class UnitAppraised(EventData):
    TYPE: ClassVar[str] = "antq.units.UnitAppraised.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    recommended: bool


class UnitCertified(EventData):
    TYPE: ClassVar[str] = "antq.units.UnitCertified.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    rating: Rating | None = None
    decision_no: str = ShortText
    decided_at: datetime
    decided_by_level: Level
    consecutive_years: int = Field(ge=1)
    decided_on: date | None = Field(default=None, description="the date the People's Committee signed the decision")


class CertificationDenied(EventData):
    TYPE: ClassVar[str] = "antq.units.CertificationDenied.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    reasons: list[str]


class CertificationRevoked(EventData):
    TYPE: ClassVar[str] = "antq.units.CertificationRevoked.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    reason: str = Field(min_length=1, max_length=2000)
    incident_id: str | None = None


class CertificationRestored(EventData):
    """A recognition revoked only by an incident since withdrawn stands again (the same decision, rating and
    consecutive years as before the revocation)."""

    TYPE: ClassVar[str] = "antq.units.CertificationRestored.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    incident_id: str = ShortText
    reason: str = Field(min_length=1, max_length=2000)
    restored_at: datetime


class ActivityReported(EventData):
    TYPE: ClassVar[str] = "antq.units.ActivityReported.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    activity_id: str = ShortText
    unit_id: str = ShortText
    kind: ActivityKind
    held_on: date
    participants: int = Field(ge=0)


class ActivityReportedV2(EventData):
    """An activity of any kind of the activity-kinds data (`GET /activity-kinds`), with the figures it carries.

    `ActivityReported.v1` keeps its four kinds: it is still emitted for them, beside this event."""

    TYPE: ClassVar[str] = "antq.units.ActivityReported.v2"
    AGGREGATE: ClassVar[str] = "unit_id"
    activity_id: str = ShortText
    unit_id: str = ShortText
    kind: str = Field(min_length=1, max_length=64)
    held_on: date
    year: int = Field(ge=2000, le=2200)
    figures: dict[str, int] = Field(description="figure code → value, as the kind declares them")
    kinds_version: str = ShortText


class RecognitionImported(EventData):
    """A past year's ANTT result entered from the province's records (history import), not decided in antq.
    Consumers count a recognised year toward consecutive-year rules; nobody is told of it as news."""

    TYPE: ClassVar[str] = "antq.units.RecognitionImported.v1"
    AGGREGATE: ClassVar[str] = "unit_id"
    unit_id: str = ShortText
    year: int = Field(ge=2000, le=2200)
    recognized: bool
    decision_no: str = ShortText
    decided_on: date | None = None
    decided_by_level: Level
    rating: Rating | None = None
    area_code: str = ShortText
    imported: Literal[True] = True


class AwardHeldImported(EventData):
    """An award a unit or a person already holds, entered from the province's records (history import), with the
    decision that gave it. Awards counts it where a rule needs an earlier award and never proposes it again."""

    TYPE: ClassVar[str] = "antq.units.AwardHeldImported.v1"
    AGGREGATE: ClassVar[str] = "recipient_ref"
    award_type: str = Field(min_length=1, max_length=64)
    recipient_kind: Literal["unit", "person"]
    recipient_ref: str = ShortText
    recipient_name: str | None = Field(default=None, max_length=500)
    unit_id: str | None = Field(default=None, max_length=200, description="the unit (a person's unit, if known)")
    area_code: str | None = Field(default=None, max_length=200)
    year: int = Field(ge=2000, le=2200)
    decision_no: str = ShortText
    decided_on: date | None = None
    imported: Literal[True] = True


# --- tips ----------------------------------------------------------------------------------------------------
class TipReceived(EventData):
    TYPE: ClassVar[str] = "antq.tips.TipReceived.v1"
    AGGREGATE: ClassVar[str] = "tip_id"
    tip_id: str = ShortText
    category: str = ShortText
    channel: TipChannel
    area_code: str | None = None
    unit_id: str | None = None
    anonymous: bool
    priority: Priority
    received_at: datetime


class TipTriaged(EventData):
    TYPE: ClassVar[str] = "antq.tips.TipTriaged.v1"
    AGGREGATE: ClassVar[str] = "tip_id"
    tip_id: str = ShortText
    category: str = ShortText
    priority: Priority
    assigned_area: str | None = None
    due_at: datetime


class TipMessagePosted(EventData):
    TYPE: ClassVar[str] = "antq.tips.TipMessagePosted.v1"
    AGGREGATE: ClassVar[str] = "tip_id"
    tip_id: str = ShortText
    message_id: str = ShortText
    author: Literal["reporter", "officer"]


class TipDeadlineApproaching(EventData):
    TYPE: ClassVar[str] = "antq.tips.TipDeadlineApproaching.v1"
    AGGREGATE: ClassVar[str] = "tip_id"
    tip_id: str = ShortText
    deadline: Deadline
    due_at: datetime


class TipEscalated(EventData):
    """An urgent tip not triaged in time went up one level: its officers (`to_area`, none: the national desk)
    are now told of it too."""

    TYPE: ClassVar[str] = "antq.tips.TipEscalated.v1"
    AGGREGATE: ClassVar[str] = "tip_id"
    tip_id: str = ShortText
    level: Literal["province", "national"]
    escalated_at: datetime
    to_area: str | None = Field(default=None, max_length=64)


class TipOverdue(EventData):
    TYPE: ClassVar[str] = "antq.tips.TipOverdue.v1"
    AGGREGATE: ClassVar[str] = "tip_id"
    tip_id: str = ShortText
    deadline: Deadline
    due_at: datetime


class TipVerified(EventData):
    TYPE: ClassVar[str] = "antq.tips.TipVerified.v1"
    AGGREGATE: ClassVar[str] = "tip_id"
    tip_id: str = ShortText
    valuable: bool
    outcome: TipOutcome
    unit_id: str | None = None
    reward_ref: str | None = None


class TipClosed(EventData):
    TYPE: ClassVar[str] = "antq.tips.TipClosed.v1"
    AGGREGATE: ClassVar[str] = "tip_id"
    tip_id: str = ShortText
    outcome: TipOutcome


# --- awards --------------------------------------------------------------------------------------------------
class AwardProposed(EventData):
    TYPE: ClassVar[str] = "antq.awards.AwardProposed.v1"
    AGGREGATE: ClassVar[str] = "award_id"
    award_id: str = ShortText
    award_type: str = ShortText
    recipient_kind: RecipientKind
    recipient_ref: str = ShortText
    year: int = Field(ge=2000, le=2200)
    basis: list[str]
    level: str = ShortText
    area_code: str | None = Field(default=None, max_length=200,
                                  description="the award's area, where the approvers of its level are found")


class AwardApproved(EventData):
    TYPE: ClassVar[str] = "antq.awards.AwardApproved.v1"
    AGGREGATE: ClassVar[str] = "award_id"
    award_id: str = ShortText
    decision_no: str = ShortText
    approved_by_level: str = ShortText


class AwardRejected(EventData):
    TYPE: ClassVar[str] = "antq.awards.AwardRejected.v1"
    AGGREGATE: ClassVar[str] = "award_id"
    award_id: str = ShortText
    reason: str = Field(min_length=1, max_length=2000)


class AwardGranted(EventData):
    TYPE: ClassVar[str] = "antq.awards.AwardGranted.v1"
    AGGREGATE: ClassVar[str] = "award_id"
    award_id: str = ShortText
    certificate_id: str = ShortText


class AwardAnnulled(EventData):
    TYPE: ClassVar[str] = "antq.awards.AwardAnnulled.v1"
    AGGREGATE: ClassVar[str] = "award_id"
    award_id: str = ShortText
    reason: str = Field(min_length=1, max_length=2000)


class AwardRestored(EventData):
    """An award annulled (or, still pending, rejected) because its recognition was revoked stands again: the
    recognition was restored. `status` is the one it returns to; a granted award's certificate verifies again."""

    TYPE: ClassVar[str] = "antq.awards.AwardRestored.v1"
    AGGREGATE: ClassVar[str] = "award_id"
    award_id: str = ShortText
    status: Literal["proposed", "approved", "granted"]
    reason: str = Field(min_length=1, max_length=2000)


# --- notify --------------------------------------------------------------------------------------------------
class NotificationDelivered(EventData):
    TYPE: ClassVar[str] = "antq.notify.NotificationDelivered.v1"
    AGGREGATE: ClassVar[str] = "notification_id"
    notification_id: str = ShortText
    channel: Channel
    cause_event_id: str = ShortText


class NotificationFailed(EventData):
    TYPE: ClassVar[str] = "antq.notify.NotificationFailed.v1"
    AGGREGATE: ClassVar[str] = "notification_id"
    notification_id: str = ShortText
    channel: Channel
    cause_event_id: str = ShortText
    attempts: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=2000)


# --- inbound from other agencies (subject antq.inbound.<agency>.<Type>.v1) ----------------------------------
class IncidentReported(EventData):
    TYPE: ClassVar[str] = "IncidentReported.v1"
    unit_id: str | None = Field(default=None, max_length=200)
    unit_external_key: str | None = Field(default=None, max_length=200)
    category: str = ShortText
    occurred_at: Instant  # from another agency: bounded (shared.contracts.instants)
    description: str | None = Field(default=None, max_length=10_000)
    reference: str = ShortText


class ReporterIdentity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=320)
    id_number: str | None = Field(default=None, max_length=50)


class OnBehalfOf(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    org_name: str = Field(min_length=1, max_length=300)
    tax_code: str | None = Field(default=None, max_length=50)


class InboundIdentity(ReporterIdentity):
    """The JSON object an agency encrypts into `TipSubmitted.reporter_jwe`: the reporter, and the organisation
    they report for if any."""

    on_behalf_of: OnBehalfOf | None = None


# A refusal the consumer records under its own DLQ kind instead of `invalid` (the error type is the kind).
PLAINTEXT_IDENTITY = "plaintext_identity"
REFUSAL_KINDS: frozenset[str] = frozenset({PLAINTEXT_IDENTITY})
# Identity in clear, wherever it is put: the contract's fields, or the identity's own fields at the top level.
_CLEAR_IDENTITY_FIELDS = ("reporter", "on_behalf_of", "name", "phone", "email", "id_number")


class TipSubmitted(EventData):
    """A tip forwarded by another agency. The reporter's identity travels only as `reporter_jwe`: a compact JWE
    (alg ECDH-ES, enc A256GCM) of an `InboundIdentity` JSON object, encrypted to a key of the tips service's
    `GET /.well-known/jwks.json`. A message with identity fields in clear is refused (`plaintext_identity`)."""

    TYPE: ClassVar[str] = "TipSubmitted.v1"
    category: str = ShortText
    description: str = Field(min_length=1, max_length=20_000)
    location: str | None = Field(default=None, max_length=1000)
    area_code: str | None = Field(default=None, max_length=50)
    unit_id: str | None = Field(default=None, max_length=200)
    occurred_at: Instant | None = None
    anonymous: bool = True
    reporter: ReporterIdentity | None = Field(
        default=None, description="Refused: a reporter in clear is dead-lettered as plaintext_identity; send "
                                  "reporter_jwe")
    on_behalf_of: OnBehalfOf | None = Field(
        default=None, description="Refused in clear (plaintext_identity): put it in the encrypted identity")
    reporter_jwe: str | None = Field(
        default=None, min_length=1, max_length=16_000,
        description="Compact JWE (ECDH-ES, A256GCM, kid of a key in the tips service's /.well-known/jwks.json) "
                    "of {name, phone?, email?, id_number?, on_behalf_of?: {org_name, tax_code?}}")
    reference: str = ShortText

    @model_validator(mode="before")
    @classmethod
    def _no_identity_in_clear(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(data.get(k) is not None for k in _CLEAR_IDENTITY_FIELDS):
            # Names the rule, never the values: the reason travels to the DLQ and the logs.
            raise PydanticCustomError(PLAINTEXT_IDENTITY, "plaintext_identity: the reporter's identity must be sent "
                                                          "encrypted in reporter_jwe, never in clear")
        return data


class UnitUpserted(EventData):
    TYPE: ClassVar[str] = "UnitUpserted.v1"
    external_key: str = ShortText
    name: str = Field(min_length=1, max_length=500)
    kind: UnitKind
    area_code: str = ShortText
    address: str | None = Field(default=None, max_length=1000)
    in_scope: bool | None = None


# --- outbound to other agencies (subject antq.outbound.<agency>.<Type>.v1, only that agency reads it) ----------
class TipAccepted(EventData):
    """A tip the agency forwarded was accepted: the agency's own reference, the tip's id and, encrypted to the
    agency's registered key, the receipt its user follows the tip up with (and claims a reward with)."""

    TYPE: ClassVar[str] = "TipAccepted.v1"
    reference: str = Field(min_length=1, max_length=200, description="The agency's own reference of the tip")
    tip_id: str = ShortText
    accepted_at: datetime
    receipt_jwe: str | None = Field(
        default=None, max_length=16_000,
        description="Compact JWE (ECDH-ES, A256GCM, `kid` of the agency's registered key) of {receipt, tip_id, "
                    "reference}. Absent when no key is registered for the agency (see receipt_withheld)")
    receipt_withheld: Literal["no_agency_key"] | None = Field(
        default=None, description="Why receipt_jwe is absent: no key is registered for the agency")


class InboundRejected(EventData):
    """A message the agency published was refused. Never carries the refused message's body or identity."""

    TYPE: ClassVar[str] = "InboundRejected.v1"
    reference: str | None = Field(default=None, max_length=200,
                                  description="The agency's own reference, when the message could be read")
    message_type: str = Field(min_length=1, max_length=200, description="The refused message's type, e.g. "
                                                                        "TipSubmitted.v1")
    message_id: str | None = Field(default=None, max_length=200, description="The refused CloudEvent's id, when read")
    reason_code: str = Field(min_length=1, max_length=64, description="e.g. plaintext_identity, invalid, "
                                                                      "undecryptable_identity, source_mismatch")
    reason: str = Field(min_length=1, max_length=1000, description="Why, naming fields and rules, never values")
    rejected_at: datetime


CATALOGUE: tuple[type[EventData], ...] = (
    UnitRegistered, UnitUpdated, CycleRegistered, IncidentRecorded, UnitSelfAssessed, DossierSubmitted, UnitAppraised,
    UnitCertified, CertificationDenied, CertificationRevoked, ActivityReported, ActivityReportedV2,
    IncidentConfirmed, IncidentWithdrawn, CertificationRestored, RecognitionImported, AwardHeldImported,
    TipReceived, TipTriaged, TipMessagePosted, TipDeadlineApproaching, TipOverdue, TipEscalated, TipVerified,
    TipClosed,
    AwardProposed, AwardApproved, AwardRejected, AwardGranted, AwardAnnulled, AwardRestored,
    NotificationDelivered, NotificationFailed,
)
INBOUND: tuple[type[EventData], ...] = (IncidentReported, TipSubmitted, UnitUpserted)
OUTBOUND: tuple[type[EventData], ...] = (TipAccepted, InboundRejected)

EVENT_TYPES: dict[str, type[EventData]] = {model.TYPE: model for model in CATALOGUE}
INBOUND_TYPES: dict[str, type[EventData]] = {model.TYPE: model for model in INBOUND}


def data_model_for(event_type: str) -> type[EventData] | None:
    """The data model of a catalogue type, or of an inbound type given as its full subject."""
    if event_type in EVENT_TYPES:
        return EVENT_TYPES[event_type]
    if event_type.startswith("antq.inbound."):
        parts = event_type.split(".")
        if len(parts) == 5:
            return INBOUND_TYPES.get(".".join(parts[3:]))
    return None
