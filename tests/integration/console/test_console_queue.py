"""The console's queue and tip pages over HTTP with the real tips and notify services behind them: pages of the
queue from the tips API, the reveal record, attachment downloads, and one shared live poller per area."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.console.domain import queue
from shared.settings import Settings
from shared.testing import eventually
from tests.console_world import World, console_world, csrf_of, sign_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
TIP = {"category": "theft", "description": "Kẻ gian lấy trộm xe máy trước chợ", "area_code": "79.26743",
       "anonymous": True}
REPORTER = {"name": "Trần Thị Bích Ngọc", "phone": "0912 345 678"}


async def _submit(world: World, files: list[Any] | None = None, **overrides: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=world.urls["tips"]) as tips:
        if files:
            r = await tips.post("/tips/with-attachments", data={"tip": json.dumps(TIP | overrides)}, files=files)
        else:
            r = await tips.post("/tips", json=TIP | overrides)
    assert r.status_code == 202, r.text
    return dict(r.json())


def _browser(world: World) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=world.urls["console"], timeout=30)


def _rows(html: str) -> list[str]:
    return [part.split('"', 1)[0] for part in html.split('data-tip="')[1:]]


async def test_the_queue_page_shows_a_page_at_a_time_with_a_more_link_and_the_counts_of_the_area(
        settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    async with console_world(settings_factory, tips_submit_rate_per_minute=10_000) as world, _browser(world) as b:
        await world.add("o79")
        ids = [(await _submit(world))["tip_id"] for _ in range(3)]
        ids.append((await _submit(world, category="ongoing_crime"))["tip_id"])  # urgent: the shortest deadline
        elsewhere = (await _submit(world, area_code="01"))["tip_id"]
        await sign_in(b, "o79")
        first = await b.get("/tips")
        assert first.status_code == 200
        assert len(_rows(first.text)) == 2 and 'id="more"' in first.text
        assert "(4)" in first.text  # the "open" option counts the area's four tips, not area 01's
        more = first.text.split('id="more"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        second = await b.get(more)
        assert len(_rows(second.text)) == 2 and 'id="more"' not in second.text and 'id="first-page"' in second.text
        shown = _rows(first.text) + _rows(second.text)
        assert sorted(shown) == sorted(ids) and elsewhere not in shown
        # Nearest deadline first: the urgent tip's deadline is the nearest, on the first page.
        urgent = await b.get("/tips", params={"urgency": "urgent"})
        assert _rows(urgent.text) == [ids[3]] and 'id="more"' not in urgent.text


async def test_the_tip_page_keeps_the_record_of_who_revealed_the_reporter_when_and_why(
        settings_factory: Callable[..., Settings]) -> None:
    async with console_world(settings_factory) as world, _browser(world) as first, _browser(world) as second:
        await world.add("o79")
        await world.add("o79b")
        await world.add("o01", area="01")
        tip_id = (await _submit(world, anonymous=False, reporter=REPORTER))["tip_id"]
        await sign_in(first, "o79")
        page = await first.get(f"/tips/{tip_id}")
        assert 'id="reveals"' not in page.text
        reason = "Cần liên hệ người báo để bảo vệ nhân chứng"
        r = await first.post(f"/tips/{tip_id}/reveal", data={"csrf": csrf_of(page.text), "reason": reason})
        assert r.status_code == 200 and REPORTER["name"] in r.text
        # Another officer of the area, later: the record stays on the page, never the identity.
        await sign_in(second, "o79b")
        later = await second.get(f"/tips/{tip_id}")
        record = later.text.split('id="reveals"', 1)[1].split("</table>", 1)[0]
        assert "o79" in record and reason in record and "giờ Việt Nam" in record
        assert REPORTER["name"] not in later.text
        async with _browser(world) as other:
            await sign_in(other, "o01")
            refused = await other.get(f"/tips/{tip_id}")
            assert refused.status_code == 403 and reason not in refused.text


async def test_an_attachment_downloads_through_the_console_with_the_officers_scope(
        settings_factory: Callable[..., Settings]) -> None:
    async with console_world(settings_factory) as world, _browser(world) as b, _browser(world) as other:
        await world.add("o79")
        await world.add("o01", area="01")
        tip_id = (await _submit(world, files=[("files", ("ảnh hiện trường.png", PNG, "image/png"))]))["tip_id"]
        await sign_in(b, "o79")
        page = await b.get(f"/tips/{tip_id}")
        link = page.text.split('id="attachments"', 1)[1].split('href="', 1)[1].split('"', 1)[0]
        r = await b.get(link)
        assert r.status_code == 200 and r.content == PNG
        assert r.headers["content-type"] == "image/png" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-disposition"].startswith("attachment;")
        name = "filename*=UTF-8''%E1%BA%A3nh%20hi%E1%BB%87n%20tr%C6%B0%E1%BB%9Dng.png"  # the original name
        assert name in r.headers["content-disposition"]
        assert (await b.get(f"/tips/{tip_id}/attachments/no-such-file")).status_code == 404
        await sign_in(other, "o01")
        refused = await other.get(link)
        assert refused.status_code == 403 and refused.content != PNG
        assert (await httpx.AsyncClient(base_url=world.urls["console"]).get(link)).status_code == 303


def _now(check: Callable[[], bool]) -> Callable[[], Any]:
    async def ask() -> bool:
        return check()

    return ask


async def _first_tips_event(client: httpx.AsyncClient, opened: asyncio.Event, seen: list[str]) -> None:
    async with client.stream("GET", "/events", params={"topic": "tips"}) as r:
        assert r.status_code == 200
        opened.set()
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "tips":
                seen.append(line[6:])
                return


async def test_open_queues_of_one_area_share_one_poller_that_brings_each_the_new_tip(
        settings_factory: Callable[..., Settings]) -> None:
    async with console_world(settings_factory) as world:
        hub = world.console.app.state.ctx.live
        clients = [_browser(world) for _ in range(4)]
        for n, client in enumerate(clients):
            await sign_in(client, await world.add(f"o{n}", area="01" if n == 3 else "79"))
        seen: list[str] = []
        opened = [asyncio.Event() for _ in clients]
        readers = [asyncio.create_task(_first_tips_event(c, o, seen)) for c, o in zip(clients, opened, strict=True)]
        try:
            await eventually(_now(lambda: hub.subscribers(("tips", "officer", "79")) == 3
                                  and hub.subscribers(("tips", "officer", "01")) == 1), timeout=15,
                             what="three open queues of area 79 and one of area 01")
            # One poller per area, however many pages are open; the inbox is not polled for a queue page.
            assert set(hub.topics) == {("tips", "officer", "79"), ("tips", "officer", "01")}
            await eventually(_now(lambda: all(t.mark is not None for t in hub.topics.values())), timeout=15,
                             what="each poller's first answer")
            tip_id = (await _submit(world))["tip_id"]
            await asyncio.wait_for(asyncio.gather(*readers[:3]), timeout=30)
            assert seen == [tip_id] * 3
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            for client in clients:
                await client.aclose()
        # The last page gone, its area's poller stops.
        await eventually(_now(lambda: hub.topics == {}), timeout=15, what="pollers stopped")
