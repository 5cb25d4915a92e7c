"""The page the console shows when a service refuses or does not answer, for the awards, registry and unit desk
areas alike (`pages.unavailable`): the area's own words in Vietnamese, and the service's status code."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from services.console.app import build
from services.console.domain.accounts import Account
from shared.settings import Settings
from shared.testing import eventually, free_port, running
from tests.console_world import PASSWORD, sign_in

NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


def _refused(status: int, code: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": f"{code} (stand-in)"}}, status_code=status)


def stand_in() -> FastAPI:
    """The awards, units and notify APIs as the console sees them when they refuse: one answer for each page."""
    app = FastAPI()

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/awards")
    async def awards() -> JSONResponse:
        return _refused(500, "internal")

    @app.get("/awards/{award_id}")
    async def award(award_id: str) -> JSONResponse:
        return _refused(404, "not_found") if award_id == "a-gone" else _refused(409, "quota_exceeded")

    @app.get("/units")
    async def units() -> JSONResponse:
        return _refused(403, "forbidden_scope")

    @app.get("/units/{unit_id}")
    async def unit(unit_id: str) -> JSONResponse:
        return _refused(403 if unit_id == "u-far" else 404, "forbidden_scope" if unit_id == "u-far" else "not_found")

    @app.get("/inbox")
    async def inbox() -> dict[str, list[str]]:
        return {"items": []}

    return app


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    try:
        async def up() -> bool:
            async with httpx.AsyncClient() as client:
                try:
                    return (await client.get(base + "/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

        await eventually(up, what="the stand-in answering")
        yield base
    finally:
        server.should_exit = True
        await task


async def test_awards_registry_and_desk_pages_say_why_in_the_areas_words(
        settings_factory: Callable[..., Settings]) -> None:
    async with served(stand_in()) as apis:
        settings = settings_factory(console_argon2_profile="fast", console_awards_url=apis, console_units_url=apis,
                                    console_notify_url=apis, console_tips_url="http://127.0.0.1:9")
        console = build(settings)
        async with running(console) as client:
            accounts = console.app.state.ctx.accounts
            await accounts.add(Account("o79", "officer", area="79"), PASSWORD, now=NOW)
            await accounts.add(Account("staff", "unit", area="79", unit="u-mine"), PASSWORD, now=NOW)
            pages: dict[str, tuple[int, str]] = {}
            await sign_in(client, "o79")
            for path in ("/awards", "/awards/a-1", "/awards/a-gone", "/units", "/units/u-far", "/units/u-gone",
                         "/units/" + "x" * 201):
                r = await client.get(path)
                pages[path] = (r.status_code, _error_text(r.text))
            client.cookies.clear()
            await sign_in(client, "staff")
            r = await client.get("/me")
            pages["/me"] = (r.status_code, _error_text(r.text))
    assert pages == {
        "/awards": (500, "Dịch vụ «Khen thưởng» tạm thời không trả lời. Vui lòng thử lại sau."),
        "/awards/a-1": (409, "Đã hết chỉ tiêu khen thưởng của năm."),
        "/awards/a-gone": (404, "Không tìm thấy đề nghị hoặc khen thưởng này (hoặc nó ngoài địa bàn của bạn)."),
        "/units": (403, "Địa bàn này ngoài phạm vi của bạn."),
        "/units/u-far": (403, "Đơn vị này ngoài địa bàn của bạn."),
        "/units/u-gone": (404, "Không tìm thấy đơn vị trong địa bàn của bạn."),
        "/units/" + "x" * 201: (404, "Không tìm thấy đơn vị trong địa bàn của bạn."),
        "/me": (404, "Không tìm thấy (tiêu chí, hồ sơ hoặc tài liệu)."),
    }


def _error_text(html: str) -> str:
    """The message of the console's error page (`error.html`)."""
    assert 'id="error"' in html, html[:500]
    message = html.split('id="error"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    return " ".join(message.split())
