"""A console with the real tips and notify services behind it (and units and awards when asked), each over HTTP on a
free port, for tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from services.awards.app import build as build_awards
from services.console.app import build as build_console
from services.console.domain.accounts import Account
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
    services: dict[str, Service] = field(default_factory=dict)  # every service behind the console, by name

    @property
    def units(self) -> Service | None:
        return self.services.get("units")

    @property
    def awards(self) -> Service | None:
        return self.services.get("awards")

    async def add(self, username: str, role: str = "officer", area: str | None = "79", **kw: Any) -> str:
        account = Account(username=username, role=role, area=area, **kw)
        await self.console.app.state.ctx.accounts.add(account, PASSWORD, now=utcnow())
        return username

    async def add_unit(self, name: str, area_code: str = "79.26743", **fields: Any) -> str:
        """A unit in the registry of the units service (a world `also=("units",)`), created by an admin; its id."""
        assert self.units is not None, 'console_world(..., also=("units",))'
        admin = {"Authorization": "Bearer " + self.units.tokens.issue(role="admin")}
        body = {"name": name, "kind": "enterprise", "area_code": area_code,
                "external_key": "K-" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:12], **fields}
        async with httpx.AsyncClient(base_url=self.urls["units"]) as client:
            r = await client.post("/units", json=body, headers=admin)
        assert r.status_code == 201, r.text
        return str(r.json()["unit_id"])


@contextlib.asynccontextmanager
async def console_world(settings_factory: Callable[..., Settings], *, also: tuple[str, ...] = (),
                        **overrides: Any) -> AsyncIterator[World]:
    """tips and notify over HTTP, and the console (over HTTP too) pointed at them; SQLite for every database.
    `also=("units", "awards")` serves those services too (otherwise the console's URLs for them point nowhere).
    An override wins over the defaults (e.g. a units service the test serves itself)."""
    ports = {name: free_port() for name in ("tips", "notify", *also)}
    urls_of = {f"console_{name}_url": f"http://127.0.0.1:{ports[name]}" if name in ports else "http://127.0.0.1:9"
               for name in ("tips", "notify", "units", "awards")}
    settings = settings_factory(**{"console_argon2_profile": "fast", "console_inbox_poll_seconds": 0.3,
                                   "tips_scheduler_interval": 0.5, "notify_worker_poll_seconds": 0.1,
                                   **urls_of, **overrides})
    builders = {"tips": build_tips, "notify": build_notify, "units": build_units, "awards": build_awards}
    services = {name: builders[name](settings) for name in ports}
    console = build_console(settings)
    await provision(settings)  # the streams, as `antq nats provision` makes them before services start
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        for name, service in services.items():
            urls[name] = await stack.enter_async_context(over_http(service, ports[name]))
        urls["console"] = await stack.enter_async_context(over_http(console))
        yield World(settings=settings, console=console, tips=services["tips"], notify=services["notify"],
                    urls=urls, services=services)


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    """What a browser does: GET the form (its CSRF cookie and field), then POST it."""
    page = await client.get("/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return await client.post("/login", data={"username": username, "password": password, "csrf": token})


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
