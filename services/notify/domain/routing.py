"""Pure routing: from one event, the subscriptions, the directory and preferences to a list of delivery intents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from services.notify.domain.channels import CHANNELS, INBOX
from services.notify.domain.model import (
    DEFAULT_PREFERENCES,
    PRIORITY_RANK,
    ChannelName,
    DeliveryIntent,
    Directory,
    Preferences,
    Recipient,
    Subscription,
    reporter_recipient,
)
from services.notify.domain.patterns import area_covers, type_matches
from shared.areas import serves_intake_desk

RULES_FILE = Path(__file__).resolve().parent / "rules.yaml"
APPROVERS_FILE = Path(__file__).resolve().parent / "approvers.yaml"
Audience = Literal["area_officers", "escalation_officers", "unit_contacts", "approvers", "reporter"]
# Notify's own events are never routed: a delivery of a NotificationDelivered would publish another one, forever.
OWN_PREFIX = "antq.notify."
# Channels that do not interrupt anybody (inbox) or are read by machines (webhook) ignore digest and quiet hours.
ALWAYS_IMMEDIATE: frozenset[str] = frozenset(row.name for row in CHANNELS if row.immediate)
# Channels that need a target (an address, a phone, a URL): without one there is nothing to send.
ADDRESSED: frozenset[str] = frozenset(row.name for row in CHANNELS if row.target is not None)
# Channels whose subscriptions name an endpoint of their own (a URL): each is its own recipient.
ENDPOINTS: frozenset[str] = frozenset(row.name for row in CHANNELS if row.target == "url")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Condition(_Frozen):
    event: str
    when: dict[str, Any] = Field(default_factory=dict)

    def holds_for(self, data: Mapping[str, Any]) -> bool:
        """The `when` fields alone (the event type already matched)."""
        for field, expected in self.when.items():
            value = data.get(field)
            if isinstance(expected, list):
                if value not in expected:
                    return False
            elif value != expected:
                return False
        return True


class Rule(Condition):
    id: str
    audience: Audience
    channels: tuple[ChannelName, ...] = Field(min_length=1)


class RuleSet(_Frozen):
    version: str
    critical: tuple[Condition, ...] = ()
    rules: tuple[Rule, ...] = ()
    # The critical conditions and rules whose type pattern matches an event type, found once per type.
    _by_type: dict[str, tuple[tuple[Condition, ...], tuple[Rule, ...]]] = PrivateAttr(default_factory=dict)

    def for_type(self, event_type: str) -> tuple[tuple[Condition, ...], tuple[Rule, ...]]:
        # Straight from the private-attribute dict: `self._by_type` goes through pydantic's `__getattr__`, slower
        # than the matching it saves (docs/benchmarks.md).
        private = self.__pydantic_private__
        assert private is not None  # the model has a private attribute
        by_type: dict[str, tuple[tuple[Condition, ...], tuple[Rule, ...]]] = private["_by_type"]
        found = by_type.get(event_type)
        if found is None:
            found = by_type[event_type] = (
                tuple(c for c in self.critical if type_matches(c.event, event_type)),
                tuple(r for r in self.rules if type_matches(r.event, event_type)))
        return found

    def is_critical(self, event_type: str, data: Mapping[str, Any]) -> bool:
        return any(condition.holds_for(data) for condition in self.for_type(event_type)[0])


class ApproverLevel(_Frozen):
    leader: str = Field(min_length=1)


class Approvers(_Frozen):
    """Who approves awards of each level (approvers.yaml): the leaders of a `leader` level."""

    version: str
    levels: dict[str, ApproverLevel] = Field(min_length=1)

    @property
    def leader_levels(self) -> tuple[str, ...]:
        return tuple(sorted({a.leader for a in self.levels.values()}))

    def award_levels_of(self, leader_level: str) -> frozenset[str]:
        """The award levels a leader of `leader_level` is told about."""
        return frozenset(level for level, a in self.levels.items() if a.leader == leader_level)


def load_approvers(path: Path = APPROVERS_FILE) -> Approvers:
    with path.open(encoding="utf-8") as handle:
        return Approvers.model_validate(yaml.safe_load(handle))


@lru_cache(maxsize=1)
def default_approvers() -> Approvers:
    return load_approvers()


def load_rules(path: Path = RULES_FILE) -> RuleSet:
    with path.open(encoding="utf-8") as handle:
        return RuleSet.model_validate(yaml.safe_load(handle))


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    return load_rules()


# --- what the event is about ----------------------------------------------------------------------------------
def event_unit(data: Mapping[str, Any]) -> str | None:
    unit_id = data.get("unit_id")
    if unit_id:
        return str(unit_id)
    if data.get("recipient_kind") == "unit" and data.get("recipient_ref"):
        return str(data["recipient_ref"])
    return None


def event_area(data: Mapping[str, Any], directory: Directory) -> str | None:
    """The area an event is about: said by the event, else where its unit or tip is known to be."""
    if data.get("escalated_at"):  # an escalation is about the level it went up to (none: the national desk)
        return str(data["to_area"]) if data.get("to_area") else None
    for field in ("assigned_area", "area_code"):  # a triage's assigned area overrides where the tip came in
        if data.get(field):
            return str(data[field])
    unit_id = event_unit(data)
    if unit_id and unit_id in directory.unit_areas:
        return directory.unit_areas[unit_id]
    tip_id = data.get("tip_id")
    if tip_id and str(tip_id) in directory.tip_areas:
        return directory.tip_areas[str(tip_id)]
    return None


def event_priority(data: Mapping[str, Any]) -> str:
    priority = data.get("priority")
    return priority if priority in PRIORITY_RANK else "normal"


def event_reporter(data: Mapping[str, Any], directory: Directory) -> str | None:
    """The pseudonymous reporter reference: carried by the event as an extension field, or handed over earlier."""
    ref = data.get("reporter_ref")
    if ref:
        return str(ref)
    tip_id = data.get("tip_id")
    return directory.tip_reporters.get(str(tip_id)) if tip_id else None


def audience(kind: Audience, data: Mapping[str, Any], directory: Directory) -> list[Recipient]:
    area = event_area(data, directory)
    if kind == "area_officers":
        if area is None and data.get("tip_id"):
            # A tip with no known area waits at the intake desk until an officer assigns it.
            return [r for r in directory.recipients
                    if r.kind == "officer" and serves_intake_desk(r.area_code, directory.intake_desk)]
        return [r for r in directory.recipients if r.kind == "officer" and area_covers(r.area_code, area)]
    if kind == "escalation_officers":
        # Only the level the tip went up to: its area's officers, or the nationwide ones for the national desk.
        return [r for r in directory.recipients if r.kind == "officer" and area_covers(r.area_code, area)]
    if kind == "unit_contacts":
        unit_id = event_unit(data)
        return [r for r in directory.recipients if r.kind == "unit_contact" and unit_id and r.unit_id == unit_id]
    if kind == "approvers":
        # Officers (their levels from their scope) and the leaders' desks (their levels from approvers.yaml).
        level = data.get("level")
        return [
            r for r in directory.recipients
            if r.kind in ("officer", "leader") and level in r.approves_levels
            and (area is None or area_covers(r.area_code, area))
        ]
    ref = event_reporter(data, directory)
    return [reporter_recipient(ref)] if ref else []


# Which events each kind of subscriber may hear of, by the services' own read policies: tips only officers and
# admins (no other role may read a tip; a tip is often about the reporter's own unit, and a unit hearing, as it
# happens, that one came in with its category and time could guess who sent it); awards units too (their own)
# but not agencies. A subscription's owner says its kind: `unit:<id>` a unit, `external:<sub>` an agency.
HIDDEN_SERVICES: dict[str, tuple[str, ...]] = {"unit": ("tips",), "agency": ("tips", "awards")}
OWNER_ROLES: dict[str, str] = {"unit:": "unit", "external:": "agency"}


def owner_role(owner: str) -> str | None:
    """The role a subscription's owner has when events are hidden from it; None: an officer or admin."""
    return next((role for prefix, role in OWNER_ROLES.items() if owner.startswith(prefix)), None)


def pattern_reaches(pattern: str, service: str) -> bool:
    """Whether some event type of `service` (`antq.<service>.<Name>.<version>`) matches `pattern`, whatever its
    name: `*`, `>`, `antq.*.TipReceived.v1` and `antq.tips.*` all reach tips; `antq.units.*` does not."""
    tokens = pattern.split(".")
    for index, wanted in enumerate(("antq", service)):
        if index >= len(tokens):
            return False
        if index == len(tokens) - 1 and tokens[index] in ("*", ">"):
            return True
        if tokens[index] not in ("*", wanted):
            return False
    return len(tokens) > 2


def hidden_patterns(role: str | None, patterns: Sequence[str]) -> list[str]:
    """The patterns that could match an event the role may not hear of."""
    hidden = HIDDEN_SERVICES.get(role or "", ())
    return [p for p in patterns if any(pattern_reaches(p, service) for service in hidden)]


@lru_cache(maxsize=1024)  # a few roles × the catalogue's types; routing asks for every subscription and event
def visible_to(role: str | None, event_type: str) -> bool:
    return not hidden_patterns(role, [event_type])


def subscription_matches(sub: Subscription, event_type: str, data: Mapping[str, Any], directory: Directory) -> bool:
    if not visible_to(owner_role(sub.owner), event_type):  # the API refuses such patterns; kept here too
        return False
    if not any(type_matches(pattern, event_type) for pattern in sub.event_types):
        return False
    if sub.area_code is not None and not area_covers(sub.area_code, event_area(data, directory)):
        return False
    if sub.unit_id is not None and sub.unit_id != event_unit(data):
        return False
    return sub.min_priority is None or PRIORITY_RANK[event_priority(data)] >= PRIORITY_RANK[sub.min_priority]


@lru_cache(maxsize=4096)
def endpoint_recipient(subscription_id: str) -> Recipient:
    """The recipient a webhook subscription is (each endpoint its own); recipients are immutable, so one per
    subscription is built and shared by every event it matches."""
    return Recipient(recipient_id=f"webhook:{subscription_id}", kind="external")


# --- the routing function -------------------------------------------------------------------------------------
def route(
    event_type: str,
    event_data: Mapping[str, Any],
    subscriptions: Sequence[Subscription],
    recipients_directory: Directory,
    preferences: Mapping[str, Preferences],
    *,
    rules: RuleSet | None = None,
) -> list[DeliveryIntent]:
    """Every delivery one event causes, at most one per (recipient, channel), in a stable order.

    - Default rules apply always; subscriptions add to them. A recipient's `channels` preference filters what
      the rules chose, except that a critical event always reaches the inbox; a subscription is the
      recipient's own explicit choice and is honoured as it is.
    - Each webhook subscription is its own recipient (`webhook:<subscription_id>`), so two endpoints of one
      agency both get the event.
    - Reporters are reached through the inbox only, whatever a rule says.
    - Email and SMS need an address (the subscription's target, else the directory's); without one the
      delivery is not produced.
    """
    if event_type.startswith(OWN_PREFIX):
        return []
    rule_set = rules or default_rules()
    critical = rule_set.is_critical(event_type, event_data)
    intents: dict[tuple[str, str], DeliveryIntent] = {}

    def add(recipient: Recipient, channel: ChannelName, target: str | None, reason: str, sub_id: str | None) -> None:
        if recipient.kind == "reporter" and channel != INBOX:
            return
        if channel in ADDRESSED and not target:
            return
        prefs = preferences.get(recipient.recipient_id, DEFAULT_PREFERENCES)
        immediate = critical or channel in ALWAYS_IMMEDIATE or prefs.mode == "immediate"
        key = (recipient.recipient_id, channel)
        if key in intents:
            return
        intents[key] = DeliveryIntent(
            recipient_id=recipient.recipient_id,
            recipient_kind=recipient.kind,
            channel=channel,
            target=target,
            mode="immediate" if immediate else "digest",
            critical=critical,
            language=prefs.language,
            subscription_id=sub_id,
            reason=reason,
        )

    for rule in rule_set.for_type(event_type)[1]:
        if not rule.holds_for(event_data):
            continue
        for recipient in audience(rule.audience, event_data, recipients_directory):
            prefs = preferences.get(recipient.recipient_id, DEFAULT_PREFERENCES)
            for channel in rule.channels:
                allowed = prefs.channels is None or channel in prefs.channels or (critical and channel == INBOX)
                if allowed:
                    add(recipient, channel, recipient.address_for(channel), f"rule:{rule.id}", None)

    for sub in subscriptions:
        if not subscription_matches(sub, event_type, event_data, recipients_directory):
            continue
        if sub.channel in ENDPOINTS:
            recipient = endpoint_recipient(sub.subscription_id)
        else:
            owner = recipients_directory.get(sub.owner)
            if owner is None or owner.kind == "reporter":
                continue  # nobody to address, or a reporter, who never subscribes
            recipient = owner
        add(recipient, sub.channel, sub.target or recipient.address_for(sub.channel),
            f"subscription:{sub.subscription_id}", sub.subscription_id)

    return [intents[key] for key in sorted(intents)]
