"""Webhooks reach only public addresses and the networks the operator allows, checked when the subscription is
made and again on every connection (after DNS resolution, connecting to the checked address); only officers and
admins make them; their URLs never reach the logs beyond scheme and host."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from ipaddress import ip_address
from typing import Any

import pytest

from services.notify.app import build
from services.notify.channels import targets
from services.notify.domain.targets import address_allowed, ip_literal, is_public, parse_networks
from shared.observability import configure_logging
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import (
    HttpReceiver,
    Publisher,
    auth,
    deliveries,
    tip,
)

SQLITE = pytest.mark.parametrize("backend", ["sqlite"])  # what is checked does not depend on the database

PUBLIC_IP = "93.184.215.14"  # a public address: never connected to by these tests
INSIDE = [
    "http://127.0.0.1:8003/awards/a-1/annul", "http://localhost:8003/x", "http://[::1]/x",
    "http://[::ffff:127.0.0.1]/x", "http://[::ffff:7f00:1]/x", "http://0x7f000001/x", "http://2130706433/x",
    "http://0177.0.0.1/x", "http://127.1/x", "http://0/x", "http://0.0.0.0/x", "http://10.1.2.3/x",
    "http://172.16.0.1/x", "http://192.168.1.1/x", "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/x", "http://224.0.0.1/x", "http://240.0.0.1/x", "http://[fe80::1]/x", "http://[fc00::1]/x",
    "http://[2002:7f00:1::]/x", "https://127.0.0.1./x",
]


def webhook(target: str, **extra: Any) -> dict[str, Any]:
    return {"event_types": ["antq.tips.*"], "area_code": "79", "channel": "webhook", "target": target, **extra}


# --- the rules, without a network ------------------------------------------------------------------------------
@pytest.mark.parametrize(("host", "expected"), [
    ("0x7f000001", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("0", "0.0.0.0"), ("10.0x10.1", "10.16.0.1"), ("[::ffff:127.0.0.1]", "::ffff:7f00:1"), ("::1", "::1"),
    ("example.com", None), ("08.1.1.1", None), ("256.1.1.1", None), ("1.2.3.4.5", None),
])
def test_numeric_host_forms_are_read_as_the_address_they_stand_for(host: str, expected: str | None) -> None:
    found = ip_literal(host)
    assert (str(found) if found is not None else None) == expected


def test_only_public_addresses_pass_unless_a_network_is_allowed() -> None:
    assert is_public(ip_address(PUBLIC_IP)) and is_public(ip_address("2606:4700::1111"))
    for inside in ("127.0.0.1", "10.0.0.1", "100.64.0.1", "169.254.169.254", "224.0.0.1", "::ffff:10.0.0.1",
                   "2002:a00:1::", "::", "fd00::1"):
        assert not is_public(ip_address(inside)), inside
    allowed = parse_networks("10.0.0.0/8, fd00::/8")
    assert address_allowed(ip_address("10.9.9.9"), allowed) and address_allowed(ip_address("::ffff:10.0.0.1"),
                                                                               allowed)
    assert address_allowed(ip_address("fd00::1"), allowed)
    assert not address_allowed(ip_address("127.0.0.1"), allowed)
    with pytest.raises(ValueError, match="not a network"):
        parse_networks("10.0.0.0/8,nonsense")


# --- at subscription time --------------------------------------------------------------------------------------
@SQLITE
async def test_webhook_targets_inside_are_refused_with_target_not_allowed(
        notify_config: Callable[..., Settings], backend: str) -> None:
    notify = build(notify_config())
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        for target in INSIDE:
            r = await http.post("/subscriptions", headers=auth(admin), json=webhook(target))
            assert r.status_code == 422, (target, r.text)
            assert r.json()["error"]["code"] == "target_not_allowed", target
            assert "/awards" not in r.text and "meta-data" not in r.text  # the origin only
        r = await http.post("/channels/test", headers=auth(admin), json={"channel": "webhook",
                                                                       "target": "http://127.0.0.1:8003/x"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "target_not_allowed"
        r = await http.post("/subscriptions", headers=auth(admin), json=webhook(f"https://{PUBLIC_IP}/hook"))
        assert r.status_code == 201, r.text


@SQLITE
async def test_allowed_networks_admit_exactly_those_networks(notify_config: Callable[..., Settings],
                                                             backend: str) -> None:
    notify = build(notify_config(notify_webhook_allowed_networks="10.0.0.0/8,fd00::/8"))
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        for target in ("http://10.1.2.3:8080/hook", "http://[fd00::5]/hook", "http://0x0a010203/hook"):
            r = await http.post("/subscriptions", headers=auth(admin), json=webhook(target))
            assert r.status_code == 201, (target, r.text)
        r = await http.post("/subscriptions", headers=auth(admin), json=webhook("http://127.0.0.1/hook"))
        assert r.status_code == 422 and r.json()["error"]["code"] == "target_not_allowed"


@SQLITE
async def test_only_officers_and_admins_create_webhook_subscriptions(notify_config: Callable[..., Settings],
                                                                     backend: str) -> None:
    notify = build(notify_config())
    async with running(notify) as http:
        unit = notify.tokens.issue(role="unit", unit="U1", sub="u1")
        agency = notify.tokens.issue(role="agency", sub="national-app")
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        target = f"https://{PUBLIC_IP}/hook"
        r = await http.post("/subscriptions", headers=auth(unit), json={
            "event_types": ["antq.units.*"], "channel": "webhook", "target": target})
        assert r.status_code == 403, r.text
        r = await http.post("/subscriptions", headers=auth(agency), json={
            "event_types": ["antq.units.*"], "channel": "webhook", "target": target})
        assert r.status_code == 403, r.text
        r = await http.post("/subscriptions", headers=auth(officer), json=webhook(target))
        assert r.status_code == 201, r.text


# --- at delivery time ------------------------------------------------------------------------------------------
def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]) -> list[str]:
    """The system resolver replaced for named hosts: each lookup of a name takes its next answer (the last one
    repeats); numeric hosts are read as before. Returns the names looked up, in order."""
    asked: list[str] = []
    real = targets.resolve

    async def resolve(host: str, port: int) -> list[Any]:
        if host not in answers:
            return await real(host, port)
        asked.append(host)
        queue = answers[host]
        chosen = queue.pop(0) if len(queue) > 1 else queue[0]
        return [ip_address(a) for a in chosen]

    monkeypatch.setattr(targets, "resolve", resolve)
    return asked


@SQLITE
async def test_a_name_that_later_points_inside_is_refused_at_delivery_and_recorded_failed(
        notify_config: Callable[..., Settings], bus: Publisher, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch,
        backend: str) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    # Public when the subscription is made, loopback (where the receiver listens) when the event comes.
    asked = fake_dns(monkeypatch, {"hooks.example": [[PUBLIC_IP], ["127.0.0.1"]]})
    notify = build(notify_config())
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        r = await http.post("/subscriptions", headers=auth(admin),
                            json=webhook(f"http://hooks.example:{port}/hook?token=t0p-s3cret"))
        assert r.status_code == 201, r.text
        await bus.publish(tip("T1", "79.26743", priority="urgent"))

        async def failed() -> list[dict[str, Any]]:
            return await deliveries(http, admin, channel="webhook", status="failed")

        (row,) = await eventually(failed, what="the webhook refused at delivery")
        assert row["attempts"] == 1  # refused for good, not retried
        assert "not a public address" in row["last_error"] and "127.0.0.1" in row["last_error"]
        assert "t0p-s3cret" not in row["last_error"] and f":{port}/hook" not in row["last_error"]
    assert receiver.requests == []
    assert asked == ["hooks.example", "hooks.example"]


@SQLITE
async def test_delivery_connects_to_the_checked_address_under_the_name(
        notify_config: Callable[..., Settings], bus: Publisher, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch,
        backend: str) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    fake_dns(monkeypatch, {"hooks.example": [["127.0.0.1"]]})
    notify = build(notify_config(notify_webhook_allowed_networks="127.0.0.0/8"))
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        r = await http.post("/subscriptions", headers=auth(admin), json=webhook(f"http://hooks.example:{port}/hook"))
        assert r.status_code == 201, r.text
        await bus.publish(tip("T1", "79.26743"))

        async def arrived() -> list[Any]:
            return receiver.to("/hook")

        (call,) = await eventually(arrived, what="the webhook at the resolved address")
        assert call.headers["Host"] == f"hooks.example:{port}"


@SQLITE
async def test_redirects_are_not_followed(notify_config: Callable[..., Settings], receiver: HttpReceiver,
                                          backend: str) -> None:
    notify = build(notify_config(notify_webhook_allowed_networks="127.0.0.0/8"))
    receiver.plan["/moved"] = 307
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        r = await http.post("/channels/test", headers=auth(admin), json={"channel": "webhook",
                                                                       "target": f"{receiver.url}/moved"})
        assert r.json()["delivered"] is False and r.json()["error_kind"] == "permanent"
    assert [c.path for c in receiver.requests] == ["/moved"]


# --- the logs ----------------------------------------------------------------------------------------------------
class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


@pytest.fixture
def service_logging() -> Iterator[Collected]:
    """Logging as `antq serve` configures it, with every line collected; restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level,
             {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "faststream")})
    configure_logging("notify", "INFO", json_logs=False)
    collected = Collected()
    root.addHandler(collected)
    try:
        yield collected
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


@SQLITE
async def test_webhook_urls_reach_the_logs_as_scheme_and_host_only(
        notify_config: Callable[..., Settings], bus: Publisher, receiver: HttpReceiver,
        service_logging: Collected, backend: str) -> None:
    notify = build(notify_config(notify_webhook_allowed_networks="127.0.0.0/8"))
    receiver.plan["/hook/path-s3cret"] = [503]
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        r = await http.post("/subscriptions", headers=auth(admin),
                            json=webhook(f"{receiver.url}/hook/path-s3cret?token=query-s3cret"))
        assert r.status_code == 201, r.text
        r = await http.post("/subscriptions", headers=auth(admin),
                            json=webhook("http://127.0.0.1:9/closed/path-s3cret?token=query-s3cret"))
        assert r.status_code == 201, r.text
        await bus.publish(tip("T1", "79.26743"))

        async def tried() -> bool:
            rows = await deliveries(http, admin, channel="webhook")
            return len(rows) == 2 and all(r["attempts"] >= 1 for r in rows)

        await eventually(tried, what="both webhooks tried")
    assert receiver.to("/hook/path-s3cret?token=query-s3cret")
    assert any("attempt 1 on webhook failed" in line for line in service_logging.lines)
    leaked = [line for line in service_logging.lines if "s3cret" in line]
    assert leaked == []
