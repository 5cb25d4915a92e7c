"""The console's pure rules: accounts, the password rule, lockout after failed sign-ins, session expiry."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared import places
from shared.areas import is_area_code

ROLES: tuple[str, ...] = ("admin", "officer", "leader", "unit")
LEVELS: tuple[str, ...] = ("commune", "police_unit", "province", "ministry")
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024  # argon2 hashes any length; a bound keeps a hostile form from costing memory
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
OIDC_PREFIX = "oidc:"
OIDC_SUB_MAX = 59  # the accounts' key is 64 characters, the prefix 5


class AccountError(ValueError):
    """An account's fields or a password break a rule; the message says which, in English (the command line)."""


@dataclass(frozen=True)
class Account:
    """A person who signs in to the console: the role, area, unit and level their tokens carry."""

    username: str
    role: str
    area: str | None = None
    unit: str | None = None
    level: str | None = None
    disabled: bool = False
    failed_attempts: int = 0
    locked_until: datetime | None = None


def validate_account(account: Account) -> Account:
    """A local account: its username, and the rules of `validate_scope`."""
    if not _USERNAME.match(account.username):
        raise AccountError("a username is 2 to 63 lower-case letters, digits, '.', '_' or '-'")
    return validate_scope(account)


def oidc_username(sub: str) -> str:
    """The account row of a person of the OIDC provider: `oidc:<sub>`. A local username cannot contain ':', so
    the two kinds never collide; a `sub` too long for the column is keyed by its SHA-256 instead."""
    if 0 < len(sub) <= OIDC_SUB_MAX and sub.isprintable():
        return OIDC_PREFIX + sub
    return OIDC_PREFIX + "sha256:" + hashlib.sha256(sub.encode()).hexdigest()[:48]


def is_oidc_account(username: str) -> bool:
    return username.startswith(OIDC_PREFIX)


def validate_scope(account: Account) -> Account:
    """The same rules as the tokens the account's pages will carry: an officer needs an area, a unit staff
    account a unit, a leader a level (and an area below the ministry)."""
    if account.role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if account.area is not None and not is_area_code(account.area):
        raise AccountError("area must be an area code such as 79 or 79.26743")
    if account.area is not None and not places.is_known_area(account.area):
        raise AccountError(places.unknown_area_message(account.area))
    if account.role == "officer" and account.area is None:
        raise AccountError("an officer account needs --area (the area whose tips it handles)")
    if account.role == "unit" and not account.unit:
        raise AccountError("a unit account needs --unit")
    if account.role == "leader":
        if account.level not in LEVELS:
            raise AccountError(f"a leader account needs --level, one of {', '.join(LEVELS)}")
        if account.level != "ministry" and account.area is None:
            raise AccountError("a leader below the ministry needs --area")
    elif account.level is not None:
        raise AccountError("--level is for leader accounts only")
    return account


def password_problems(password: str, *, username: str = "") -> list[str]:
    """Why a password is refused (empty when it is accepted): at least 12 characters, not made of one class of
    characters only (letters, digits, others), and not the username. Length matters more than composition
    (NIST SP 800-63B); the class rule only stops '111111111111' and 'aaaaaaaaaaaa'-like choices."""
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(f"at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(f"at most {PASSWORD_MAX_LENGTH} characters")
    classes = {("letter" if ch.isalpha() else "digit" if ch.isdigit() else "other") for ch in password}
    if password and len(classes) < 2:
        problems.append("not only letters, only digits or only symbols")
    if username and password.casefold() == username.casefold():
        problems.append("not the username")
    return problems


@dataclass(frozen=True)
class Lockout:
    """After `failures` failed sign-ins in a row, the account refuses every password for `minutes`."""

    failures: int = 5
    minutes: float = 15

    def is_locked(self, account: Account, now: datetime) -> bool:
        return account.locked_until is not None and now < account.locked_until

    def after_failure(self, account: Account, now: datetime) -> Account:
        if self.is_locked(account, now):
            return account  # attempts while locked neither extend nor shorten the lock
        attempts = account.failed_attempts + 1
        if attempts >= self.failures:
            return replace(account, failed_attempts=0, locked_until=now + timedelta(minutes=self.minutes))
        return replace(account, failed_attempts=attempts, locked_until=None)

    @staticmethod
    def after_success(account: Account) -> Account:
        return replace(account, failed_attempts=0, locked_until=None)


@dataclass(frozen=True)
class SessionRules:
    """A session ends after `idle` without a request, or `absolute` after sign-in, whichever comes first."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    # Writing last_seen on every request would make every page a write; a minute's precision is enough.
    touch_every: timedelta = timedelta(seconds=60)

    def expired(self, *, created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
        return now >= created_at + self.absolute or now >= last_seen_at + self.idle

    def needs_touch(self, *, last_seen_at: datetime, now: datetime) -> bool:
        return now - last_seen_at >= self.touch_every
