"""Append-only, tamper-evident audit trail: each entry carries the hash of the previous one (a hash chain)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UTCDateTime, utcnow

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
    """Append an entry in the caller's transaction (writers are serialised, so the chain stays linear)."""
    last = (await session.execute(select(table.c.hash).order_by(table.c.seq.desc()).limit(1))).scalar()
    prev = last or GENESIS
    when = at or utcnow()
    body = json.dumps(details or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = entry_hash(prev, when, actor, role, action, target, reason, body)
    await session.execute(insert(table).values(at=when, actor=actor, role=role, action=action, target=target,
                                               reason=reason, details=body, prev_hash=prev, hash=digest))
    return digest


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    broken_at: int | None = None
    problem: str | None = None


async def verify_chain(session: AsyncSession, table: Table) -> ChainReport:
    prev = GENESIS
    count = 0
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
    return ChainReport(count, True)
