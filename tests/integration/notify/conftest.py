"""Fixtures of the notify integration tests: a real SMTP server, a real HTTP receiver, an event publisher, a clock."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import nats
import pytest
from aiosmtpd.controller import Controller

from shared.bus.streams import Namespace
from shared.contracts.envelope import CloudEvent, new_event
from shared.contracts.events import EventData, TipReceived
from shared.settings import Settings
from shared.testing import free_port
from tests.integration.spine.helpers import stream_messages


class MailServer:
    """An aiosmtpd handler that keeps every accepted message with its envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=email_policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed, envelope.content))  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m, _ in self.messages if address in rcpt]


@dataclass
class Mail:
    server: MailServer
    port: int


@contextlib.contextmanager
def mail_server() -> Iterator[Mail]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 and a free port."""
    handler = MailServer()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Mail(handler, port)
    finally:
        controller.stop()


@pytest.fixture
def mail() -> Iterator[Mail]:
    with mail_server() as server:
        yield server


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """A local HTTP server (127.0.0.1) whose answer per path is planned: a fixed status, or statuses then 200."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    plan: dict[str, int | list[int]] = field(default_factory=dict)

    def answer(self, path: str) -> int:
        planned = self.plan.get(path)
        if isinstance(planned, int):
            return planned
        if planned:
            return planned.pop(0)
        return 200

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@contextlib.contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    """A real HTTP server on 127.0.0.1 answering POSTs as planned and recording them."""
    state = HttpReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.answer(self.path)
            state.requests.append(Received(self.path, dict(self.headers), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as server:
        yield server


class Clock:
    """The notify service's clock, moved by the test (quiet hours, digests, retry back-off)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    # 10:00 in Vietnam on a weekday: outside any usual quiet hours.
    return Clock(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))


class Publisher:
    """Publishes catalogue events on the test's namespace, as the other services' relays would."""

    def __init__(self, nc: Any, namespace: str) -> None:
        self.js = nc.jetstream()
        self.ns = Namespace(namespace)

    async def publish(self, data: EventData, *, time: datetime | None = None, event_id: str | None = None,
                      extra: dict[str, Any] | None = None) -> CloudEvent:
        service = data.TYPE.split(".")[1]
        envelope = new_event(data, source=f"antq/{service}", time=time, event_id=event_id)
        payload = envelope.model_dump(mode="json", exclude_none=True)
        payload["data"].update(extra or {})  # a careless producer's extra fields
        await self.js.publish(self.ns.subject(data.TYPE), json.dumps(payload).encode(),
                              headers={"Nats-Msg-Id": envelope.id})
        return envelope

    async def republish(self, envelope: CloudEvent) -> None:
        """The same event once more with a new message id: JetStream does not drop it, the inbox must."""
        await self.js.publish(self.ns.subject(envelope.type), envelope.to_bytes(),
                              headers={"Nats-Msg-Id": envelope.id + "-again"})


@pytest.fixture
async def bus(nats_url: str, namespace: str) -> AsyncIterator[Publisher]:
    nc = await nats.connect(nats_url)
    try:
        yield Publisher(nc, namespace)
    finally:
        await nc.close()


async def notify_events(nats_url: str, namespace: str, name: str) -> list[dict[str, Any]]:
    """The data of every `antq.notify.<name>.v1` event on the NOTIFY stream."""
    messages = await stream_messages(nats_url, f"{namespace}_NOTIFY")
    return [m["body"]["data"] for m in messages if m["subject"].endswith(f"antq.notify.{name}.v1")]


@pytest.fixture
def notify_settings(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], mail: Mail,
                    receiver: HttpReceiver) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "notify_database_url": database_url("notify"), "notify_smtp_host": "127.0.0.1",
            "notify_smtp_port": mail.port, "notify_smtp_timeout_seconds": 5,
            "notify_sms_gateway_url": f"{receiver.url}/sms", "notify_http_timeout_seconds": 3,
            "notify_worker_poll_seconds": 0.05,
            # The receivers of these tests listen on loopback, which webhooks may reach only when allowed.
            "notify_webhook_allowed_networks": "127.0.0.0/8",
        }
        values.update(overrides)
        return settings_factory(**values)

    return make


# --- helpers of the tests ---
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tip(tip_id: str, area: str | None, *, priority: str = "normal", at: datetime | None = None) -> TipReceived:
    return TipReceived(tip_id=tip_id, category="theft", channel="web", area_code=area, anonymous=True,
                       priority=priority, received_at=at or datetime(2026, 11, 23, 3, 0, tzinfo=UTC))  # type: ignore[arg-type]


async def inbox(http: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    r = await http.get("/inbox", headers=auth(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def deliveries(http: httpx.AsyncClient, admin: str, **params: Any) -> list[dict[str, Any]]:
    r = await http.get("/deliveries", headers=auth(admin), params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def prefs(http: httpx.AsyncClient, token: str, **body: Any) -> dict[str, Any]:
    r = await http.put("/preferences", headers=auth(token), json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]
