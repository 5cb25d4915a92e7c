"""Append-only, tamper-evident audit trail: each entry carries the hash of the previous one (a hash chain).

Every service that keeps one serves it read-only to administrators with the same route, `GET /audit`, made by
`audit_router` and included by the service's `app.py`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database, UTCDateTime, insert_many, utcnow
from shared.errors import Invalid
from shared.http import ERROR_RESPONSES, Page, bearer_principal, clamp_limit, decode_cursor, encode_cursor
from shared.policy import Policy

GENESIS = "0" * 64


def audit_table(metadata: MetaData) -> Table:
    """The audit table, declared in a service's own metadata (and created by its migrations)."""
    return Table(
        "audit_log",
        metadata,
        Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("at", UTCDateTime, nullable=False),
        Column("actor", String(200), nullable=False),
        Column("role", String(32), nullable=False),
        Column("action", String(100), nullable=False),
        Column("target", String(200), nullable=False),
        Column("reason", Text, nullable=True),
        Column("details", Text, nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False, unique=True),
    )


def entry_hash(prev_hash: str, at: datetime, actor: str, role: str, action: str, target: str,
               reason: str | None, details: str) -> str:
    canonical = json.dumps([prev_hash, at.isoformat(), actor, role, action, target, reason, details],
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def append(session: AsyncSession, table: Table, *, actor: str, role: str, action: str, target: str,
                 reason: str | None = None, details: dict[str, Any] | None = None,
                 at: datetime | None = None) -> str:
    """Append an entry in the caller's transaction (writers are serialised, so the chain stays linear).

    SQLite serialises writers itself; on PostgreSQL a transaction-scoped advisory lock keeps two concurrent
    writers from linking to the same previous entry (which would fork the chain).
    """
    entry = {"actor": actor, "role": role, "action": action, "target": target, "reason": reason,
             "details": details, "at": at}
    return (await append_many(session, table, [entry]))[0]


async def append_many(session: AsyncSession, table: Table, entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Append several entries in order (each a mapping of `append`'s keyword arguments): the same chain as
    appending them one by one, with one read of the head and one insert."""
    if not entries:
        return []
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"antq-audit:{table.name}".encode()).digest()[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    prev = (await session.execute(select(table.c.hash).order_by(table.c.seq.desc()).limit(1))).scalar() or GENESIS
    rows, digests = [], []
    for e in entries:
        when = e.get("at") or utcnow()
        body = json.dumps(e.get("details") or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        digest = entry_hash(prev, when, e["actor"], e["role"], e["action"], e["target"], e.get("reason"), body)
        rows.append({"at": when, "actor": e["actor"], "role": e["role"], "action": e["action"],
                     "target": e["target"], "reason": e.get("reason"), "details": body, "prev_hash": prev,
                     "hash": digest})
        digests.append(digest)
        prev = digest
    await insert_many(session, table, rows)
    return digests


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a verification. `head` is the hash of the last entry: record it elsewhere (a ticket, a
    signed report) and a later verification can prove nothing was cut off the end (`anchor=`)."""

    entries: int
    ok: bool
    broken_at: int | None = None
    problem: str | None = None
    head: str | None = None
    service: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def verify_chain(session: AsyncSession, table: Table, *, anchor: str | None = None) -> ChainReport:
    """Walk the chain from the start. Detects edited entries, removed or inserted entries, and (with `anchor`,
    a head hash recorded earlier) entries removed from the end."""
    prev = GENESIS
    count = 0
    anchored = anchor is None
    rows = await session.stream(select(table).order_by(table.c.seq))
    async for row in rows.mappings():
        count += 1
        if row["prev_hash"] != prev:
            return ChainReport(count, False, row["seq"], "previous-hash link broken (an entry was removed)")
        expected = entry_hash(prev, row["at"], row["actor"], row["role"], row["action"], row["target"],
                              row["reason"], row["details"])
        if expected != row["hash"]:
            return ChainReport(count, False, row["seq"], "entry content does not match its hash (edited)")
        prev = row["hash"]
        anchored = anchored or prev == anchor
    if not anchored:
        return ChainReport(count, False, None, "the anchored entry is missing (entries removed from the end)",
                           head=prev if count else None)
    return ChainReport(count, True, head=prev if count else None)


async def verify_service_audit(settings: Any, service: str, *, anchor: str | None = None) -> ChainReport:
    """Verify one service's audit chain from its database (for `antq audit verify SERVICE`).

    A service that keeps no audit table reports ok with 0 entries and says so in `problem`.
    """
    from shared.db import make_engine

    engine = make_engine(settings.database_url_for(service))
    try:
        async with engine.connect() as conn:
            exists = await conn.run_sync(lambda sync: inspect(sync).has_table("audit_log"))
        if not exists:
            return ChainReport(0, True, problem=f"{service} keeps no audit trail (no audit_log table)",
                               service=service)
        table = audit_table(MetaData())
        async with AsyncSession(engine) as session:
            report = await verify_chain(session, table, anchor=anchor)
        return ChainReport(report.entries, report.ok, report.broken_at, report.problem, report.head, service)
    finally:
        await engine.dispose()


async def latest_entries(session: AsyncSession, table: Table, *, action: str | None = None,
                         target: str | None = None, before: int | None = None, limit: int = 50
                         ) -> list[dict[str, Any]]:
    """Entries newest first (the administrators' read-only view): optionally one action or one target, and
    below the sequence number `before` (the next page)."""
    stmt = select(table)
    if action is not None:
        stmt = stmt.where(table.c.action == action)
    if target is not None:
        stmt = stmt.where(table.c.target == target)
    if before is not None:
        stmt = stmt.where(table.c.seq < before)
    rows = (await session.execute(stmt.order_by(table.c.seq.desc()).limit(limit))).mappings()
    return [{**dict(r), "details": json.loads(r["details"] or "{}")} for r in rows]


class AuditEntryOut(BaseModel):
    """One entry of a service's audit trail as its `GET /audit` returns it (administrators only)."""

    seq: int
    at: datetime
    actor: str = Field(description="the token subject of who did it")
    role: str
    action: str
    target: str
    reason: str | None = None
    details: dict[str, Any]
    hash: str
    prev_hash: str


async def audit_page(session: AsyncSession, table: Table, *, action: str | None, target: str | None,
                     limit: int | None, cursor: str | None) -> Any:
    """One page of `GET /audit` (newest first; the cursor is the last entry's sequence number)."""
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    if before is not None and (not isinstance(before, int) or not 0 <= before < 2**63):
        raise Invalid("cursor is not valid", code="invalid_cursor")
    rows = await latest_entries(session, table, action=action, target=target, before=before, limit=size + 1)
    items = [AuditEntryOut.model_validate(r) for r in rows[:size]]
    return Page[AuditEntryOut](items=items, next_cursor=encode_cursor(items[-1].seq) if len(rows) > size else None)


def audit_router(policy: Policy, table: Table, db: Database, *, action_example: str,
                 target_description: str) -> APIRouter:
    """`GET /audit` of a service: its audit trail in `table` (of the database `db`), newest first, for whom
    `policy` allows `audit.read` (administrators). `action_example` (one of the service's audit actions) and
    `target_description` document the `action` and `target` filters in the service's own words. The route names
    its action literally, as every route does: the OpenAPI document derives its security from that call
    (shared/apidocs.py), here through the `policy` the route closes over."""
    router = APIRouter()

    @router.get("/audit", response_model=Page[AuditEntryOut], tags=["audit"], responses=ERROR_RESPONSES,
                summary="The hash-chained audit trail, newest first (administrators; read-only)")
    async def list_audit(request: Request,
                         action: str | None = Query(default=None, max_length=100,
                                                    description=f"e.g. {action_example}"),
                         target: str | None = Query(default=None, max_length=200, description=target_description),
                         limit: int | None = Query(default=None), cursor: str | None = None) -> Page[AuditEntryOut]:
        policy.authorize(bearer_principal(request), "audit.read")
        async with db.read() as session:
            page: Page[AuditEntryOut] = await audit_page(session, table, action=action, target=target, limit=limit,
                                                         cursor=cursor)
        return page

    return router
