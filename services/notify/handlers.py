"""Notify use cases: route events into deliveries (once per cause, recipient and channel), recipients,
subscriptions, preferences and the inbox. Each function runs in the caller's one transaction."""

from __future__ import annotations

import json
import logging
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import store
from services.notify.channels import OutgoingMessage, SendResult
from services.notify.channels.targets import check_webhook_target
from services.notify.context import NotifyContext
from services.notify.domain import (
    DEFAULT_PREFERENCES,
    DeliveryIntent,
    Directory,
    Preferences,
    Recipient,
    Subscription,
    notification_id,
    route,
    when_to_send,
)
from services.notify.domain.channels import INBOX, traits
from services.notify.domain.names import AwardEntry, Names, TipEntry, UnitEntry, names_of, referenced
from services.notify.domain.routing import (
    ALWAYS_IMMEDIATE,
    ENDPOINTS,
    default_approvers,
    event_area,
    event_unit,
    hidden_patterns,
)
from services.notify.policy import POLICY
from shared.areas import check_known_area, is_area_code, serves_intake_desk
from shared.auth import Principal
from shared.bus.consumer import Delivery
from shared.calendar import VN_TZ
from shared.contracts.events import (
    AwardProposed,
    NotificationDelivered,
    TipReceived,
    TipTriaged,
    UnitRegistered,
    UnitUpdated,
)
from shared.db import UnitOfWork, chunks
from shared.errors import Forbidden, Invalid, NotFound, safe_details

log = logging.getLogger(__name__)

EMAIL_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
PHONE_RE = re.compile(r"^\+?[0-9]{6,15}$")
DESK_PREFIX = "desk:"
LEADER_DESK_PREFIX = "leaders:"
# The shared inbox of the tips intake desk: tips with no area, read by the officers who work the desk. Apart from
# `desk:*` (events of no area, the national desk's), which only nationwide officers read.
INTAKE_DESK = f"{DESK_PREFIX}intake"
ALL_LEVELS = frozenset({"commune", "province"})


# --- recipients -----------------------------------------------------------------------------------------------
def recipient_id_for(principal: Principal) -> str:
    """The recipient a caller is: an officer (or admin) by subject, a unit by its unit, a system by subject."""
    if principal.role in ("officer", "admin"):
        return f"officer:{principal.sub}"
    if principal.role == "unit":
        if not principal.unit:
            raise Forbidden("a unit token must name its unit", code="forbidden_scope")
        return f"unit:{principal.unit}"
    if principal.role == "leader":
        return f"leader:{principal.sub}"
    return f"external:{principal.sub}"


def _caller_fields(principal: Principal) -> dict[str, Any]:
    if principal.role in ("officer", "admin"):
        return {"kind": "officer", "role": principal.role,
                "area_code": None if principal.role == "admin" else principal.area, "unit_id": None}
    if principal.role == "unit":
        return {"kind": "unit_contact", "role": None, "area_code": None, "unit_id": principal.unit}
    if principal.role == "leader":
        return {"kind": "leader", "role": None, "area_code": principal.area, "unit_id": None}
    return {"kind": "external", "role": None, "area_code": principal.area, "unit_id": None}


def caller_is_current(row: Mapping[Any, Any] | None, principal: Principal) -> bool:
    return row is not None and all(row[k] == v for k, v in _caller_fields(principal).items())


async def register_caller(uow: UnitOfWork, *, principal: Principal, now: datetime) -> str:
    """Create or refresh the caller's recipient row from the token (role, area, unit); contacts stay."""
    rid = recipient_id_for(principal)
    await store.upsert(uow.session, store.recipients, {"recipient_id": rid},
                       {**_caller_fields(principal), "updated_at": now})
    return rid


def approves_levels(role: str | None, area: str | None) -> frozenset[str]:
    """Award levels an officer reviews, from the token's scope: province officers the provincial awards,
    commune officers the commune ones, unscoped officers and admins both."""
    if role == "admin" or area is None:
        return ALL_LEVELS
    return frozenset({"commune"}) if "." in area else frozenset({"province"})


def recipient_from_row(row: Mapping[Any, Any]) -> Recipient:
    kind = row["kind"]
    if kind == "officer":
        return Recipient(recipient_id=row["recipient_id"], kind="officer", role=row["role"] or "officer",
                         area_code=row["area_code"], approves_levels=approves_levels(row["role"], row["area_code"]),
                         email=row["email"], phone=row["phone"])
    if kind == "unit_contact":
        return Recipient(recipient_id=row["recipient_id"], kind="unit_contact", unit_id=row["unit_id"],
                         email=row["email"], phone=row["phone"])
    if kind == "leader":
        return Recipient(recipient_id=row["recipient_id"], kind="leader", area_code=row["area_code"],
                         email=row["email"], phone=row["phone"])
    return Recipient(recipient_id=row["recipient_id"], kind="external", email=row["email"], phone=row["phone"])


def preferences_from_row(row: Mapping[Any, Any] | None) -> Preferences:
    if row is None or not row["preferences"]:
        return DEFAULT_PREFERENCES
    return Preferences.model_validate_json(row["preferences"])


@lru_cache(maxsize=8192)
def desk(area: str | None) -> Recipient:
    """The shared inbox of the officers of one area: every officer whose scope covers the area reads it.

    Officers are known to notify only once they have called its API; the desk makes an event reach the
    area's inbox even before any of them has, and gives each area one inbox row instead of one per officer.
    Recipients are immutable, so one per area is built and shared (routing asks for it for every event).
    """
    return Recipient(recipient_id=f"{DESK_PREFIX}{area or '*'}", kind="officer", role="officer", area_code=area,
                     approves_levels=ALL_LEVELS)


@lru_cache(maxsize=8192)
def leader_desk(level: str, area: str | None) -> Recipient:
    """The shared inbox of the leaders of one level for one area: every leader of that level whose area covers
    the area reads it (a ministry leader every area's). It approves the award levels approvers.yaml gives it."""
    return Recipient(recipient_id=f"{LEADER_DESK_PREFIX}{level}:{area or '*'}", kind="leader", area_code=area,
                     approves_levels=default_approvers().award_levels_of(level))


@lru_cache(maxsize=1)
def intake_desk() -> Recipient:
    """The intake desk's shared inbox: routing addresses it like any officer of no area."""
    return Recipient(recipient_id=INTAKE_DESK, kind="officer", role="officer", area_code=None,
                     approves_levels=frozenset())


# --- routing events -------------------------------------------------------------------------------------------
_DIRECTORY_KINDS = tuple(store.DIRECTORY)


class DirectoryView:
    """Notify's own directory (where tips and units are, whom awards are for) as one batch of events sees it:
    read in one statement per table, changed in memory in event order, written back in one or two statements
    per table. Each event therefore sees exactly what the events before it said, as if they were handled one
    at a time."""

    def __init__(self, session: AsyncSession):
        self.session = session
        self.rows: dict[str, dict[str, dict[str, Any] | None]] = {kind: {} for kind in _DIRECTORY_KINDS}
        self.stored: dict[str, set[str]] = {kind: set() for kind in _DIRECTORY_KINDS}
        self.dirty: dict[str, set[str]] = {kind: set() for kind in _DIRECTORY_KINDS}

    async def load(self, kind: str, keys: set[str]) -> None:
        missing = sorted(k for k in keys if k not in self.rows[kind])
        for k, row in (await store.directory_entries(session=self.session, kind=kind, ids=missing)).items():
            self.rows[kind][k] = dict(row)
            self.stored[kind].add(k)
        for k in missing:
            self.rows[kind].setdefault(k, None)

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        if key not in self.rows[kind]:
            await self.load(kind, {key})
        return self.rows[kind][key]

    async def put(self, kind: str, key: str, values: Mapping[str, Any]) -> None:
        """Insert or update one entry (the columns given; the others keep their value)."""
        columns = store.directory_columns(kind)
        current = await self.get(kind, key) or {c: None for c in columns} | {columns[0]: key}
        self.rows[kind][key] = {**current, **values}
        self.dirty[kind].add(key)

    async def save(self) -> None:
        for kind, keys in self.dirty.items():
            if not keys:
                continue
            entries = {k: row for k in keys if (row := self.rows[kind][k]) is not None}
            await store.save_directory(session=self.session, kind=kind,
                                       new=[entries[k] for k in sorted(keys - self.stored[kind])],
                                       changed=[entries[k] for k in sorted(keys & self.stored[kind])])
            self.stored[kind] |= keys
            keys.clear()


async def remember(event_type: str, data: Mapping[Any, Any], directory: DirectoryView, now: datetime) -> None:
    """Keep notify's own directory: where tips and units are, whom awards are for, and what to call each."""
    if event_type == TipReceived.TYPE:
        await directory.put("tip", str(data["tip_id"]), {
            "area_code": data.get("area_code"), "priority": data.get("priority"), "category": data.get("category"),
            "received_at": _instant(data.get("received_at")), "updated_at": now})
    elif event_type == TipTriaged.TYPE:
        values: dict[str, Any] = {"priority": data.get("priority"), "category": data.get("category"),
                                  "updated_at": now}
        if data.get("assigned_area"):
            values["area_code"] = data["assigned_area"]
        await directory.put("tip", str(data["tip_id"]), values)
    elif event_type == UnitRegistered.TYPE:
        await directory.put("unit", str(data["unit_id"]), {"area_code": data.get("area_code"),
                                                             "name": data.get("name"), "kind": data.get("kind"),
                                                             "updated_at": now})
    elif event_type == UnitUpdated.TYPE:
        changed = data.get("changed") or {}
        named = {column: changed[column] for column in ("area_code", "name", "kind")
                 if isinstance(changed.get(column), str)}
        if named:
            await directory.put("unit", str(data["unit_id"]), {**named, "updated_at": now})
    elif event_type == AwardProposed.TYPE:
        await directory.put("award", str(data["award_id"]), {
            "recipient_kind": data["recipient_kind"], "recipient_ref": data["recipient_ref"],
            "level": data.get("level"), "award_type": data.get("award_type"), "year": data.get("year"),
            "updated_at": now})


def _instant(value: object) -> datetime | None:
    """A JSON instant of an event's data (ISO 8601, "Z" for UTC) as a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else None


async def names_for(session: AsyncSession, datas: Iterable[Mapping[str, Any]]) -> Names:
    """The directory entries that the notices of these events' data name (units, tips, awards): read in a few
    statements for a whole page or digest, from notify's own tables only."""
    unit_ids: set[str] = set()
    tip_ids: set[str] = set()
    award_ids: set[str] = set()
    for data in datas:
        units, tips, awards = referenced(data)
        unit_ids |= units
        tip_ids |= tips
        award_ids |= awards
    award_rows = await store.directory_rows(session=session, table=store.award_directory, key="award_id",
                                            ids=award_ids)
    unit_ids |= {row["recipient_ref"] for row in award_rows.values() if row["recipient_kind"] == "unit"}
    unit_rows = await store.directory_rows(session=session, table=store.unit_directory, key="unit_id", ids=unit_ids)
    tip_rows = await store.directory_rows(session=session, table=store.tip_directory, key="tip_id", ids=tip_ids)
    return Names(
        units={k: UnitEntry(name=r["name"], kind=r["kind"], area_code=r["area_code"]) for k, r in unit_rows.items()},
        tips={k: TipEntry(category=r["category"], area_code=r["area_code"], received_at=r["received_at"])
              for k, r in tip_rows.items()},
        awards={k: AwardEntry(award_type=r["award_type"], year=r["year"], recipient_kind=r["recipient_kind"],
                              recipient_ref=r["recipient_ref"]) for k, r in award_rows.items()})


async def event_facts(data: Mapping[Any, Any], directory: DirectoryView) -> tuple[dict[str, Any], Directory]:
    """The event's data completed from the directory (priority of its tip, recipient of its award), and the
    directory entries routing needs to place it."""
    facts = dict(data)
    tip_areas: dict[str, str] = {}
    unit_areas: dict[str, str] = {}
    if facts.get("tip_id"):
        entry = await directory.get("tip", str(facts["tip_id"]))
        if entry is not None:
            if entry["area_code"]:
                tip_areas[str(facts["tip_id"])] = entry["area_code"]
            if entry["priority"] and "priority" not in facts:
                facts["priority"] = entry["priority"]
    if facts.get("award_id") and "recipient_ref" not in facts:
        award = await directory.get("award", str(facts["award_id"]))
        if award is not None:
            facts.update(recipient_kind=award["recipient_kind"], recipient_ref=award["recipient_ref"])
            if award["level"] and "level" not in facts:
                facts["level"] = award["level"]
    unit_id = event_unit(facts)
    if unit_id:
        unit = await directory.get("unit", unit_id)
        if unit is not None and unit["area_code"]:
            unit_areas[unit_id] = unit["area_code"]
    return facts, Directory(unit_areas=unit_areas, tip_areas=tip_areas)


def subscription_from_row(row: Mapping[Any, Any]) -> Subscription:
    return Subscription(subscription_id=row["subscription_id"], owner=row["owner"],
                        event_types=tuple(json.loads(row["event_types"])), area_code=row["area_code"],
                        unit_id=row["unit_id"], min_priority=row["min_priority"], channel=row["channel"],
                        target=row["target"])


class BatchAudience:
    """Who can be addressed, read once per batch: officers, subscriptions, and the recipients they name."""

    def __init__(self, session: AsyncSession):
        self.session = session
        self.rows: dict[str, Mapping[Any, Any] | None] = {}
        self.preferences: dict[str, Preferences] = {}
        self.subs: list[Subscription] = []
        self.base: list[Recipient] = []  # officers, then the subscribers that are not officers
        self.base_ids: set[str] = set()
        # Per batch: the recipients each unit adds (its contact), and the leaders' desks of each area.
        self.unit_recipients: dict[str, list[Recipient]] = {}
        self.leader_levels = default_approvers().leader_levels

    async def load(self, unit_ids: set[str]) -> None:
        officer_rows = await store.officers(session=self.session)
        self.subs = [subscription_from_row(r) for r in await store.all_subscriptions(session=self.session)]
        owners = {s.owner for s in self.subs if s.channel not in ENDPOINTS}
        await self._fetch(owners | {f"unit:{u}" for u in unit_ids})
        for row in officer_rows:
            self.rows[row["recipient_id"]] = row
            self._note_preferences(row)
        self.base = [recipient_from_row(r) for r in officer_rows]
        self.base += [recipient_from_row(r) for rid in sorted(owners) if (r := self.rows.get(rid)) is not None
                      and r["kind"] != "officer"]
        self.base_ids = {r.recipient_id for r in self.base} | owners

    async def _fetch(self, ids: set[str]) -> None:
        missing = sorted(i for i in ids if i not in self.rows)
        for chunk in chunks(missing):
            for rid, row in (await store.recipients_by_id(session=self.session, ids=chunk)).items():
                self.rows[rid] = row
                self._note_preferences(row)
        for rid in missing:
            self.rows.setdefault(rid, None)

    def _note_preferences(self, row: Mapping[Any, Any]) -> None:
        if row["preferences"] and row["recipient_id"] not in self.preferences:
            self.preferences[row["recipient_id"]] = preferences_from_row(row)

    async def for_event(self, unit_id: str | None, area: str | None, *, intake: bool = False) -> list[Recipient]:
        """Who may be addressed for one event; `intake`: a tip with no area, for the intake desk's inbox."""
        known = list(self.base)
        if unit_id and f"unit:{unit_id}" not in self.base_ids:
            if unit_id not in self.unit_recipients:
                rid = f"unit:{unit_id}"
                await self._fetch({rid})
                row = self.rows[rid]
                if row is None:
                    self.unit_recipients[unit_id] = [Recipient(recipient_id=rid, kind="unit_contact", unit_id=unit_id)]
                else:
                    self.unit_recipients[unit_id] = [recipient_from_row(row)] if row["kind"] != "officer" else []
            known += self.unit_recipients[unit_id]
        known.append(intake_desk() if intake else desk(area))
        known.extend(leader_desk(level, area) for level in self.leader_levels)
        return known


Routed = tuple[Delivery, dict[str, Any], str | None, str | None, list[DeliveryIntent]]


async def intake(deliveries: list[Delivery], uow: UnitOfWork, ctx: NotifyContext) -> list[str]:
    """Route a batch of events into delivery rows, in the consumer's transaction; returns the new notification ids.

    Each event is routed as if alone, in stream order (see DirectoryView), but the batch reads and writes the
    database with a few statements in all. The notification id is derived from (cause event, recipient,
    channel) and is the table's key, so an event that arrives again creates nothing new. Inbox rows are
    delivered here and now; the others wait for the delivery worker at the time `when_to_send` gives (now,
    after quiet hours, or with the digest).
    """
    session = uow.session
    now = ctx.now()
    # Only the catalogue's fields: whatever else a producer put in the event never reaches notify's tables.
    datas = [d.data.model_dump(mode="json", exclude_none=True) for d in deliveries]
    directory = DirectoryView(session)
    await directory.load("tip", {str(x["tip_id"]) for x in datas if x.get("tip_id")})
    await directory.load("award", {str(x["award_id"]) for x in datas if x.get("award_id")})
    units = {u for x in datas if (u := event_unit(x))}
    units |= {str(a["recipient_ref"]) for a in directory.rows["award"].values()
              if a is not None and a["recipient_kind"] == "unit"}
    await directory.load("unit", units)
    audience = BatchAudience(session)
    await audience.load(units)

    routed: list[Routed] = []
    for delivery, data in zip(deliveries, datas, strict=True):
        event_type = delivery.event_type
        await remember(event_type, data, directory, now)
        facts, places = await event_facts(data, directory)
        area = event_area(facts, places)
        unit_id = event_unit(facts)
        # A tip with no area waits at the intake desk (an escalation says its own level, maybe the national desk).
        intake = area is None and bool(facts.get("tip_id")) and not facts.get("escalated_at")
        known = await audience.for_event(unit_id, area, intake=intake)
        places = Directory(recipients=tuple(known), unit_areas=places.unit_areas, tip_areas=places.tip_areas,
                           intake_desk=ctx.intake_desk)
        intents = [
            i for i in route(event_type, facts, audience.subs, places, audience.preferences, rules=ctx.rules)
            if i.channel in ctx.configured
            # An officer reads the inbox of every area they cover (the desk); a rule's personal copy would
            # repeat it.
            and not (i.channel == INBOX and i.recipient_id.startswith("officer:") and i.subscription_id is None)
        ]
        if intents:
            routed.append((delivery, data, area, unit_id, intents))
    await directory.save()
    if not routed:
        return []
    await _store_causes(session, routed, now)
    return await _store_deliveries(uow, ctx, routed, audience, now)


async def _store_causes(session: AsyncSession, routed: Sequence[Routed], now: datetime) -> None:
    """Keep the cause events the deliveries are rendered from later (once each)."""
    stored = await store.stored_cause_ids(session=session, event_ids=[d.event_id for d, *_ in routed])
    await store.insert_cause_events(session=session, rows=[
        {"event_id": d.event_id, "event_type": d.event_type, "source": d.envelope.source,
         "subject": d.envelope.subject, "time": d.envelope.time, "data": json.dumps(data), "received_at": now}
        for d, data, *_ in routed if d.event_id not in stored])


async def _store_deliveries(uow: UnitOfWork, ctx: NotifyContext, routed: Sequence[Routed], audience: BatchAudience,
                            now: datetime) -> list[str]:
    """One delivery row per new (cause, recipient, channel): inbox rows delivered now, the others scheduled."""
    planned = [(notification_id(d.event_id, i.recipient_id, i.channel), i, d, area, unit_id)
               for d, _data, area, unit_id, intents in routed for i in intents]
    existing: set[str] = set()
    for chunk in chunks([p[0] for p in planned]):
        existing |= await store.existing_notification_ids(session=uow.session, ids=chunk)
    rows: list[dict[str, Any]] = []
    for nid, intent, delivery, area, unit_id in planned:
        if nid in existing:
            continue
        existing.add(nid)
        prefs = audience.preferences.get(intent.recipient_id, DEFAULT_PREFERENCES)
        row = _delivery_row(nid, intent, delivery, area=area, unit_id=unit_id, now=now)
        if intent.channel == INBOX:
            # The notice's text is rendered when the inbox is read (from the stored cause event, in the row's
            # language): most notices are never read one by one, so routing does not render them.
            row.update(status="delivered", attempts=1, delivered_at=now, provider="inbox")
            uow.emit(NotificationDelivered(notification_id=nid, channel=INBOX, cause_event_id=delivery.event_id))
            ctx.metrics.delivered(INBOX, (now - delivery.envelope.time).total_seconds())
        else:
            parked = intent.mode == "digest" and not intent.critical and intent.channel not in ALWAYS_IMMEDIATE
            row.update(status="digest" if parked else "pending", next_attempt_at=when_to_send(intent, prefs, now))
        rows.append(row)
    await store.insert_deliveries(session=uow.session, rows=rows)
    return [row["notification_id"] for row in rows]


async def inbox_texts(ctx: NotifyContext, session: AsyncSession,
                      rows: Sequence[Mapping[Any, Any]]) -> dict[str, tuple[str, str, str | None]]:
    """(title, body, console link) of each inbox notification: its stored text, else rendered from its cause
    event in the row's language, with the names notify's directory holds now (one statement for the page's
    directory entries). A cause event is read once per process (it never changes once stored), and a notice is
    rendered again only when the directory entries it names changed (`ctx.notices`)."""
    out: dict[str, tuple[str, str, str | None]] = {}
    pending = [row for row in rows if row["title"] is None]
    for row in rows:
        if row["title"] is not None:
            out[row["notification_id"]] = (row["title"], row["body"] or "", None)
    wanted = {row["cause_event_id"] for row in pending}
    causes = {event_id: envelope for event_id in wanted
              if (envelope := ctx.cause_events.get(event_id)) is not None}
    if len(causes) < len(wanted):
        for event_id, envelope in (await store.cause_events_by_id(session=session,
                                                                  event_ids=wanted - causes.keys())).items():
            ctx.cause_events.put(event_id, envelope)
            causes[event_id] = envelope
    names = await names_for(session, [envelope["data"] for envelope in causes.values()])
    for row in pending:
        envelope = causes.get(row["cause_event_id"])
        if envelope is None:
            log.warning("inbox notice %s could not be rendered: cause event not stored", row["notification_id"])
            out[row["notification_id"]] = (row["event_type"], "", None)
            continue
        key = (row["cause_event_id"], row["event_type"], row["language"], names_of(envelope["data"], names))
        text = ctx.notices.get(key)
        if text is None:
            try:
                rendered = ctx.templates.render(row["event_type"], INBOX, row["language"], envelope, names)
                text = (rendered.subject or "", rendered.text, rendered.link)
                ctx.notices.put(key, text)
            except Exception:  # a notice that cannot be rendered still shows what it is about
                log.warning("inbox notice %s could not be rendered", row["notification_id"], exc_info=True)
                text = (row["event_type"], "", None)
        out[row["notification_id"]] = text
    return out


def _delivery_row(nid: str, intent: DeliveryIntent, delivery: Delivery, *, area: str | None, unit_id: str | None,
                  now: datetime) -> dict[str, Any]:
    return {
        "notification_id": nid, "cause_event_id": delivery.event_id, "event_type": delivery.event_type,
        "event_time": delivery.envelope.time, "recipient_id": intent.recipient_id,
        "recipient_kind": intent.recipient_kind, "channel": intent.channel, "target": intent.target,
        "subscription_id": intent.subscription_id, "reason": intent.reason[:200], "language": intent.language,
        "mode": intent.mode, "critical": intent.critical, "area_code": area, "unit_id": unit_id,
        "status": "pending", "attempts": 0, "next_attempt_at": None, "last_error": None, "provider": None,
        "digest_id": None, "title": None, "body": None, "created_at": now, "delivered_at": None, "failed_at": None,
    }


# --- subscriptions --------------------------------------------------------------------------------------------
def check_area(value: str | None, field: str) -> None:
    if value is not None and not is_area_code(value):
        raise Invalid(f"{field} must be an area code such as 79 or 79.26743", code="invalid_area_code")
    check_known_area(value, field)


def check_configured(ctx: NotifyContext, channel: str, *, where: str = " in this deployment") -> None:
    if channel not in ctx.configured:
        raise Invalid(f"the {channel} channel is not configured{where}", code="channel_unavailable",
                      details={"configured": sorted(ctx.configured)})


async def _authorize_subscription(session: AsyncSession, principal: Principal, *, channel: str,
                                  area: str | None, unit_id: str | None) -> None:
    """Officers subscribe within their area, to units notify knows there; units to their own unit; channels that
    call an address the subscriber chose (webhooks) are for officers and admins."""
    if principal.role == "unit" or area is not None or unit_id is None:
        POLICY.authorize(principal, "subscriptions.create", area=area, unit=unit_id)
    unit_area = None
    if unit_id is not None and principal.role != "unit":
        # The unit must lie in the caller's area where the units events put it, whatever the caller says.
        known = await store.get_unit(session=session, unit_id=unit_id)
        if known is None:
            raise Invalid(f"unit {unit_id!r} is not known to notify (no units event named it yet)",
                          code="unit_not_known")
        unit_area = known["area_code"]
        POLICY.authorize(principal, "subscriptions.create", area=unit_area, unit=unit_id)
    if traits(channel).target == "url":
        POLICY.authorize(principal, "subscriptions.webhook", area=area or unit_area, unit=unit_id)


async def check_target(channel: str, target: str | None, ctx: NotifyContext) -> None:
    """A subscription's target is what its channel's traits say: an http(s) URL webhooks may reach (always
    needed), an email address, a phone number (else the recipient's own), or nothing (the inbox)."""
    kind = traits(channel).target
    if kind == "url":
        if not target or not re.match(r"^https?://[^\s/]+", target):
            raise Invalid(f"a {channel} subscription needs an http(s) URL as target", code="invalid_target")
        await check_webhook_target(target, ctx.webhook_networks)
    elif kind is None and target is not None:
        raise Invalid(f"an {channel} subscription has no target", code="invalid_target")
    elif target is None:
        return
    elif kind == "email" and not EMAIL_RE.match(target):
        raise Invalid("target is not an email address", code="invalid_target")
    elif kind == "phone" and not PHONE_RE.match(target):
        raise Invalid("target is not a phone number (digits, optional leading +)", code="invalid_target")


async def create_subscription(uow: UnitOfWork, ctx: NotifyContext, *, principal: Principal,
                              body: Mapping[Any, Any]) -> tuple[Mapping[Any, Any], str | None]:
    """A new subscription of the caller. Officers subscribe within their area, to units notify knows there;
    units to their own unit; units and agencies only to events they may read; webhooks are for officers and
    admins, to allowed addresses. A webhook subscription gets a signing secret, returned here once and never
    again, and stored sealed."""
    session = uow.session
    now = ctx.now()
    channel = body["channel"]
    check_configured(ctx, channel)
    unit_id = body.get("unit_id")
    if principal.role == "unit" and unit_id is None:
        unit_id = principal.unit
    area = body.get("area_code")
    check_area(area, "area_code")
    await _authorize_subscription(session, principal, channel=channel, area=area, unit_id=unit_id)
    hidden = hidden_patterns(principal.role, [str(p) for p in body["event_types"]])
    if hidden:
        raise Forbidden(f"a {principal.role} token may not subscribe to these events: they may match events it "
                        "may not read (tips, and for agencies awards)", code="event_types_not_allowed",
                        details={"event_types": hidden})
    owner = recipient_id_for(principal)
    await register_caller(uow, principal=principal, now=now)
    target = body.get("target")
    await check_target(channel, target, ctx)
    subscription_id = str(uuid.uuid4())
    try:
        sub = Subscription(subscription_id=subscription_id, owner=owner, event_types=tuple(body["event_types"]),
                           area_code=area, unit_id=unit_id, min_priority=body.get("min_priority"), channel=channel,
                           target=target)
    except ValidationError as exc:
        raise Invalid("the subscription is not valid", code="invalid_subscription",
                      details=safe_details(exc)) from None
    secret = secrets.token_urlsafe(32) if traits(channel).message == "cloudevent" else None
    await store.insert_subscription(session=session, values={
        "subscription_id": sub.subscription_id, "owner": owner, "event_types": json.dumps(list(sub.event_types)),
        "area_code": sub.area_code, "unit_id": sub.unit_id, "min_priority": sub.min_priority,
        "channel": sub.channel, "target": sub.target, "created_at": now,
        "secret": None if secret is None else ctx.secrets.seal_secret(secret, subscription_id=subscription_id)})
    row = await store.get_subscription(session=session, subscription_id=subscription_id)
    assert row is not None
    return row, secret


def visible_owner(principal: Principal) -> str | None:
    """Whose subscriptions the caller sees: their own; an admin everybody's (None)."""
    return None if principal.role == "admin" else recipient_id_for(principal)


async def delete_matching_subscriptions(uow: UnitOfWork, *, principal: Principal, subscription_id: str | None,
                                        event_types: Sequence[str] | None,
                                        fields: Mapping[str, str | None]) -> list[str]:
    """Delete the subscriptions that match all the criteria given: its id, its event types compared as a set,
    and each column in `fields` (a None value matches a subscription without that field). By id: the caller's
    own (admin: any); by fields alone: only the caller's own, admins included, so that "unsubscribe me" never
    removes somebody else's subscription. Returns the deleted ids, oldest first; 404 when nothing matched."""
    owner = recipient_id_for(principal)
    rows = list(await store.matching_subscriptions(
        session=uow.session, subscription_id=subscription_id,
        owner=visible_owner(principal) if subscription_id is not None else owner, fields=fields))
    if event_types is not None:
        wanted = set(event_types)
        rows = [row for row in rows if set(json.loads(row["event_types"])) == wanted]
    if not rows:
        raise NotFound("no such subscription of yours", code="subscription_not_found")
    for row in rows:
        POLICY.authorize(principal, "subscriptions.delete", owner=principal.sub if row["owner"] == owner else None)
    deleted = [str(row["subscription_id"]) for row in rows]
    await store.delete_subscriptions(session=uow.session, ids=deleted)
    return deleted


# --- preferences ----------------------------------------------------------------------------------------------
def _check_contacts(email: str | None, phone: str | None) -> None:
    if email is not None and not EMAIL_RE.match(email):
        raise Invalid("email is not an email address", code="invalid_email")
    if phone is not None and not PHONE_RE.match(phone):
        raise Invalid("phone must be digits with an optional leading +", code="invalid_phone")


async def put_preferences(uow: UnitOfWork, *, principal: Principal, body: Mapping[Any, Any],
                          now: datetime) -> Mapping[Any, Any]:
    email, phone = body.get("email"), body.get("phone")
    _check_contacts(email, phone)
    tz = body.get("timezone") or DEFAULT_PREFERENCES.timezone
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown timezone {tz!r}", code="invalid_timezone") from None
    fields = {k: body[k] for k in ("channels", "language", "mode", "quiet_hours", "digest_at") if
              body.get(k) is not None}
    try:
        prefs = Preferences.model_validate({**fields, "timezone": tz})
    except ValidationError as exc:
        raise Invalid("the preferences are not valid", code="invalid_preferences",
                      details=safe_details(exc)) from None
    rid = await register_caller(uow, principal=principal, now=now)
    await store.upsert(uow.session, store.recipients, {"recipient_id": rid},
                       {"email": email, "phone": phone, "preferences": prefs.model_dump_json(), "updated_at": now})
    row = await store.get_recipient(session=uow.session, recipient_id=rid)
    assert row is not None
    return row


def preferences_view(row: Mapping[Any, Any] | None) -> dict[str, Any]:
    prefs = preferences_from_row(row)
    quiet = prefs.quiet_hours
    return {
        "channels": sorted(prefs.channels) if prefs.channels is not None else None,
        "language": prefs.language, "mode": prefs.mode,
        "quiet_hours": {"start": quiet.start.strftime("%H:%M"), "end": quiet.end.strftime("%H:%M")} if quiet else None,
        "digest_at": prefs.digest_at.strftime("%H:%M"), "timezone": prefs.timezone,
        "email": row["email"] if row else None, "phone": row["phone"] if row else None,
    }


def parse_hhmm(value: str | None) -> time | None:
    if value is None:
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{value!r} is not a time of day (HH:MM)", code="invalid_time") from None


# --- the inbox ------------------------------------------------------------------------------------------------
def inbox_scope(principal: Principal, intake_desk: str | None = None) -> store.InboxScope:
    """The caller's inbox: what was addressed to them; for officers the desks of the areas they cover, and the desk
    of the events with no area when they work the intake desk (`intake_desk`: its configured area); for leaders the
    desks of their level for the areas they lead."""
    reader = recipient_id_for(principal)
    if principal.role == "leader" and principal.level:
        return store.InboxScope(reader=reader, desk_prefix=f"{LEADER_DESK_PREFIX}{principal.level}:",
                                area=principal.area)
    if principal.role not in ("officer", "admin"):
        return store.InboxScope(reader=reader)
    if principal.role == "officer" and principal.area is not None:
        desk_of_intake = INTAKE_DESK if serves_intake_desk(principal.area, intake_desk) else None
        return store.InboxScope(reader=reader, desk_prefix=DESK_PREFIX, area=principal.area,
                                intake_desk=desk_of_intake)
    return store.InboxScope(reader=reader, desk_prefix=DESK_PREFIX)


async def inbox_page(ctx: NotifyContext, *, principal: Principal, unread: bool | None,
                     after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
    """A page of the caller's inbox (`limit` items at most, newest first), each with its title, body and
    console link. Reading writes nothing."""
    async with ctx.db.read() as session:
        rows = await store.inbox_page(session=session, scope=inbox_scope(principal, ctx.intake_desk),
                                      unread=unread, after=after, limit=limit)
        shown = rows[:limit]
        texts = await inbox_texts(ctx, session, shown)
    items = []
    for row in shown:
        title, body, link = texts[row["notification_id"]]
        items.append({**row, "title": title, "body": body, "link": link})
    return items


async def mark_read(uow: UnitOfWork, *, principal: Principal, notification_id: str, now: datetime,
                    intake_desk: str | None = None) -> None:
    scope = inbox_scope(principal, intake_desk)
    if not await store.in_inbox(session=uow.session, scope=scope, notification_id=notification_id):
        raise NotFound("no such notification in your inbox", code="notification_not_found")
    await store.mark_read(session=uow.session, notification_id=notification_id, reader=scope.reader, now=now)


# --- channels -------------------------------------------------------------------------------------------------
async def send_test_message(ctx: NotifyContext, *, principal: Principal, channel: str, target: str | None,
                       secret: str | None) -> SendResult:
    """Send a test message through a configured channel now; a delivered inbox test lands in the caller's
    inbox. Raises the channel's DeliveryError when it could not deliver."""
    check_configured(ctx, channel, where="")
    kind = traits(channel).target
    if kind is not None and not target:
        raise Invalid("a target is needed for this channel", code="invalid_target")
    if kind == "url" and target:
        await check_webhook_target(target, ctx.webhook_networks)
    now = ctx.now()
    test_id = f"test-{uuid.uuid4()}"
    local = now.astimezone(VN_TZ)
    text = f"ANTQ: tin nhắn thử / test message ({local:%Y-%m-%d %H:%M}, giờ Việt Nam / Vietnam time)"
    subject = "ANTQ: thư thử / test message"
    payload = json.dumps({"specversion": "1.0", "id": test_id, "source": "antq/notify", "type": "antq.notify.test",
                          "time": now.isoformat(), "data": {"message": "test"}}, separators=(",", ":")).encode()
    message = OutgoingMessage(notification_id=test_id, channel=channel, recipient_id=recipient_id_for(principal),
                              target=target, subject=subject, text=text, html=f"<p>{text}</p>", body=payload,
                              secret=secret)
    result = await ctx.channels.get(channel).send(message)
    if channel == INBOX:
        async with ctx.db.unit_of_work() as uow:
            await store.insert_delivery(session=uow.session, values={
                "notification_id": test_id, "cause_event_id": test_id, "event_type": "antq.notify.test",
                "event_time": now, "recipient_id": recipient_id_for(principal), "recipient_kind": "officer",
                "channel": INBOX, "target": None, "subscription_id": None, "reason": "channel test",
                "language": "vi", "mode": "immediate", "critical": False, "area_code": None, "unit_id": None,
                "status": "delivered", "attempts": 1, "next_attempt_at": None, "last_error": None,
                "provider": "inbox", "digest_id": None, "title": subject, "body": text, "created_at": now,
                "delivered_at": now, "failed_at": None})
    return result
