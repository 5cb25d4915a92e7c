"""The NATS that `antq up` starts refuses anonymous clients; agencies, operators and each service get their own
credentials (mode 0600 under the data dir) with the least privileges of deploy/nats/."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from shared.bus.permissions import AGENCY_JS_PREFIX, agency_inbox_prefix, inbox_prefix
from shared.contracts.subjects import outbound_durable
from shared.settings import SERVICES
from tests.e2e.test_antq_up import Platform, ready_platform


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with ready_platform(tmp_path_factory.mktemp("embedded-bus")) as p:
        yield p


def _antq(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTQ_")}
    return subprocess.run([sys.executable, "-m", "services.cli", *args, "--data-dir", str(platform.data_dir)],
                          capture_output=True, text=True, timeout=60, env=env)


def _url(platform: Platform, *args: str) -> str:
    out = _antq(platform, "nats", "url", *args)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nats://") and f":{platform.nats_port}" in lines[0]
    return lines[0]


class Violations:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    async def error_cb(self, exc: Exception) -> None:
        if "violation" in str(exc).lower():
            await self.queue.put(str(exc))

    async def next(self, subject: str) -> str:
        while True:
            message = await asyncio.wait_for(self.queue.get(), timeout=5)
            if subject.lower() in message.lower():
                return message


def test_anonymous_clients_are_refused(platform: Platform) -> None:
    async def scenario() -> None:
        with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
            await nats.connect(f"nats://127.0.0.1:{platform.nats_port}", allow_reconnect=False,
                               max_reconnect_attempts=0, connect_timeout=2)

    asyncio.run(scenario())


def test_credentials_are_private_to_the_owner(platform: Platform) -> None:
    for name in ("nats-auth.json", "nats.conf"):
        mode = stat.S_IMODE((platform.data_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    conf = (platform.data_dir / "nats.conf").read_text()
    assert "listen: 127.0.0.1:" in conf and "sync_interval: always" in conf


def test_an_agency_added_while_running_publishes_only_on_its_own_inbound_subject(platform: Platform) -> None:
    url = _url(platform, "--role", "agency", "--agency", "some-agency")

    async def scenario() -> None:
        seen = Violations()
        # In the embedded server's shared agency account an agency receives on its own inbox prefix only.
        nc = await nats.connect(url, error_cb=seen.error_cb, allow_reconnect=False,
                                inbox_prefix=agency_inbox_prefix("some-agency"))
        try:
            ack = await nc.jetstream().publish("antq.inbound.some-agency.IncidentReported.v1", b"{}",
                                               headers={"Nats-Msg-Id": "some-agency-r-1"})
            assert ack.stream == "INBOUND" and ack.seq >= 1
            # The message is no event: units refuses it and tells the agency on its own reply consumer, which
            # `antq nats url` created.
            replies = await nc.jetstream(prefix=AGENCY_JS_PREFIX).pull_subscribe_bind(
                outbound_durable("some-agency"), "OUTBOUND")
            [reply] = await replies.fetch(1, timeout=30)
            assert reply.subject == "antq.outbound.some-agency.InboundRejected.v1"
            assert json.loads(reply.data)["data"]["reason_code"] == "invalid"
            await reply.ack_sync(timeout=5)
            for subject in ("antq.inbound.other-agency.IncidentReported.v1", "antq.units.UnitCertified.v1",
                            "$JS.API.STREAM.INFO.INBOUND", "$JS.API.STREAM.MSG.GET.INBOUND"):
                await nc.publish(subject, b"{}")
                await nc.flush()
                assert "publish" in (await seen.next(subject)).lower()
            await nc.subscribe("antq.>")
            await nc.flush()
            assert "subscription" in (await seen.next("antq.>")).lower()
        finally:
            await nc.close()

    asyncio.run(scenario())
    # The same URL again: the agency keeps its password.
    assert _url(platform, "--role", "agency", "--agency", "some-agency") == url


def test_an_invalid_agency_name_is_refused(platform: Platform) -> None:
    out = _antq(platform, "nats", "url", "--role", "agency", "--agency", "Bad.Name")
    assert out.returncode == 2 and "invalid agency name" in out.stderr


def test_the_operator_reads_every_stream_and_the_dlq_tool_uses_it(platform: Platform) -> None:
    url = _url(platform, "--role", "operator")

    async def scenario() -> None:
        nc = await nats.connect(url, allow_reconnect=False)
        try:
            js = nc.jetstream()
            await js.publish("antq.units.OperatorProbe.v1", b"{}")
            for stream in ("UNITS", "TIPS", "AWARDS", "NOTIFY", "INBOUND", "DLQ"):
                await js.stream_info(stream)
            assert (await js.get_last_msg("UNITS", "antq.units.OperatorProbe.v1")).data == b"{}"
        finally:
            await nc.close()

    asyncio.run(scenario())
    out = _antq(platform, "dlq", "list", "--json")
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_does_its_job_and_cannot_forge_another_services_events(platform: Platform,
                                                                          service: str) -> None:
    assert httpx.get(platform.url(service) + "/readyz", timeout=5).status_code == 200  # consumers run
    state = json.loads((platform.data_dir / "nats-auth.json").read_text())
    other = next(s for s in SERVICES if s != service)

    async def scenario() -> None:
        seen = Violations()
        nc = await nats.connect(f"nats://127.0.0.1:{platform.nats_port}", user=service,
                                password=state["passwords"][service], error_cb=seen.error_cb,
                                inbox_prefix=inbox_prefix(service), allow_reconnect=False)
        try:
            ack = await nc.jetstream().publish(f"antq.{service}.Probe.v1", b"{}")
            assert ack.stream == service.upper()
            for subject in (f"antq.{other}.Forged.v1", "antq.inbound.some-agency.IncidentReported.v1",
                            "$JS.API.STREAM.UPDATE.UNITS", "$JS.API.STREAM.DELETE.TIPS"):
                await nc.publish(subject, b"{}")
                await nc.flush()
                assert "publish" in (await seen.next(subject)).lower()
        finally:
            await nc.close()

    asyncio.run(scenario())


def test_nats_url_without_a_running_platform_says_why(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTQ_")}
    out = subprocess.run([sys.executable, "-m", "services.cli", "nats", "url", "--role", "operator",
                          "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2 and "antq up" in out.stderr
