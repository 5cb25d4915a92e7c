"""Notify use cases: turn events into notifications for the right recipients, once per cause and channel."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select, update

from services.notify import store
from shared.auth import Principal
from shared.bus.consumer import Delivery
from shared.contracts.events import NotificationDelivered, TipReceived
from shared.db import UnitOfWork, utcnow
from shared.errors import NotFound

_NS = uuid.UUID("6f1c1d2e-7a51-4c55-9a0b-2f7e0e6c9a10")


def notification_id(cause_event_id: str, recipient: str, channel: str) -> str:
    return str(uuid.uuid5(_NS, f"{cause_event_id}|{recipient}|{channel}"))


async def on_tip_received(delivery: Delivery, uow: UnitOfWork) -> None:
    """Default rule: the officers of the tip's area get an inbox notification (no reporter data, ever)."""
    data = delivery.data
    assert isinstance(data, TipReceived)
    recipient = f"officers:{data.area_code}" if data.area_code else "officers:*"
    nid = notification_id(delivery.event_id, recipient, "inbox")
    exists = (await uow.session.execute(select(store.notifications.c.notification_id).where(
        store.notifications.c.notification_id == nid))).first()
    if exists:
        return
    urgent = data.priority == "urgent"
    title = ("KHẨN: " if urgent else "") + f"Nguồn tin mới ({data.category})"
    body = (f"Tin báo {data.tip_id} loại {data.category} nhận lúc {data.received_at:%Y-%m-%d %H:%M} UTC"
            f"{' tại địa bàn ' + data.area_code if data.area_code else ''}.")
    await uow.session.execute(insert(store.notifications).values(
        notification_id=nid, cause_event_id=delivery.event_id, event_type=delivery.event_type,
        recipient=recipient, area_code=data.area_code, unit_id=data.unit_id, channel="inbox",
        status="delivered", title=title, body=body, created_at=utcnow()))
    uow.emit(NotificationDelivered(notification_id=nid, channel="inbox", cause_event_id=delivery.event_id))


def inbox_filter(principal: Principal):  # type: ignore[no-untyped-def]
    n = store.notifications.c
    if principal.role == "admin" or (principal.role == "officer" and principal.area is None):
        return n.recipient.like("officers:%")
    if principal.role == "officer" and principal.area:
        return n.recipient.like("officers:%") & ((n.area_code == principal.area)
                                                  | n.area_code.like(principal.area + ".%"))
    if principal.role == "unit" and principal.unit:
        return n.recipient == f"unit:{principal.unit}"
    return n.recipient == f"agency:{principal.sub}"


async def mark_read(uow: UnitOfWork, *, principal: Principal, notification_id: str) -> None:
    n = store.notifications.c
    result = await uow.session.execute(update(store.notifications).where(
        n.notification_id == notification_id, inbox_filter(principal)).values(read_at=utcnow()))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound("no such notification in your inbox")
