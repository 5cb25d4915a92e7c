"""Each agency reads its own replies and no other's: on a real nats-server with the generated accounts (an account
per agency as in production, and the embedded server's one shared agency account), agency A consumes
`antq.outbound.A.>` through its durable consumer and acknowledges it, while agency B can neither pull from A's
consumer, subscribe to A's subjects or inbox, create a consumer of its own, nor read the stream."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from services.bus import consumed_streams
from shared.bus.permissions import (
    AGENCY_JS_PREFIX,
    accounts,
    agency_inbox_prefix,
    production_accounts_conf,
    render_conf,
)
from shared.bus.streams import provision
from shared.contracts.subjects import outbound_durable
from shared.settings import Settings
from shared.testing import eventually, free_port
from tests.deploy.helpers import nats_server_binary

A, B = "agency-a", "agency-b"
PASSWORDS = {A: "pw-agency-a", B: "pw-agency-b", "admin": "pw-admin"}


def _password(user: str) -> str:
    return PASSWORDS.get(user, f"pw-{user}")


@pytest.fixture(scope="module", params=["account-per-agency", "shared-agency-account"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = nats_server_binary()
    if binary is None:
        pytest.skip("nats-server not found")
    workdir = tmp_path_factory.mktemp("nats-outbound")
    block = accounts(consumed_streams(), [A, B], _password, system_account=False,
                     shared_agency_account=request.param == "shared-agency-account")
    port = free_port()
    (workdir / "nats.conf").write_text(
        f'listen: 127.0.0.1:{port}\njetstream {{ store_dir: "{workdir / "js"}" }}\n' + render_conf(block))
    log = workdir / "nats.log"
    proc = subprocess.Popen([binary, "-c", str(workdir / "nats.conf"), "-l", str(log)])
    url = f"nats://127.0.0.1:{port}"
    admin = Settings(nats_url=url, nats_user="admin", nats_password=PASSWORDS["admin"])
    try:
        async def provisioned() -> list[tuple[str, str]]:
            try:
                return await provision(admin, [A, B])
            except Exception:
                if proc.poll() is not None:
                    raise RuntimeError(log.read_text()) from None
                return []

        done = asyncio.run(eventually(provisioned, timeout=20, what="nats-server up and provisioned"))
        assert ("OUTBOUND/outbound-agency-a", "created") in done
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Violations:
    def __init__(self) -> None:
        self.seen: asyncio.Queue[str] = asyncio.Queue()

    async def error_cb(self, exc: Exception) -> None:
        if "permissions violation" in str(exc).lower():
            await self.seen.put(str(exc).lower())

    async def of(self, subject: str) -> str:
        while True:
            message = await asyncio.wait_for(self.seen.get(), timeout=5)
            if f'"{subject.lower()}"' in message:
                return message


@asynccontextmanager
async def agency(url: str, name: str) -> AsyncIterator[tuple[Client, Violations]]:
    seen = Violations()
    nc = await nats.connect(url, user=name, password=PASSWORDS[name], error_cb=seen.error_cb,
                            allow_reconnect=False, inbox_prefix=agency_inbox_prefix(name))
    try:
        yield nc, seen
    finally:
        await nc.close()


async def publish_replies(url: str, to: str, n: int) -> None:
    nc = await nats.connect(url, user="admin", password=PASSWORDS["admin"])
    try:
        for i in range(n):
            await nc.jetstream().publish(f"antq.outbound.{to}.TipAccepted.v1", f'{{"to": "{to}", "n": {i}}}'.encode())
    finally:
        await nc.close()


def test_an_agency_consumes_and_acknowledges_its_own_replies(server: str) -> None:
    async def scenario() -> None:
        await publish_replies(server, A, 2)
        async with agency(server, A) as (nc, _):
            js = nc.jetstream(prefix=AGENCY_JS_PREFIX)
            info = await js.consumer_info("OUTBOUND", outbound_durable(A))
            assert info.config.filter_subject == f"antq.outbound.{A}.>"
            sub = await js.pull_subscribe_bind(outbound_durable(A), "OUTBOUND")
            messages = await sub.fetch(10, timeout=5)
            assert {m.subject for m in messages} == {f"antq.outbound.{A}.TipAccepted.v1"}
            assert len(messages) >= 2
            for m in messages:
                await m.ack_sync(timeout=5)
            assert (await js.consumer_info("OUTBOUND", outbound_durable(A))).num_ack_pending == 0

    asyncio.run(scenario())


def test_another_agency_cannot_read_a_reply_that_is_not_its_own(server: str) -> None:
    async def scenario() -> None:
        await publish_replies(server, A, 1)
        async with agency(server, B) as (nc, seen):
            js = nc.jetstream(prefix=AGENCY_JS_PREFIX)
            # A's consumer: neither its info nor its messages.
            for subject in (f"{AGENCY_JS_PREFIX}.CONSUMER.INFO.OUTBOUND.{outbound_durable(A)}",
                            f"{AGENCY_JS_PREFIX}.CONSUMER.MSG.NEXT.OUTBOUND.{outbound_durable(A)}",
                            f"$JS.API.CONSUMER.MSG.NEXT.OUTBOUND.{outbound_durable(A)}",
                            f"$JS.ACK.OUTBOUND.{outbound_durable(A)}.1.1.1.1.0",
                            # No consumer of its own making, no stream reads, no direct get.
                            f"$JS.API.CONSUMER.CREATE.OUTBOUND.sneaky.antq.outbound.{A}.>",
                            f"{AGENCY_JS_PREFIX}.CONSUMER.CREATE.OUTBOUND.sneaky",
                            "$JS.API.STREAM.MSG.GET.OUTBOUND", "$JS.API.DIRECT.GET.OUTBOUND"):
                await nc.publish(subject, b"{}")
                await nc.flush()
                assert "publish" in await seen.of(subject)
            sub = await js.pull_subscribe_bind(outbound_durable(A), "OUTBOUND")
            with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
                await sub.fetch(1, timeout=2)
            # Nor A's subjects or A's inbox, where A's pulled replies arrive.
            for subject in (f"antq.outbound.{A}.>", "antq.outbound.>", f"{agency_inbox_prefix(A)}.>"):
                await nc.subscribe(subject)
                await nc.flush()
                assert "subscription" in await seen.of(subject)
        # A still has it: B took nothing.
        async with agency(server, A) as (nc, _):
            info = await nc.jetstream(prefix=AGENCY_JS_PREFIX).consumer_info("OUTBOUND", outbound_durable(A))
            assert info.num_pending >= 1

    asyncio.run(scenario())


def test_the_shipped_accounts_give_the_agency_its_reply_consumer_only() -> None:
    conf = production_accounts_conf(consumed_streams(), ["mia-app"])
    assert '"$JS.API.CONSUMER.MSG.NEXT.OUTBOUND.outbound-mia-app", "accounts": ["MIA_APP"]' in conf
    assert (Path(__file__).resolve().parents[2] / "deploy" / "nats" / "accounts.conf").read_text() == conf
