"""The NATS server configs parse, the shipped accounts config is what shared/bus/permissions.py generates, and on a
real nats-server it grants each user exactly what deploy/nats/README says: a service publishes on its own prefix and
reads only the streams it consumes; no service can create, update, delete or purge a stream."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, StreamConfig

from services.bus import consumed_streams
from shared.bus.dlq import read_dead_letters
from shared.bus.permissions import inbox_prefix, production_accounts_conf
from shared.bus.streams import Namespace, provision
from shared.contracts.subjects import STREAMS as REGISTRY
from shared.settings import Settings
from shared.testing import free_port

from .helpers import DEPLOY, SERVICES

NATS_DIR = DEPLOY / "nats"
PASSWORDS = {
    **{s: f"pw-{s}" for s in SERVICES}, "admin": "pw-admin", "mia_app": "pw-mia-app", "sys": "pw-sys",
}
STREAMS = [spec.name for spec in REGISTRY]
CONSUMES = consumed_streams()


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({f"ANTQ_NATS_PASSWORD_{user.upper()}": pw for user, pw in PASSWORDS.items()})
    env.update({
        "NATS_SERVER_NAME": "nats-1",
        "NATS_CLUSTER_PASSWORD": "pw-route",
        "NATS_ROUTE_1": "nats-route://route:pw-route@127.0.0.1:6222",
        "NATS_ROUTE_2": "nats-route://route:pw-route@127.0.0.1:6223",
        "NATS_ROUTE_3": "nats-route://route:pw-route@127.0.0.1:6224",
    })
    return env


@pytest.mark.parametrize("config", ["nats-server.conf", "cluster.conf.template"])
def test_server_config_passes_the_servers_own_config_test(nats_server_bin: str, config: str) -> None:
    result = subprocess.run([nats_server_bin, "-t", "-c", str(NATS_DIR / config)], check=False, env=_server_env(),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout + result.stderr


@pytest.mark.parametrize("config", ["nats-server.conf", "cluster.conf.template"])
def test_server_config_fsyncs_every_write(config: str) -> None:
    text = (NATS_DIR / config).read_text(encoding="utf-8")
    assert "sync_interval: always" in text
    assert "include ./accounts.conf" in text


def test_config_test_rejects_a_missing_password(nats_server_bin: str) -> None:
    # Proves the config test is meaningful: the accounts file really needs its secrets from the environment.
    env = _server_env()
    del env["ANTQ_NATS_PASSWORD_TIPS"]
    result = subprocess.run([nats_server_bin, "-t", "-c", str(NATS_DIR / "nats-server.conf")], check=False, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "ANTQ_NATS_PASSWORD_TIPS" in result.stderr


@pytest.fixture(scope="module")
def nats_url(nats_server_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real single-node config and accounts file, on free loopback ports with a temporary store."""
    workdir = tmp_path_factory.mktemp("nats")
    config = (NATS_DIR / "nats-server.conf").read_text(encoding="utf-8")
    # The store directory is a config value the command line cannot override; point it at the temp dir.
    local = config.replace("store_dir: /data/jetstream", f'store_dir: "{workdir / "jetstream"}"')
    assert local != config
    (workdir / "nats-server.conf").write_text(local, encoding="utf-8")
    shutil.copy(NATS_DIR / "accounts.conf", workdir / "accounts.conf")
    port, http_port = free_port(), free_port()
    log = workdir / "nats.log"
    proc = subprocess.Popen(
        [nats_server_bin, "-c", str(workdir / "nats-server.conf"), "-a", "127.0.0.1", "-p", str(port),
         "-m", str(http_port), "-l", str(log)],
        env=_server_env(),
    )
    url = f"nats://127.0.0.1:{port}"
    try:
        asyncio.run(_wait_until_up(url, proc, log))
        # The provisioning step, as `antq nats provision` runs it with the admin credentials.
        asyncio.run(provision(Settings(nats_url=url, nats_user="admin", nats_password=PASSWORDS["admin"])))
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"nats-server exited: {log.read_text(encoding='utf-8') if log.exists() else ''}")
        try:
            nc = await nats.connect(url, user="admin", password=PASSWORDS["admin"], connect_timeout=1,
                                    allow_reconnect=False, max_reconnect_attempts=0)
            await nc.close()
            return
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)


class Session:
    """A connection that records the server's permission violations."""

    def __init__(self) -> None:
        self.nc: Client | None = None
        self.violations: asyncio.Queue[str] = asyncio.Queue()

    async def error_cb(self, exc: Exception) -> None:
        if "permissions violation" in str(exc).lower():
            await self.violations.put(str(exc))

    async def refused(self, subject: str, payload: bytes = b"{}") -> str:
        """Publish on `subject` and return the server's permission-violation message for it."""
        assert self.nc is not None
        await self.nc.publish(subject, payload)
        await self.nc.flush()
        return await self.violation(subject)

    async def refused_subscription(self, subject: str) -> str:
        assert self.nc is not None
        await self.nc.subscribe(subject)
        await self.nc.flush()
        return await self.violation(subject)

    async def violation(self, subject: str) -> str:
        while True:
            message = await asyncio.wait_for(self.violations.get(), timeout=5)
            if f"\"{subject.lower()}\"" in message.lower():
                return message


@asynccontextmanager
async def session(url: str, user: str, password: str, inbox: str = "_INBOX") -> AsyncIterator[Session]:
    s = Session()
    s.nc = await nats.connect(url, user=user, password=password, error_cb=s.error_cb, allow_reconnect=False,
                              inbox_prefix=inbox)
    try:
        yield s
    finally:
        await s.nc.close()


def test_shipped_accounts_conf_is_what_the_generator_produces() -> None:
    shipped = (NATS_DIR / "accounts.conf").read_text(encoding="utf-8")
    assert shipped == production_accounts_conf(CONSUMES, ["mia-app"]), (
        "deploy/nats/accounts.conf is stale: regenerate it with "
        "`antq nats accounts --agency mia-app > deploy/nats/accounts.conf`")


@pytest.mark.parametrize("service", SERVICES)
def test_service_user_publishes_on_its_own_prefix_and_reads_the_streams_it_consumes(
        nats_url: str, service: str) -> None:
    async def scenario() -> None:
        async with session(nats_url, "admin", PASSWORDS["admin"]) as admin:
            assert admin.nc is not None
            for stream in CONSUMES[service]:
                subject = next(s for s in _stream_subjects(stream)).replace(">", f"probe.{service}").replace(
                    "*", "mia-app")
                await admin.nc.jetstream().publish(subject, b"{}")
        async with session(nats_url, service, PASSWORDS[service], inbox_prefix(service)) as s:
            assert s.nc is not None
            js = s.nc.jetstream()
            ack = await js.publish(f"antq.{service}.Probe.v1", b"{}", headers={"Nats-Msg-Id": f"own-{service}"})
            assert ack.stream == service.upper()
            dlq_ack = await js.publish(f"antq.dlq.{service}.antq.x.Probe.v1", b"{}",
                                       headers={"Antq-Dlq-Reason": f"probe of {service}"})
            assert dlq_ack.stream == "DLQ"
            # Its dead letters, read back by subject for the administrators' view (GET /dlq), without a body.
            own = await read_dead_letters(js, Namespace(""), service=service)
            assert [d.reason for d in own] == [f"probe of {service}"]
            # Its durable consumers on the streams it consumes: create, fetch, ack.
            for stream in CONSUMES[service]:
                durable = f"{service}-probe-{stream.lower()}"
                info = await js.add_consumer(stream, ConsumerConfig(durable_name=durable, name=durable))
                assert info.name == durable
                sub = await js.pull_subscribe_bind(durable, stream)
                msgs = await sub.fetch(1, timeout=5)
                await msgs[0].ack()

    asyncio.run(scenario())


def _stream_subjects(stream: str) -> tuple[str, ...]:
    return next(spec.subjects for spec in REGISTRY if spec.name == stream)


@pytest.mark.parametrize("service", SERVICES)
def test_service_user_is_refused_on_other_prefixes(nats_url: str, service: str) -> None:
    other = next(s for s in SERVICES if s != service)

    async def scenario() -> None:
        async with session(nats_url, service, PASSWORDS[service], inbox_prefix(service)) as s:
            assert "publish" in await s.refused(f"antq.{other}.Forged.v1")
            await s.refused(f"antq.dlq.{other}.antq.x.Forged.v1")
            await s.refused("antq.inbound.mia-app.IncidentReported.v1")
            # Another service's deliveries and PubAcks, and everyone's default inbox, are out of reach.
            assert "subscription" in (await s.refused_subscription(f"{inbox_prefix(other)}.>")).lower()
            await s.refused_subscription("_INBOX.>")
            await s.refused_subscription(">")

    asyncio.run(scenario())


@pytest.mark.parametrize("service", SERVICES)
def test_service_user_cannot_manage_streams(nats_url: str, service: str) -> None:
    async def scenario() -> None:
        async with session(nats_url, service, PASSWORDS[service], inbox_prefix(service)) as s:
            for stream in STREAMS:
                for action in ("CREATE", "UPDATE", "DELETE", "PURGE"):
                    await s.refused(f"$JS.API.STREAM.{action}.{stream}")
            await s.refused("$JS.API.STREAM.CREATE.ROGUE")

    asyncio.run(scenario())


@pytest.mark.parametrize("service", SERVICES)
def test_service_user_reads_no_stream_it_does_not_consume(nats_url: str, service: str) -> None:
    async def scenario() -> None:
        async with session(nats_url, service, PASSWORDS[service], inbox_prefix(service)) as s:
            for stream in STREAMS:
                # Reading a message by sequence: only of the DLQ (the administrators' read-only view, GET /dlq).
                if stream != "DLQ":
                    await s.refused(f"$JS.API.STREAM.MSG.GET.{stream}", b'{"seq": 1}')
                await s.refused(f"$JS.API.DIRECT.GET.{stream}", b'{"seq": 1}')
                if stream in CONSUMES[service]:
                    continue
                await s.refused(f"$JS.API.CONSUMER.CREATE.{stream}.{service}-x.antq.>")
                await s.refused(f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{service}-x")
                await s.refused(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{service}-x", b'{"batch": 1}')

    asyncio.run(scenario())


def test_tips_cannot_cut_the_history_of_units(nats_url: str) -> None:
    # The reported attack: the tips user set max_msgs=1 on UNITS through $JS.API.STREAM.UPDATE.
    async def scenario() -> None:
        async with session(nats_url, "admin", PASSWORDS["admin"]) as admin:
            assert admin.nc is not None
            for i in range(3):
                await admin.nc.jetstream().publish("antq.units.Probe.v1", f'{{"i": {i}}}'.encode())
            before = (await admin.nc.jetstream().stream_info("UNITS")).state.messages
        async with session(nats_url, "tips", PASSWORDS["tips"], inbox_prefix("tips")) as s:
            assert s.nc is not None
            with pytest.raises(Exception):  # noqa: B017 — refused: no answer, whatever the client raises
                await s.nc.jetstream().update_stream(StreamConfig(name="UNITS", subjects=["antq.units.>"],
                                                                  max_msgs=1))
            assert await s.violation("$JS.API.STREAM.UPDATE.UNITS")
        async with session(nats_url, "admin", PASSWORDS["admin"]) as admin:
            assert admin.nc is not None
            info = await admin.nc.jetstream().stream_info("UNITS")
            assert info.config.max_msgs == -1 and info.state.messages == before >= 3

    asyncio.run(scenario())


def test_agency_publish_is_captured_by_inbound_and_acknowledged(nats_url: str) -> None:
    async def scenario() -> None:
        async with session(nats_url, "mia-app", PASSWORDS["mia_app"]) as s:
            assert s.nc is not None
            # A JetStream publish is a request; the PubAck crosses back from the ANTQ account.
            reply = await s.nc.request("antq.inbound.mia-app.IncidentReported.v1", b'{"reference": "r-1"}',
                                       timeout=5, headers={"Nats-Msg-Id": "mia-app-r-1"})
            assert b'"stream":"INBOUND"' in reply.data
        async with session(nats_url, "admin", PASSWORDS["admin"]) as admin:
            assert admin.nc is not None
            msg = await admin.nc.jetstream().get_last_msg("INBOUND", "antq.inbound.mia-app.IncidentReported.v1")
            assert msg.data == b'{"reference": "r-1"}'

    asyncio.run(scenario())


def test_agency_is_refused_outside_its_inbound_prefix(nats_url: str) -> None:
    async def scenario() -> None:
        async with session(nats_url, "mia-app", PASSWORDS["mia_app"]) as s:
            await s.refused("antq.tips.x")
            await s.refused("antq.inbound.other-agency.IncidentReported.v1")
            await s.refused("$JS.API.INFO")
            await s.refused("$JS.API.STREAM.INFO.INBOUND")

    asyncio.run(scenario())


def test_readme_documents_every_user() -> None:
    readme = (NATS_DIR / "README.md").read_text(encoding="utf-8")
    for user in (*SERVICES, "admin", "mia-app", "sys"):
        assert f"`{user}`" in readme


