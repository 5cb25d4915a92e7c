"""Value objects of the notify domain: recipients, subscriptions, preferences and delivery intents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.notify.domain.channels import ChannelName, traits
from services.notify.domain.patterns import valid_type_pattern

RecipientKind = Literal["officer", "leader", "unit_contact", "external", "reporter"]
OfficerRole = Literal["officer", "admin"]
Language = Literal["vi", "en"]
Mode = Literal["immediate", "digest"]
PriorityName = Literal["normal", "urgent"]

LOCAL_TZ = "Asia/Ho_Chi_Minh"
PRIORITY_RANK: dict[str, int] = {"normal": 0, "urgent": 1}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Recipient(_Frozen):
    """Someone (or something) notify can address.

    `recipient_id` is stable and namespaced by kind (`officer:<sub>`, `unit:<unit_id>`, `external:<name>`,
    `reporter:<ref>`). A reporter is known only by the pseudonymous reference the tips service hands out.
    """

    recipient_id: str = Field(min_length=1, max_length=300)
    kind: RecipientKind
    role: OfficerRole | None = None
    area_code: str | None = None
    unit_id: str | None = None
    # Award levels (commune, province, ...) this officer approves; used by the `approvers` audience.
    approves_levels: frozenset[str] = frozenset()
    email: str | None = None
    phone: str | None = None

    @model_validator(mode="after")
    def _reporters_have_no_contact_data(self) -> Recipient:
        # A reporter's identity never reaches notify: only the pseudonymous reference in recipient_id.
        if self.kind == "reporter" and (self.email or self.phone or self.area_code or self.unit_id or self.role):
            raise ValueError("a reporter recipient carries no contact data, area, unit or role")
        if self.kind == "officer" and self.role is None:
            raise ValueError("an officer recipient needs a role (officer or admin)")
        return self

    def address_for(self, channel: ChannelName) -> str | None:
        """The recipient's own address on a channel whose target is an email address or a phone number."""
        target = traits(channel).target
        if target == "email":
            return self.email
        if target == "phone":
            return self.phone
        return None


def reporter_recipient(reporter_ref: str) -> Recipient:
    return Recipient(recipient_id=f"reporter:{reporter_ref}", kind="reporter")


@dataclass(frozen=True, slots=True, kw_only=True)
class Directory:
    """What routing may look up: known recipients, and where units and tips are (events do not always say).

    A plain frozen dataclass, not a validated model: routing builds one for every event from values that are
    already checked (recipients are `Recipient`s), and validating it again re-ran every recipient's validator,
    a tenth of what routing an event cost (docs/benchmarks.md)."""

    recipients: tuple[Recipient, ...] = ()
    unit_areas: Mapping[str, str] = field(default_factory=dict)
    tip_areas: Mapping[str, str] = field(default_factory=dict)
    # tip_id -> pseudonymous reporter reference, handed over by the tips service (never an identity).
    tip_reporters: Mapping[str, str] = field(default_factory=dict)
    # The intake desk's area (ANTQ_TIPS_INTAKE_DESK_AREA): its officers hear of tips with no area. None: every
    # province-level officer (see shared.areas.serves_intake_desk).
    intake_desk: str | None = None

    def get(self, recipient_id: str) -> Recipient | None:
        for recipient in self.recipients:
            if recipient.recipient_id == recipient_id:
                return recipient
        return None


class Subscription(_Frozen):
    """Which events someone wants, narrowed by area, unit and priority, and on which channel."""

    subscription_id: str = Field(min_length=1, max_length=200)
    owner: str = Field(min_length=1, max_length=300, description="recipient_id of the subscriber")
    event_types: tuple[str, ...] = Field(min_length=1)
    area_code: str | None = None
    unit_id: str | None = None
    min_priority: PriorityName | None = None
    channel: ChannelName
    target: str | None = Field(default=None, max_length=2000, description="address, phone or URL")

    @field_validator("event_types")
    @classmethod
    def _patterns_are_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [pattern for pattern in value if not valid_type_pattern(pattern)]
        if bad:
            raise ValueError(f"invalid event type patterns: {bad}")
        return value

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> Subscription:
        if traits(self.channel).target == "url" and not self.target:
            raise ValueError(f"a {self.channel} subscription needs a target URL")
        return self


class QuietHours(_Frozen):
    """A daily local-time window without pushes; `start > end` means it spans midnight (22:00-06:00)."""

    start: time
    end: time


class Preferences(_Frozen):
    """A recipient's choices. `channels=None` means every channel the rules and subscriptions pick."""

    channels: frozenset[ChannelName] | None = None
    language: Language = "vi"
    mode: Mode = "immediate"
    quiet_hours: QuietHours | None = None
    digest_at: time = time(7, 0)
    timezone: str = LOCAL_TZ


DEFAULT_PREFERENCES = Preferences()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryIntent:
    """One message to send: to whom, how, when (immediately or in the digest) and whether it is critical.

    Made by routing only, from validated rules, subscriptions, recipients and preferences: a plain frozen
    dataclass (one per delivery of every event), not a model validated again."""

    recipient_id: str
    recipient_kind: RecipientKind
    channel: ChannelName
    target: str | None = None
    mode: Mode
    critical: bool
    language: Language
    subscription_id: str | None = None
    reason: str  # the rule id or `subscription:<id>` that produced it, for the delivery log
