"""Notify HTTP routes: the inbox, subscriptions, preferences, the delivery log and channel tests."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, and_, insert, or_, select

from services.notify import store
from services.notify.channels import (
    ChannelRegistry,
    DeliveryError,
    OutgoingMessage,
)
from services.notify.channels.targets import check_webhook_target
from services.notify.handlers import (
    NotifyContext,
    caller_is_current,
    create_subscription,
    delete_matching_subscriptions,
    inbox_filter,
    inbox_texts,
    mark_read,
    parse_hhmm,
    preferences_view,
    put_preferences,
    recipient_id_for,
    register_caller,
    visible_subscriptions,
)
from services.notify.policy import POLICY
from shared.auth import Principal
from shared.calendar import VN_TZ
from shared.errors import Invalid
from shared.http import (
    ERROR_RESPONSES,
    LIMIT_SCHEMA,
    Page,
    bearer_principal,
    clamp_limit,
    decode_time_cursor,
    encode_cursor,
)
from shared.service import Service

router = APIRouter()

ChannelName = Literal["inbox", "email", "webhook", "sms"]
DeliveryStatus = Literal["pending", "digest", "digested", "delivered", "failed"]


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def _ctx(request: Request) -> NotifyContext:
    return request.app.state.notify  # type: ignore[no-any-return]


async def authorized(request: Request, action: str, **scope: Any) -> Principal:
    """Authorise the caller, then keep their recipient row current (role, area, unit from the token)."""
    principal = POLICY.authorize(bearer_principal(request), action, **scope)
    assert principal is not None
    service = _service(request)
    async with service.db.read() as session:
        row = await store.get_recipient(session=session, recipient_id=recipient_id_for(principal))
    if not caller_is_current(row, principal):
        async with service.db.unit_of_work() as uow:
            await register_caller(uow, principal=principal, now=_ctx(request).clock())
    return principal


def with_role(request: Request, action: str) -> Principal:
    """The caller, when their role may do `action` at all; the scope is checked once the resource is known."""
    return POLICY.require_caller(bearer_principal(request), action)


def _page_after(query: Select[Any], created: Any, key: Any, cursor: str | None, size: int) -> Select[Any]:
    after = decode_time_cursor(cursor)
    if after is not None:
        query = query.where(or_(created < after[0], and_(created == after[0], key < after[1])))
    return query.order_by(created.desc(), key.desc()).limit(size + 1)


# --- inbox ----------------------------------------------------------------------------------------------------
class InboxItem(BaseModel):
    notification_id: str
    event_type: str
    cause_event_id: str
    title: str
    body: str
    link: str | None = Field(default=None, description="the console page of what the notification is about")
    critical: bool
    area_code: str | None
    unit_id: str | None
    created_at: datetime
    read_at: datetime | None


@router.get("/inbox", response_model=Page[InboxItem], tags=["inbox"], responses=ERROR_RESPONSES,
            summary="The caller's notifications, newest first (officers: every area they cover)")
async def get_inbox(request: Request, limit: int | None = Query(default=None, json_schema_extra=LIMIT_SCHEMA),
                    cursor: str | None = None, unread: bool | None = None) -> Page[InboxItem]:
    principal = await authorized(request, "inbox.read")
    size = clamp_limit(limit)
    reader = recipient_id_for(principal)
    d, r = store.deliveries.c, store.inbox_reads.c
    query = (select(store.deliveries, r.read_at)
             .outerjoin(store.inbox_reads, and_(r.notification_id == d.notification_id, r.reader == reader))
             .where(inbox_filter(principal, _ctx(request).intake_desk)))
    if unread is not None:
        query = query.where(r.read_at.is_(None) if unread else r.read_at.is_not(None))
    query = _page_after(query, d.created_at, d.notification_id, cursor, size)
    async with _service(request).db.read() as session:
        rows = (await session.execute(query)).mappings().all()  # up to size + 1 (_page_after)
        texts = await inbox_texts(session, rows[:size], _ctx(request).templates)
    items = [InboxItem(notification_id=row["notification_id"], event_type=row["event_type"],
                       cause_event_id=row["cause_event_id"], title=texts[row["notification_id"]][0],
                       body=texts[row["notification_id"]][1], link=texts[row["notification_id"]][2],
                       critical=row["critical"], area_code=row["area_code"],
                       unit_id=row["unit_id"], created_at=row["created_at"], read_at=row["read_at"])
             for row in rows[:size]]
    next_cursor = None
    if len(rows) > size:
        next_cursor = encode_cursor([items[-1].created_at.isoformat(), items[-1].notification_id])
    return Page[InboxItem](items=items, next_cursor=next_cursor)


@router.post("/inbox/{notification_id}/read", status_code=204, tags=["inbox"], responses=ERROR_RESPONSES,
             summary="Mark a notification of the caller's inbox read", response_class=Response)
async def post_read(notification_id: str, request: Request) -> Response:
    principal = await authorized(request, "inbox.mark_read")
    async with _service(request).db.unit_of_work() as uow:
        await mark_read(uow, principal=principal, notification_id=notification_id, now=_ctx(request).clock(),
                        intake_desk=_ctx(request).intake_desk)
    return Response(status_code=204)


# --- subscriptions --------------------------------------------------------------------------------------------
# An event type or pattern (shared.contracts: letters, digits, `_`, `-` between dots); `*` is one token, a final
# `*` or `>` one or more (services.notify.domain.patterns).
TypePattern = Annotated[str, Field(max_length=200, pattern=r"^(?:(?:[A-Za-z0-9_-]+|\*)\.)*(?:[A-Za-z0-9_-]+|\*|>)$")]


class SubscriptionIn(BaseModel):
    event_types: list[TypePattern] = Field(min_length=1, max_length=50,
                                   description="event types or patterns: antq.tips.*, antq.*.TipReceived.v1")
    area_code: str | None = Field(default=None, max_length=64)
    unit_id: str | None = Field(default=None, max_length=64)
    min_priority: Literal["normal", "urgent"] | None = None
    channel: ChannelName
    target: str | None = Field(default=None, max_length=2000, description="email address, phone or URL")


class SubscriptionOut(BaseModel):
    subscription_id: str
    owner: str
    event_types: list[str]
    area_code: str | None
    unit_id: str | None
    min_priority: str | None
    channel: str
    target: str | None
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(default=None, description="webhooks only: the HMAC signing secret, shown once")


def _subscription(row: Any) -> dict[str, Any]:
    return {k: (json.loads(row[k]) if k == "event_types" else row[k]) for k in SubscriptionOut.model_fields}


@router.get("/subscriptions", response_model=Page[SubscriptionOut], tags=["subscriptions"],
            responses=ERROR_RESPONSES, summary="The caller's subscriptions (admin: every subscription)")
async def list_subscriptions(request: Request, limit: int | None = Query(default=None, json_schema_extra=LIMIT_SCHEMA),
                             cursor: str | None = None) -> Page[SubscriptionOut]:
    principal = await authorized(request, "subscriptions.list")
    size = clamp_limit(limit)
    s = store.subscriptions.c
    query = _page_after(select(store.subscriptions).where(visible_subscriptions(principal)), s.created_at,
                        s.subscription_id, cursor, size)
    async with _service(request).db.read() as session:
        rows = (await session.execute(query)).mappings().all()
    items = [SubscriptionOut.model_validate(_subscription(r)) for r in rows[:size]]
    next_cursor = None
    if len(rows) > size:
        next_cursor = encode_cursor([items[-1].created_at.isoformat(), items[-1].subscription_id])
    return Page[SubscriptionOut](items=items, next_cursor=next_cursor)


@router.post("/subscriptions", status_code=201, response_model=SubscriptionCreated, tags=["subscriptions"],
             responses=ERROR_RESPONSES,
             summary="Subscribe to events (officers within their area; a webhook's secret is shown once)")
async def post_subscription(body: SubscriptionIn, request: Request) -> SubscriptionCreated:
    principal = with_role(request, "subscriptions.create")  # the scope is checked once the area is known
    async with _service(request).db.unit_of_work() as uow:
        row, secret = await create_subscription(
            uow, principal=principal, body=body.model_dump(), channels=_ctx(request).channels,
            now=_ctx(request).clock(), secret_keys=request.app.state.notify_secrets,
            webhook_networks=_ctx(request).webhook_networks)
    return SubscriptionCreated.model_validate({**_subscription(row), "secret": secret})


class SubscriptionSelector(BaseModel):
    """Which of the caller's subscriptions to delete: every criterion given must match."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field must not widen what is deleted

    subscription_id: str | None = Field(default=None, max_length=64, description="delete this subscription")
    event_types: list[TypePattern] | None = Field(default=None, min_length=1, max_length=50,
                                          description="the subscription's event types, compared as a set")
    area_code: str | None = Field(default=None, max_length=64, description="given (even null): must be equal")
    unit_id: str | None = Field(default=None, max_length=64, description="given (even null): must be equal")
    min_priority: Literal["normal", "urgent"] | None = Field(default=None,
                                                             description="given (even null): must be equal")
    channel: ChannelName | None = None
    target: str | None = Field(default=None, max_length=2000, description="given (even null): must be equal")


class SubscriptionsDeleted(BaseModel):
    deleted: list[str] = Field(description="the ids of the deleted subscriptions, oldest first")


_MATCHED_FIELDS = ("area_code", "unit_id", "min_priority", "channel", "target")


@router.delete("/subscriptions", response_model=SubscriptionsDeleted, tags=["subscriptions"],
               responses=ERROR_RESPONSES,
               summary="Unsubscribe: delete the caller's subscription(s) by id (admin: any), or by the fields "
                       "they were created with (the caller's own only)")
async def remove_subscriptions(request: Request, subscription_id: str | None = Query(default=None, max_length=64),
                               body: SubscriptionSelector | None = None) -> SubscriptionsDeleted:
    principal = with_role(request, "subscriptions.delete")  # ownership is checked with the rows
    selector = body or SubscriptionSelector()
    if subscription_id is not None and selector.subscription_id not in (None, subscription_id):
        raise Invalid("the query and the body name different subscriptions", code="conflicting_subscription_id")
    chosen = subscription_id or selector.subscription_id
    if chosen is None and (selector.event_types is None or selector.channel is None):
        raise Invalid("name the subscription: subscription_id (query or body), or its event_types and channel",
                      code="missing_selector")
    # A field given matches exactly, null included ("area_code": null: the subscriptions without an area); a
    # field left out matches anything. A channel is never null, so a null one means "not given".
    fields = {name: getattr(selector, name) for name in _MATCHED_FIELDS
              if name in selector.model_fields_set and (name != "channel" or selector.channel is not None)}
    async with _service(request).db.unit_of_work() as uow:
        deleted = await delete_matching_subscriptions(uow, principal=principal, subscription_id=chosen,
                                                      event_types=selector.event_types, fields=fields)
    return SubscriptionsDeleted(deleted=deleted)


@router.delete("/subscriptions/{subscription_id}", status_code=204, tags=["subscriptions"],
               responses=ERROR_RESPONSES, summary="Delete one of the caller's subscriptions",
               response_class=Response)
async def remove_subscription(subscription_id: str, request: Request) -> Response:
    principal = with_role(request, "subscriptions.delete")  # ownership is checked with the row
    async with _service(request).db.unit_of_work() as uow:
        await delete_matching_subscriptions(uow, principal=principal, subscription_id=subscription_id,
                                            event_types=None, fields={})
    return Response(status_code=204)


# --- preferences ----------------------------------------------------------------------------------------------
class QuietHoursBody(BaseModel):
    start: str = Field(description="HH:MM local time", examples=["22:00"])
    end: str = Field(description="HH:MM local time; before start means the window spans midnight",
                     examples=["06:00"])


class PreferencesBody(BaseModel):
    channels: list[ChannelName] | None = Field(default=None, description="null: every channel the rules pick")
    language: Literal["vi", "en"] = "vi"
    mode: Literal["immediate", "digest"] = "immediate"
    quiet_hours: QuietHoursBody | None = None
    digest_at: str | None = Field(default=None, description="HH:MM local time of the daily digest (07:00)")
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone (Asia/Ho_Chi_Minh)")
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)


class PreferencesOut(BaseModel):
    channels: list[str] | None
    language: str
    mode: str
    quiet_hours: QuietHoursBody | None
    digest_at: str
    timezone: str
    email: str | None
    phone: str | None


@router.get("/preferences", response_model=PreferencesOut, tags=["preferences"], responses=ERROR_RESPONSES,
            summary="The caller's preferences and contact details")
async def get_preferences(request: Request) -> PreferencesOut:
    principal = await authorized(request, "preferences.read")
    async with _service(request).db.read() as session:
        row = await store.get_recipient(session=session, recipient_id=recipient_id_for(principal))
    return PreferencesOut.model_validate(preferences_view(row))


@router.put("/preferences", response_model=PreferencesOut, tags=["preferences"], responses=ERROR_RESPONSES,
            summary="Set the caller's channels, language, immediate or digest, quiet hours and contacts")
async def set_preferences(body: PreferencesBody, request: Request) -> PreferencesOut:
    principal = POLICY.authorize(bearer_principal(request), "preferences.write")
    assert principal is not None
    values = body.model_dump()
    if body.quiet_hours is not None:
        values["quiet_hours"] = {"start": parse_hhmm(body.quiet_hours.start), "end": parse_hhmm(body.quiet_hours.end)}
    values["digest_at"] = parse_hhmm(body.digest_at)
    async with _service(request).db.unit_of_work() as uow:
        row = await put_preferences(uow, principal=principal, body=values, now=_ctx(request).clock())
    return PreferencesOut.model_validate(preferences_view(row))


# --- operators ------------------------------------------------------------------------------------------------
class DeliveryOut(BaseModel):
    notification_id: str
    cause_event_id: str
    event_type: str
    recipient_id: str
    recipient_kind: str
    channel: str
    target: str | None
    status: str
    reason: str
    critical: bool
    mode: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    provider: str | None
    digest_id: str | None
    area_code: str | None
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None


@router.get("/deliveries", response_model=Page[DeliveryOut], tags=["operations"], responses=ERROR_RESPONSES,
            summary="The delivery log for operators, newest first")
async def list_deliveries(request: Request, status: DeliveryStatus | None = None,
                          channel: ChannelName | None = None,
                          limit: int | None = Query(default=None, json_schema_extra=LIMIT_SCHEMA),
                          cursor: str | None = None) -> Page[DeliveryOut]:
    await authorized(request, "deliveries.list")
    size = clamp_limit(limit)
    d = store.deliveries.c
    query = select(store.deliveries)
    if status is not None:
        query = query.where(d.status == status)
    if channel is not None:
        query = query.where(d.channel == channel)
    query = _page_after(query, d.created_at, d.notification_id, cursor, size)
    async with _service(request).db.read() as session:
        rows = (await session.execute(query)).mappings().all()
    items = [DeliveryOut.model_validate({k: r[k] for k in DeliveryOut.model_fields}) for r in rows[:size]]
    next_cursor = None
    if len(rows) > size:
        next_cursor = encode_cursor([items[-1].created_at.isoformat(), items[-1].notification_id])
    return Page[DeliveryOut](items=items, next_cursor=next_cursor)


class ChannelTestIn(BaseModel):
    channel: ChannelName
    target: str | None = Field(default=None, max_length=2000,
                               description="address, phone or URL; the inbox test goes to the caller's inbox")
    secret: str | None = Field(default=None, max_length=200, description="webhooks: sign with this secret")


class ChannelTestOut(BaseModel):
    channel: str
    delivered: bool
    provider: str | None = None
    detail: str | None = None
    error_kind: Literal["permanent", "transient"] | None = None
    reason: str | None = None


@router.post("/channels/test", response_model=ChannelTestOut, tags=["operations"], responses=ERROR_RESPONSES,
             summary="Send a test message through a channel now and report what the provider said")
async def test_channel(body: ChannelTestIn, request: Request) -> ChannelTestOut:
    principal = await authorized(request, "channels.test")
    ctx = _ctx(request)
    registry: ChannelRegistry = request.app.state.notify_channels
    if body.channel not in ctx.channels:
        raise Invalid(f"the {body.channel} channel is not configured", code="channel_unavailable",
                      details={"configured": sorted(ctx.channels)})
    if body.channel != "inbox" and not body.target:
        raise Invalid("a target is needed for this channel", code="invalid_target")
    if body.channel == "webhook" and body.target:
        await check_webhook_target(body.target, ctx.webhook_networks)
    now = ctx.clock()
    test_id = f"test-{uuid.uuid4()}"
    local = now.astimezone(VN_TZ)
    text = f"ANTQ: tin nhắn thử / test message ({local:%Y-%m-%d %H:%M}, giờ Việt Nam / Vietnam time)"
    payload = json.dumps({"specversion": "1.0", "id": test_id, "source": "antq/notify", "type": "antq.notify.test",
                          "time": now.isoformat(), "data": {"message": "test"}}, separators=(",", ":")).encode()
    message = OutgoingMessage(notification_id=test_id, channel=body.channel, recipient_id=recipient_id_for(principal),
                              target=body.target, subject="ANTQ: thư thử / test message", text=text,
                              html=f"<p>{text}</p>", body=payload, secret=body.secret)
    try:
        result = await registry.get(body.channel).send(message)
    except DeliveryError as exc:
        return ChannelTestOut(channel=body.channel, delivered=False, error_kind=exc.kind, reason=exc.reason)
    if body.channel == "inbox":
        async with _service(request).db.unit_of_work() as uow:
            await uow.session.execute(insert(store.deliveries).values(
                notification_id=test_id, cause_event_id=test_id, event_type="antq.notify.test", event_time=now,
                recipient_id=recipient_id_for(principal), recipient_kind="officer", channel="inbox", target=None,
                subscription_id=None, reason="channel test", language="vi", mode="immediate", critical=False,
                area_code=None, unit_id=None, status="delivered", attempts=1, next_attempt_at=None,
                last_error=None, provider="inbox", digest_id=None, title="ANTQ: thư thử / test message", body=text,
                created_at=now, delivered_at=now, failed_at=None))
    return ChannelTestOut(channel=body.channel, delivered=True, provider=result.provider, detail=result.detail)
