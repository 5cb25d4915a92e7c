"""The console's own tables (accounts, sessions, preferences) and their data-access functions.

Nothing else is kept here: tips, notifications and units stay in their services and are read through their APIs.
A session row is keyed by the SHA-256 of the cookie's random value, so the database never holds a usable cookie.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.console.domain.accounts import Account
from shared.db import UTCDateTime

metadata = MetaData()
UNUSABLE_PASSWORD = "!"  # not an argon2 hash: the accounts of the OIDC provider have no password here

accounts = Table(
    "accounts",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("area", String(64), nullable=True),
    Column("unit", String(64), nullable=True),
    Column("level", String(16), nullable=True),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),  # hex SHA-256 of the cookie value
    Column("username", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Index("ix_sessions_username", "username"),
)

preferences = Table(
    "preferences",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("language", String(8), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


def _account(row: Any) -> Account:
    return Account(username=row["username"], role=row["role"], area=row["area"], unit=row["unit"],
                   level=row["level"], disabled=row["disabled"], failed_attempts=row["failed_attempts"],
                   locked_until=row["locked_until"])


async def get_account(*, session: AsyncSession, username: str) -> tuple[Account, str] | None:
    """The account and its password hash."""
    row = (await session.execute(select(accounts).where(accounts.c.username == username))).mappings().first()
    return (_account(row), row["password_hash"]) if row else None


async def list_accounts(*, session: AsyncSession) -> list[Account]:
    rows = (await session.execute(select(accounts).order_by(accounts.c.username))).mappings().all()
    return [_account(r) for r in rows]


async def insert_account(*, session: AsyncSession, account: Account, password_hash: str, now: datetime) -> None:
    await session.execute(insert(accounts).values(
        username=account.username, role=account.role, area=account.area, unit=account.unit, level=account.level,
        password_hash=password_hash, disabled=False, failed_attempts=0, locked_until=None, created_at=now,
        updated_at=now))


async def upsert_provider_account(*, session: AsyncSession, account: Account, now: datetime) -> Account:
    """Create or update the row of a person of the OIDC provider with the role and scope of this sign-in; a row
    disabled in the console stays disabled. Its password hash is '!', which no password verifies against."""
    done = await session.execute(update(accounts).where(accounts.c.username == account.username).values(
        role=account.role, area=account.area, unit=account.unit, level=account.level, updated_at=now))
    if not done.rowcount:  # type: ignore[attr-defined]
        await insert_account(session=session, account=account, password_hash=UNUSABLE_PASSWORD, now=now)
    found = await get_account(session=session, username=account.username)
    if found is None:
        raise LookupError(account.username)  # unreachable: written in this transaction
    return found[0]


async def save_attempts(*, session: AsyncSession, account: Account, now: datetime) -> None:
    await session.execute(update(accounts).where(accounts.c.username == account.username).values(
        failed_attempts=account.failed_attempts, locked_until=account.locked_until, updated_at=now))


async def set_password(*, session: AsyncSession, username: str, password_hash: str, now: datetime) -> bool:
    result = await session.execute(update(accounts).where(accounts.c.username == username).values(
        password_hash=password_hash, failed_attempts=0, locked_until=None, updated_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_disabled(*, session: AsyncSession, username: str, disabled: bool, now: datetime) -> bool:
    result = await session.execute(update(accounts).where(accounts.c.username == username).values(
        disabled=disabled, updated_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_scope(*, session: AsyncSession, account: Account, now: datetime) -> bool:
    """A local account's role, area, unit and level (the caller has validated them)."""
    result = await session.execute(update(accounts).where(accounts.c.username == account.username).values(
        role=account.role, area=account.area, unit=account.unit, level=account.level, updated_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_session(*, session: AsyncSession, session_hash: str, username: str, now: datetime) -> None:
    await session.execute(insert(sessions).values(session_hash=session_hash, username=username, created_at=now,
                                                  last_seen_at=now))


async def get_session(*, session: AsyncSession, session_hash: str) -> Any:
    return (await session.execute(select(sessions).where(sessions.c.session_hash == session_hash))).mappings().first()


async def touch_session(*, session: AsyncSession, session_hash: str, now: datetime) -> None:
    await session.execute(update(sessions).where(sessions.c.session_hash == session_hash).values(last_seen_at=now))


async def delete_session(*, session: AsyncSession, session_hash: str) -> None:
    await session.execute(delete(sessions).where(sessions.c.session_hash == session_hash))


async def delete_sessions_of(*, session: AsyncSession, username: str) -> int:
    result = await session.execute(delete(sessions).where(sessions.c.username == username))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_expired_sessions(*, session: AsyncSession, created_before: datetime, seen_before: datetime) -> int:
    result = await session.execute(delete(sessions).where(
        (sessions.c.created_at < created_before) | (sessions.c.last_seen_at < seen_before)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def count_sessions(*, session: AsyncSession) -> int:
    from sqlalchemy import func

    return int((await session.execute(select(func.count()).select_from(sessions))).scalar_one())


async def get_language(*, session: AsyncSession, username: str) -> str | None:
    return (await session.execute(select(preferences.c.language).where(
        preferences.c.username == username))).scalar_one_or_none()


async def set_language(*, session: AsyncSession, username: str, language: str, now: datetime) -> None:
    done = await session.execute(update(preferences).where(preferences.c.username == username).values(
        language=language, updated_at=now))
    if not done.rowcount:  # type: ignore[attr-defined]
        await session.execute(insert(preferences).values(username=username, language=language, updated_at=now))
