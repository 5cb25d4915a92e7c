"""The person's notifications, and the live-update stream of the open pages (server-sent events)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from services.console.clients import ApiError
from services.console.context import ConsoleContext
from services.console.domain.accounts import Account
from services.console.web.pages import (
    SESSION_COOKIE,
    Ctx,
    api,
    checked_form,
    redirect,
    render,
    signed_in,
    unavailable,
    with_lang,
)

router = APIRouter(tags=["console"])


# --- inbox ---------------------------------------------------------------------------------------------------
@router.get("/inbox", response_class=HTMLResponse, summary="The person's notifications, unread first")
async def inbox_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.inbox")
    try:
        unread = await api(ctx, person, "notify", "GET", "/inbox", params={"unread": "true", "limit": 200})
        read = await api(ctx, person, "notify", "GET", "/inbox", params={"unread": "false", "limit": 50})
    except ApiError as exc:
        return unavailable(request, person, exc, "notify")
    return render(request, "inbox.html", lang=person.lang, title_key="inbox_title", person=person,
                  unread=unread["items"], read=read["items"])


@router.post("/inbox/{notification_id}/read", summary="Mark a notification read")
async def inbox_read(ctx: Ctx, notification_id: str, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.inbox")
    await checked_form(request, person)
    try:
        await api(ctx, person, "notify", "POST", f"/inbox/{notification_id}/read")
    except ApiError as exc:
        return unavailable(request, person, exc, "notify")
    return redirect(with_lang("/inbox", person.lang))


LIVE_TOPICS = ("tips", "inbox")
LIVE_POLLER = "console-live"  # the token subject of a queue's shared poller (it reads the newest tip only)


def _newest_of(ctx: ConsoleContext, account: Account, service: str, path: str, key: str) -> Any:
    """A poll of the newest item of one list, as a live topic's poller asks it."""
    async def poll() -> str | None:
        try:
            page = await ctx.apis.call(account, service, "GET", path, params={"limit": 1})
        except ApiError as exc:
            ctx.metrics.api_errors.labels(service, str(exc.status)).inc()
            return None  # a service that does not answer now is asked again at the next poll
        return str(page["items"][0][key]) if page["items"] else ""

    return poll


def _live_topics(ctx: ConsoleContext, account: Account, wanted: list[str]) -> list[tuple[tuple[str, ...], Any]]:
    """The topics a page listens to. A tip queue is the same for everyone of one role and area, so its poller is
    shared by all of them (it asks with a token of that role and area); an inbox is the person's own."""
    topics: list[tuple[tuple[str, ...], Any]] = []
    if "tips" in wanted and account.role in ("admin", "officer"):
        poller = Account(LIVE_POLLER, account.role, area=account.area)
        topics.append((("tips", account.role, account.area or ""),
                       _newest_of(ctx, poller, "tips", "/tips", "tip_id")))
    if "inbox" in wanted:
        topics.append((("inbox", account.username), _newest_of(ctx, account, "notify", "/inbox", "notification_id")))
    return topics


@router.get("/events", summary="Server-sent events: `tips` and `inbox` when something new arrives "
            "(`?topic=tips` or `?topic=inbox` for one of them)")
async def events(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.inbox")
    cookie = request.cookies.get(SESSION_COOKIE)
    wanted = [t for t in request.query_params.getlist("topic") if t in LIVE_TOPICS] or list(LIVE_TOPICS)
    interval = ctx.settings.console_inbox_poll_seconds

    async def stream() -> AsyncIterator[str]:
        ctx.metrics.streams.inc()
        try:
            async with contextlib.AsyncExitStack() as stack:
                news: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
                for key, poll in _live_topics(ctx, person.account, wanted):
                    inbox = await stack.enter_async_context(ctx.live.subscribe(key, poll))
                    stack.push_async_callback(_cancelled, asyncio.create_task(_forward(key[0], inbox, news)))
                yield f"retry: {int(interval * 1000)}\n\n"
                while True:
                    with contextlib.suppress(TimeoutError):
                        name, mark = await asyncio.wait_for(news.get(), timeout=interval)
                        yield f"event: {name}\ndata: {mark}\n\n"
                    # An open page must not keep a session alive: resolve without touching it.
                    if await ctx.accounts.resolve(cookie, now=ctx.now(), touch=False) is None:
                        yield "event: signed-out\ndata: \n\n"
                        return
                    yield ": keep-alive\n\n"
        finally:
            ctx.metrics.streams.dec()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _forward(name: str, inbox: asyncio.Queue[str], news: asyncio.Queue[tuple[str, str]]) -> None:
    while True:
        news.put_nowait((name, await inbox.get()))


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
