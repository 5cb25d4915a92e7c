"""Notify HTTP routes: the caller's inbox."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import select

from services.notify import store
from services.notify.handlers import inbox_filter, mark_read
from shared.http import ERROR_RESPONSES, Page, clamp_limit, decode_cursor, encode_cursor, principal_with

router = APIRouter()


class InboxItem(BaseModel):
    notification_id: str
    event_type: str
    cause_event_id: str
    title: str
    body: str
    area_code: str | None
    unit_id: str | None
    created_at: datetime
    read_at: datetime | None


@router.get("/inbox", response_model=Page[InboxItem], tags=["inbox"], responses=ERROR_RESPONSES,
            summary="The caller's notifications, newest first")
async def get_inbox(request: Request, limit: int | None = Query(default=None),
                    cursor: str | None = None, unread: bool | None = None) -> Page[InboxItem]:
    principal = principal_with(request, "admin", "officer", "unit", "agency")
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    n = store.notifications.c
    query = select(store.notifications).where(inbox_filter(principal))
    if unread:
        query = query.where(n.read_at.is_(None))
    if after is not None:
        if not (isinstance(after, list) and len(after) == 2):
            from shared.errors import Invalid

            raise Invalid("cursor is not valid", code="invalid_cursor")
        created = datetime.fromisoformat(after[0])
        query = query.where((n.created_at < created) | ((n.created_at == created) & (n.notification_id < after[1])))
    query = query.order_by(n.created_at.desc(), n.notification_id.desc()).limit(size + 1)
    async with request.app.state.service.db.read() as session:
        rows = (await session.execute(query)).mappings().all()
    items = [InboxItem.model_validate(dict(r)) for r in rows[:size]]
    next_cursor = None
    if len(rows) > size:
        last = items[-1]
        next_cursor = encode_cursor([last.created_at.isoformat(), last.notification_id])
    return Page[InboxItem](items=items, next_cursor=next_cursor)


@router.post("/inbox/{notification_id}/read", status_code=204, tags=["inbox"], responses=ERROR_RESPONSES,
             summary="Mark a notification read")
async def post_read(notification_id: str, request: Request) -> None:
    principal = principal_with(request, "admin", "officer", "unit", "agency")
    async with request.app.state.service.db.unit_of_work() as uow:
        await mark_read(uow, principal=principal, notification_id=notification_id)
