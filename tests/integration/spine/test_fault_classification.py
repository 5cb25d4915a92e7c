"""One classification of failures on SQLite and PostgreSQL: the database's (retried without limit) or the event's
and the code's (retried up to the delivery limit, then dead-lettered with the reason)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shared.bus.consumer import Delivery
from shared.contracts import new_event
from shared.contracts.events import TipReceived
from shared.db import UnitOfWork, is_infrastructure_error, processed_events, utcnow
from shared.service import Service
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.spine.helpers import publish_raw, stream_messages


async def _failure(url: str, *statements: str) -> BaseException:
    """The exception the database raises for the last of `statements` (run in one transaction)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    except Exception as exc:  # the failure is what the test looks at
        return exc
    finally:
        await engine.dispose()
    raise AssertionError(f"{statements[-1]!r} did not fail")


def _unreachable(url: str, tmp_path: Path) -> str:
    """A database of the same kind that is not there: a file in a missing folder, a database the server lacks."""
    if url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'folder' / 'x.db'}"
    return make_url(url).set(database=f"antq_missing_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)


async def test_the_same_fault_is_classified_alike_on_both_databases(
        database_url: Callable[[str], str], tmp_path: Path) -> None:
    url = database_url("notify")
    table = "CREATE TABLE antq_probe (k INTEGER PRIMARY KEY, v VARCHAR(10) NOT NULL)"
    infrastructure = {
        "missing table": await _failure(url, "SELECT * FROM antq_not_migrated_yet"),
        "missing column": await _failure(url, table, "SELECT not_migrated_yet FROM antq_probe"),
        "unavailable database": await _failure(_unreachable(url, tmp_path), "SELECT 1"),
    }
    poison = {
        "duplicate key": await _failure(url, table, "INSERT INTO antq_probe VALUES (1, 'a')",
                                        "INSERT INTO antq_probe VALUES (1, 'b')"),
        "missing value": await _failure(url, table, "INSERT INTO antq_probe VALUES (1, NULL)"),
        "statement the database cannot read": await _failure(url, "SELEC 1"),
    }
    assert {name: is_infrastructure_error(exc) for name, exc in infrastructure.items()} == dict.fromkeys(
        infrastructure, True)
    assert {name: is_infrastructure_error(exc) for name, exc in poison.items()} == dict.fromkeys(poison, False)


async def test_a_missing_table_is_retried_without_limit_and_a_broken_key_is_dead_lettered(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], namespace: str,
        nats_url: str) -> None:
    """A table the code expects but the database lacks (a migration not run yet) is the infrastructure's failure:
    the event is retried with back-off past the delivery limit and never dead-lettered, on SQLite (where it is an
    `OperationalError`) as on PostgreSQL (a `ProgrammingError`). An event whose effect breaks a unique key is
    dead-lettered after the limit, with the reason. HTTP answers alike: 503 with Retry-After, and 500."""
    settings = settings_factory(notify_database_url=database_url("notify"), consumer_max_deliver=2)
    service = Service("notify", settings, title="faults")
    tries: list[int] = []

    @service.consumer("needs-table", stream="TIPS", subject="antq.tips.>", types={TipReceived.TYPE})
    async def needs_table(delivery: Delivery, uow: UnitOfWork) -> None:
        tries.append(delivery.num_delivered)
        await uow.session.execute(text("SELECT 1 FROM antq_not_migrated_yet"))

    @service.consumer("breaks-key", stream="TIPS", subject="antq.tips.>", types={TipReceived.TYPE})
    async def breaks_key(delivery: Delivery, uow: UnitOfWork) -> None:
        for _ in range(2):
            await uow.session.execute(insert(processed_events).values(
                consumer="breaks-key-effect", event_id=delivery.event_id, processed_at=utcnow()))

    @service.app.get("/probe/{fault}")
    async def probe(fault: str) -> None:
        async with service.db.unit_of_work() as uow:
            if fault == "missing-table":
                await uow.session.execute(text("SELECT 1 FROM antq_not_migrated_yet"))
            for _ in range(2):
                await uow.session.execute(insert(processed_events).values(
                    consumer="probe", event_id="e-1", processed_at=utcnow()))

    tip = TipReceived(tip_id=str(uuid.uuid4()), category="theft", channel="web", area_code="79", anonymous=True,
                      priority="normal", received_at=datetime.now(UTC))
    envelope = new_event(tip, source="antq/tips")
    async with running(service) as http:
        missing = await http.get("/probe/missing-table")
        assert (missing.status_code, missing.headers.get("Retry-After")) == (503, "5"), missing.text
        assert (await http.get("/probe/broken-key")).status_code == 500
        await publish_raw(nats_url, f"{namespace}.{envelope.type}", envelope.to_bytes())
        dead = await eventually(lambda: stream_messages(nats_url, f"{namespace}_DLQ"), timeout=15,
                                what="the event that breaks a key in the DLQ")

        async def past_the_limit() -> bool:
            return max(tries, default=0) >= 5

        await eventually(past_the_limit, timeout=20, what="the missing table's event tried past the limit")
        dead = await stream_messages(nats_url, f"{namespace}_DLQ")
    assert [(m["headers"]["Antq-Dlq-Consumer"], m["headers"]["Antq-Dlq-Kind"]) for m in dead] == [
        ("notify-breaks-key", "exhausted")]
    reason = dead[0]["headers"]["Antq-Dlq-Reason"]
    assert reason.startswith("gave up after 2 deliveries: IntegrityError"), reason

