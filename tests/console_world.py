"""A console with the real tips and notify services behind it (and units, when asked), each over HTTP on a free
port, for tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from services.console.app import build as build_console
from services.console.domain import Account
from services.notify.app import build as build_notify
from services.tips.app import build as build_tips
from services.units.app import build as build_units
from shared.bus.streams import provision
from shared.db import utcnow
from shared.service import Service
from shared.settings import Settings
from shared.testing import eventually, free_port

PASSWORD = "mật khẩu đủ dài 2026"  # passes the password rule: long, letters and digits


@contextlib.asynccontextmanager
async def over_http(service: Service, port: int | None = None, *, ready_timeout: float = 30) -> AsyncIterator[str]:
    """Serve a built service with uvicorn in this event loop until the block ends; yields its base URL."""
    if service.uses_bus:
        await provision(service.settings)  # services wait for their streams; `antq nats provision` declares them
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=port, log_config=None,
                                           lifespan="on", access_log=False, timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    try:
        async def ready() -> bool:
            async with httpx.AsyncClient() as client:
                try:
                    return (await client.get(base + "/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

        await eventually(ready, timeout=ready_timeout, what=f"{service.name} ready")
        yield base
    finally:
        server.should_exit = True
        await task


@dataclass
class World:
    settings: Settings
    console: Service
    tips: Service
    notify: Service
    urls: dict[str, str] = field(default_factory=dict)
    units: Service | None = None

    async def add(self, username: str, role: str = "officer", area: str | None = "79", **kw: Any) -> str:
        account = Account(username=username, role=role, area=area, **kw)
        await self.console.app.state.console.accounts.add(account, PASSWORD, now=utcnow())
        return username

    async def add_unit(self, name: str, area_code: str = "79.26743", **fields: Any) -> str:
        """A unit in the registry of the units service (a world `with_units`), created by an admin; its id."""
        assert self.units is not None, "console_world(..., with_units=True)"
        admin = {"Authorization": "Bearer " + self.units.tokens.issue(role="admin")}
        body = {"name": name, "kind": "enterprise", "area_code": area_code,
                "external_key": "K-" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:12], **fields}
        async with httpx.AsyncClient(base_url=self.urls["units"]) as client:
            r = await client.post("/units", json=body, headers=admin)
        assert r.status_code == 201, r.text
        return str(r.json()["unit_id"])


@contextlib.asynccontextmanager
async def console_world(settings_factory: Callable[..., Settings], *, with_units: bool = False,
                        **overrides: Any) -> AsyncIterator[World]:
    """tips and notify (and units `with_units`) over HTTP, and the console (over HTTP too) pointed at them; SQLite
    for every database. An override wins over the defaults (e.g. a units service the test serves itself)."""
    tips_port, notify_port, units_port = free_port(), free_port(), free_port()
    settings = settings_factory(**{"console_argon2_profile": "fast", "console_inbox_poll_seconds": 0.3,
                                   "tips_scheduler_interval": 0.5, "notify_worker_poll_seconds": 0.1,
                                   "console_tips_url": f"http://127.0.0.1:{tips_port}",
                                   "console_notify_url": f"http://127.0.0.1:{notify_port}",
                                   "console_units_url": f"http://127.0.0.1:{units_port}" if with_units
                                   else "http://127.0.0.1:9", "console_awards_url": "http://127.0.0.1:9",
                                   **overrides})
    tips, notify, console = build_tips(settings), build_notify(settings), build_console(settings)
    units = build_units(settings) if with_units else None
    await provision(settings)  # the streams, as `antq nats provision` makes them before services start
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        served = [(tips, tips_port), (notify, notify_port)] + ([(units, units_port)] if units else [])
        for service, port in served:
            urls[service.name] = await stack.enter_async_context(over_http(service, port))
        urls["console"] = await stack.enter_async_context(over_http(console))
        yield World(settings=settings, console=console, tips=tips, notify=notify, urls=urls, units=units)


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    """What a browser does: GET the form (its CSRF cookie and field), then POST it."""
    page = await client.get("/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return await client.post("/login", data={"username": username, "password": password, "csrf": token})


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
