"""Services do not declare streams (their users may not): they wait, not ready, until `antq nats provision` has
run, then reconcile their own durable consumers. The permissions themselves are tested on a real nats-server with
the shipped config in tests/deploy/test_deploy_nats.py."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import nats

from services.units.app import build as build_units
from shared.bus.streams import Namespace, provision
from shared.settings import Settings
from shared.testing import eventually


async def test_a_service_waits_for_provisioned_streams_and_then_reconciles_its_consumers(
        settings_factory: Callable[..., Settings], namespace: str, nats_url: str) -> None:
    settings = settings_factory(units_database_url=None)
    units = build_units(settings)
    ns = Namespace(namespace)
    await units.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=units.app), base_url="http://t") as http:
            async def waiting_for_streams() -> dict[str, object]:
                r = await http.get("/readyz")
                body = r.json()
                return body if r.status_code == 503 and "not provisioned" in str(body["checks"]["nats"]) else {}

            body = await eventually(waiting_for_streams, timeout=10, what="a 503 naming the missing streams")
            assert f"{ns.stream('UNITS')}" in str(body["checks"]["nats"])  # type: ignore[index]
            nc = await nats.connect(nats_url)
            try:  # the service created none of them itself
                names = await nc.jetstream().streams_info()
                assert not [s for s in names if s.config.name.startswith(f"{namespace}_")]
            finally:
                await nc.close()

            await provision(settings)

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await eventually(ready, timeout=30, what="units ready once the streams exist")
        nc = await nats.connect(nats_url)
        try:
            consumers = await nc.jetstream().consumers_info(ns.stream("INBOUND"))
            assert {c.name for c in consumers} >= {"units-inbound-units", "units-inbound-incidents"}
        finally:
            await nc.close()
    finally:
        await units.stop()
