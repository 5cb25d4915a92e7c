"""Notify HTTP routes: the inbox, subscriptions, preferences, the delivery log and channel tests."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from services.notify import store
from services.notify.channels import DeliveryError
from services.notify.context import NotifyContext
from services.notify.domain.channels import ChannelName, Target, all_channels
from services.notify.handlers import (
    caller_is_current,
    create_subscription,
    delete_matching_subscriptions,
    inbox_page,
    mark_read,
    parse_hhmm,
    preferences_view,
    put_preferences,
    recipient_id_for,
    register_caller,
    send_test_message,
    visible_owner,
)
from services.notify.policy import POLICY
from shared.auth import Principal
from shared.deps import Caller, MaybeCaller, PageQuery, context
from shared.errors import Invalid
from shared.http import ERROR_RESPONSES, Page

router = APIRouter()

Ctx = Annotated[NotifyContext, Depends(context)]
DeliveryStatus = Literal["pending", "digest", "digested", "delivered", "failed"]


async def registered(ctx: NotifyContext, caller: Principal | None, action: str) -> Principal:
    """Authorise a command's caller, then keep their recipient row current (role, area, unit from the token).
    Only commands do: a GET never writes."""
    principal = POLICY.require_caller(caller, action)
    async with ctx.db.read() as session:
        row = await store.get_recipient(session=session, recipient_id=recipient_id_for(principal))
    if not caller_is_current(row, principal):
        async with ctx.db.unit_of_work() as uow:
            await register_caller(uow, principal=principal, now=ctx.now())
    return principal


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
async def get_inbox(ctx: Ctx, caller: MaybeCaller, paging: PageQuery,
                    unread: bool | None = None) -> Page[InboxItem]:
    principal = POLICY.require_caller(caller, "inbox.read")
    rows = await inbox_page(ctx, principal=principal, unread=unread, after=paging.after(datetime, str),
                            limit=paging.limit)
    items = [InboxItem.model_validate({k: row[k] for k in InboxItem.model_fields}) for row in rows]
    return paging.page(items, lambda item: (item.created_at, item.notification_id))


@router.post("/inbox/{notification_id}/read", status_code=204, tags=["inbox"], responses=ERROR_RESPONSES,
             summary="Mark a notification of the caller's inbox read", response_class=Response)
async def post_read(notification_id: str, ctx: Ctx, caller: MaybeCaller) -> Response:
    principal = await registered(ctx, caller, "inbox.mark_read")
    async with ctx.db.unit_of_work() as uow:
        await mark_read(uow, principal=principal, notification_id=notification_id, now=ctx.now(),
                        intake_desk=ctx.intake_desk)
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
async def list_subscriptions(ctx: Ctx, caller: MaybeCaller, paging: PageQuery) -> Page[SubscriptionOut]:
    principal = POLICY.require_caller(caller, "subscriptions.list")
    async with ctx.db.read() as session:
        rows = await store.subscriptions_page(session=session, owner=visible_owner(principal),
                                              after=paging.after(datetime, str), limit=paging.limit)
    items = [SubscriptionOut.model_validate(_subscription(r)) for r in rows]
    return paging.page(items, lambda item: (item.created_at, item.subscription_id))


@router.post("/subscriptions", status_code=201, response_model=SubscriptionCreated, tags=["subscriptions"],
             responses=ERROR_RESPONSES,
             summary="Subscribe to events (officers within their area; a webhook's secret is shown once)")
async def post_subscription(body: SubscriptionIn, ctx: Ctx, caller: MaybeCaller) -> SubscriptionCreated:
    principal = POLICY.require_caller(caller, "subscriptions.create")  # the scope is checked once the area is known
    async with ctx.db.unit_of_work() as uow:
        row, secret = await create_subscription(uow, ctx, principal=principal, body=body.model_dump())
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
async def remove_subscriptions(ctx: Ctx, caller: MaybeCaller,
                               subscription_id: str | None = Query(default=None, max_length=64),
                               body: SubscriptionSelector | None = None) -> SubscriptionsDeleted:
    principal = POLICY.require_caller(caller, "subscriptions.delete")  # ownership is checked with the rows
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
    async with ctx.db.unit_of_work() as uow:
        deleted = await delete_matching_subscriptions(uow, principal=principal, subscription_id=chosen,
                                                      event_types=selector.event_types, fields=fields)
    return SubscriptionsDeleted(deleted=deleted)


@router.delete("/subscriptions/{subscription_id}", status_code=204, tags=["subscriptions"],
               responses=ERROR_RESPONSES, summary="Delete one of the caller's subscriptions",
               response_class=Response)
async def remove_subscription(subscription_id: str, ctx: Ctx, caller: MaybeCaller) -> Response:
    principal = POLICY.require_caller(caller, "subscriptions.delete")  # ownership is checked with the row
    async with ctx.db.unit_of_work() as uow:
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
async def get_preferences(ctx: Ctx, caller: MaybeCaller) -> PreferencesOut:
    principal = POLICY.require_caller(caller, "preferences.read")
    async with ctx.db.read() as session:
        row = await store.get_recipient(session=session, recipient_id=recipient_id_for(principal))
    return PreferencesOut.model_validate(preferences_view(row))


@router.put("/preferences", response_model=PreferencesOut, tags=["preferences"], responses=ERROR_RESPONSES,
            summary="Set the caller's channels, language, immediate or digest, quiet hours and contacts")
async def set_preferences(body: PreferencesBody, ctx: Ctx, caller: MaybeCaller) -> PreferencesOut:
    principal = POLICY.require_caller(caller, "preferences.write")
    values = body.model_dump()
    if body.quiet_hours is not None:
        values["quiet_hours"] = {"start": parse_hhmm(body.quiet_hours.start), "end": parse_hhmm(body.quiet_hours.end)}
    values["digest_at"] = parse_hhmm(body.digest_at)
    async with ctx.db.unit_of_work() as uow:
        row = await put_preferences(uow, principal=principal, body=values, now=ctx.now())
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
async def list_deliveries(ctx: Ctx, caller: MaybeCaller, paging: PageQuery, status: DeliveryStatus | None = None,
                          channel: ChannelName | None = None) -> Page[DeliveryOut]:
    POLICY.require_caller(caller, "deliveries.list")
    async with ctx.db.read() as session:
        rows = await store.deliveries_page(session=session, status=status, channel=channel,
                                           after=paging.after(datetime, str), limit=paging.limit)
    items = [DeliveryOut.model_validate({k: r[k] for k in DeliveryOut.model_fields}) for r in rows]
    return paging.page(items, lambda item: (item.created_at, item.notification_id))


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
async def post_channel_test(body: ChannelTestIn, ctx: Ctx, caller: MaybeCaller) -> ChannelTestOut:
    principal = await registered(ctx, caller, "channels.test")
    try:
        result = await send_test_message(ctx, principal=principal, channel=body.channel, target=body.target,
                                    secret=body.secret)
    except DeliveryError as exc:
        return ChannelTestOut(channel=body.channel, delivered=False, error_kind=exc.kind, reason=exc.reason)
    return ChannelTestOut(channel=body.channel, delivered=True, provider=result.provider, detail=result.detail)


# --- channels -------------------------------------------------------------------------------------------------
class ChannelOut(BaseModel):
    name: str
    label_vi: str
    label_en: str
    target: Target | None = Field(
        description="what a subscription on it is addressed to: null (the caller's own inbox), an email address, "
                    "a phone number or a URL")


class ChannelsOut(BaseModel):
    channels: list[ChannelOut]


@router.get("/channels", response_model=ChannelsOut, tags=["channels"], responses=ERROR_RESPONSES,
            summary="The channels notify knows, with their names in Vietnamese and English and what they address")
async def list_channels(caller: Caller) -> ChannelsOut:
    POLICY.require_caller(caller, "channels.read")
    return ChannelsOut(channels=[ChannelOut(name=row.name, label_vi=row.label_vi, label_en=row.label_en,
                                            target=row.target) for row in all_channels()])
