"""The console's application layer: the use cases of accounts and sessions (add, list, disable, change a password,
sign in, resolve a session).

Passwords are hashed with argon2id (argon2-cffi). A session cookie is 32 random bytes; the database keeps only
its SHA-256, and the CSRF token of the session's forms is derived from the cookie (a synchroniser token bound to
the session that needs no storage and cannot be computed from the database).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.console import store
from services.console.domain.accounts import (
    Account,
    AccountError,
    Lockout,
    SessionRules,
    is_oidc_account,
    password_problems,
    validate_account,
    validate_scope,
)
from shared.db import Database
from shared.settings import Settings

# Tests hash with the cheapest parameters; production uses argon2-cffi's RFC 9106 "low memory" defaults.
HASHERS = {"standard": PasswordHasher(), "fast": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)}


class SignInRefused(Exception):
    """Wrong username or password, a disabled or a locked account: one answer for all, so that the page tells
    nobody which usernames exist."""


@dataclass(frozen=True)
class SignedIn:
    cookie: str  # the session cookie's value, given to the browser only
    account: Account


@dataclass(frozen=True)
class ActiveSession:
    session_hash: str
    account: Account
    csrf: str
    language: str | None


def session_hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def csrf_for(cookie: str) -> str:
    """The session's form token: a keyed hash of the secret cookie (the stored hash is of another input)."""
    return hmac.new(cookie.encode(), b"antq-console-csrf", hashlib.sha256).hexdigest()


def same_token(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class Accounts:
    """Accounts and sessions over the console's database, with the deployment's lockout and session rules."""

    def __init__(self, db: Database, settings: Settings):
        self.db = db
        self.hasher = HASHERS[settings.console_argon2_profile]
        self.lockout = Lockout(failures=settings.console_lockout_failures, minutes=settings.console_lockout_minutes)
        self.rules = SessionRules(idle=timedelta(minutes=settings.console_session_idle_minutes),
                                  absolute=timedelta(hours=settings.console_session_absolute_hours))
        # Verifying against this when the username is unknown makes both failures cost the same time.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    # --- administration (antq users) ------------------------------------------------------------------------
    def _checked_hash(self, username: str, password: str) -> str:
        problems = password_problems(password, username=username)
        if problems:
            raise AccountError("the password needs " + "; ".join(problems))
        return self.hasher.hash(password)

    async def add(self, account: Account, password: str, *, now: datetime) -> None:
        validate_account(account)
        hashed = await asyncio.to_thread(self._checked_hash, account.username, password)
        async with self.db.unit_of_work() as uow:
            if await store.get_account(session=uow.session, username=account.username) is not None:
                raise AccountError(f"account {account.username!r} exists already")
            await store.insert_account(session=uow.session, account=account, password_hash=hashed, now=now)

    async def list(self) -> list[Account]:
        async with self.db.read() as session:
            return await store.list_accounts(session=session)

    async def disable(self, username: str, *, now: datetime) -> None:
        """Disable an account and end its sessions at once."""
        async with self.db.unit_of_work() as uow:
            if not await store.set_disabled(session=uow.session, username=username, disabled=True, now=now):
                raise AccountError(f"no account {username!r}")
            await store.delete_sessions_of(session=uow.session, username=username)

    async def set_password(self, username: str, password: str, *, now: datetime) -> None:
        """A new password lifts a lock and ends every session of the account."""
        if is_oidc_account(username):
            raise AccountError("an account of the OIDC provider has no password in the console")
        hashed = await asyncio.to_thread(self._checked_hash, username, password)
        async with self.db.unit_of_work() as uow:
            if not await store.set_password(session=uow.session, username=username, password_hash=hashed, now=now):
                raise AccountError(f"no account {username!r}")
            await store.delete_sessions_of(session=uow.session, username=username)

    async def enable(self, username: str, *, now: datetime) -> None:
        async with self.db.unit_of_work() as uow:
            if not await store.set_disabled(session=uow.session, username=username, disabled=False, now=now):
                raise AccountError(f"no account {username!r}")

    @staticmethod
    def new_password() -> str:
        """A random password that meets the rule (letters, digits and a symbol; 20 characters or more)."""
        return f"{secrets.token_urlsafe(15)}-{secrets.randbelow(90) + 10}"

    async def reset_password(self, username: str, *, now: datetime) -> str:
        """A new random password (for an administrator to hand over once); lifts a lock, ends every session."""
        password = self.new_password()
        await self.set_password(username, password, now=now)
        return password

    async def set_scope(self, account: Account, *, now: datetime) -> None:
        """A new role, area, unit or level for a local account; its sessions end, so the next page carries the new
        scope. An account of the OIDC provider takes these from its ID token at every sign-in: refused."""
        if is_oidc_account(account.username):
            raise AccountError("an account of the OIDC provider takes its role and area from the provider")
        validate_scope(account)
        async with self.db.unit_of_work() as uow:
            if not await store.set_scope(session=uow.session, account=account, now=now):
                raise AccountError(f"no account {account.username!r}")
            await store.delete_sessions_of(session=uow.session, username=account.username)

    # --- sign-in and sessions -------------------------------------------------------------------------------
    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def sign_in(self, username: str, password: str, *, now: datetime) -> SignedIn:
        username = username.strip().lower()[:64]
        password = password[:1024]
        async with self.db.read() as session:
            found = await store.get_account(session=session, username=username)
        if found is None or is_oidc_account(username):  # the provider's people have no password here
            await asyncio.to_thread(self._verify, self._dummy_hash, password)
            raise SignInRefused()
        account, hashed = found
        if account.disabled or self.lockout.is_locked(account, now):
            await asyncio.to_thread(self._verify, self._dummy_hash, password)
            raise SignInRefused()
        if not await asyncio.to_thread(self._verify, hashed, password):
            async with self.db.unit_of_work() as uow:
                # Re-read under the write lock: concurrent failures each count.
                current = await store.get_account(session=uow.session, username=username)
                if current is not None:
                    await store.save_attempts(session=uow.session, account=self.lockout.after_failure(current[0], now),
                                              now=now)
            raise SignInRefused()
        cookie = secrets.token_urlsafe(32)
        async with self.db.unit_of_work() as uow:
            if account.failed_attempts or account.locked_until:
                await store.save_attempts(session=uow.session, account=self.lockout.after_success(account), now=now)
            await store.insert_session(session=uow.session, session_hash=session_hash(cookie), username=username,
                                       now=now)
        return SignedIn(cookie=cookie, account=self.lockout.after_success(account))

    async def sign_in_provider(self, account: Account, *, now: datetime) -> SignedIn:
        """A person the OIDC provider vouched for: their `oidc:<sub>` row takes this sign-in's role and scope,
        then a session opens exactly as for a password (refused if the console disabled the row)."""
        if not is_oidc_account(account.username):
            raise AccountError("an account of the OIDC provider is keyed oidc:<sub>")
        validate_scope(account)
        cookie = secrets.token_urlsafe(32)
        async with self.db.unit_of_work() as uow:
            stored = await store.upsert_provider_account(session=uow.session, account=account, now=now)
            if stored.disabled:
                raise SignInRefused()
            await store.insert_session(session=uow.session, session_hash=session_hash(cookie),
                                       username=account.username, now=now)
        return SignedIn(cookie=cookie, account=stored)

    async def resolve(self, cookie: str | None, *, now: datetime, touch: bool = True) -> ActiveSession | None:
        """The live session of a cookie, or None (unknown, expired, or the account was disabled since).
        `touch` records the use (idle expiry counts from the last page a person opened)."""
        if not cookie or len(cookie) > 100:
            return None
        key = session_hash(cookie)
        async with self.db.read() as session:
            row = await store.get_session(session=session, session_hash=key)
            found = await store.get_account(session=session, username=row["username"]) if row else None
            language = await store.get_language(session=session, username=row["username"]) if row else None
        if row is None:
            return None
        if found is None or found[0].disabled or self.rules.expired(
                created_at=row["created_at"], last_seen_at=row["last_seen_at"], now=now):
            async with self.db.unit_of_work() as uow:
                await store.delete_session(session=uow.session, session_hash=key)
            return None
        if touch and self.rules.needs_touch(last_seen_at=row["last_seen_at"], now=now):
            async with self.db.unit_of_work() as uow:
                await store.touch_session(session=uow.session, session_hash=key, now=now)
        return ActiveSession(session_hash=key, account=found[0], csrf=csrf_for(cookie), language=language)

    async def sign_out(self, active: ActiveSession) -> None:
        async with self.db.unit_of_work() as uow:
            await store.delete_session(session=uow.session, session_hash=active.session_hash)

    async def sign_out_everywhere(self, username: str) -> int:
        async with self.db.unit_of_work() as uow:
            return await store.delete_sessions_of(session=uow.session, username=username)

    async def purge_expired(self, *, now: datetime) -> int:
        async with self.db.unit_of_work() as uow:
            return await store.delete_expired_sessions(session=uow.session, created_before=now - self.rules.absolute,
                                                       seen_before=now - self.rules.idle)

    async def count_sessions(self) -> int:
        async with self.db.read() as session:
            return await store.count_sessions(session=session)

    async def set_language(self, username: str, language: str, *, now: datetime) -> None:
        async with self.db.unit_of_work() as uow:
            await store.set_language(session=uow.session, username=username, language=language, now=now)
