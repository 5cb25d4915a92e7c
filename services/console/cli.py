"""`antq users ...`: the console's local accounts (passwords from standard input, never from arguments)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from services.console.domain.accounts import Account, AccountError
from services.console.handlers import Accounts
from shared.cli import DataDir
from shared.db import Database, utcnow
from shared.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Accounts of the staff console (local sign-in).")


def _password() -> str:
    """One line from standard input (a terminal asks without echo)."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


def _run(data_dir: Path | None, work: Callable[[Accounts], Awaitable[Any]]) -> Any:
    settings = load_settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def main() -> Any:
        url = settings.database_url_for("console")
        from shared.migrations import migrate  # only here: Alembic is 11 MiB of every `antq` process

        await migrate(url, "console")
        db = Database(url, source="antq/console", sqlite_synchronous=settings.sqlite_synchronous)
        try:
            return await work(Accounts(db, settings))
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except AccountError as exc:
        typer.echo(f"antq users: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("add")
def add(username: Annotated[str, typer.Argument(help="Lower-case letters, digits, '.', '_' or '-'")],
        role: Annotated[str, typer.Option(help="admin | officer | leader | unit")],
        area: Annotated[str | None, typer.Option(help="Area code (officers; leaders below the ministry)")] = None,
        unit: Annotated[str | None, typer.Option(help="Unit id (unit staff)")] = None,
        level: Annotated[str | None, typer.Option(help="commune | police_unit | province | ministry (leaders)")]
        = None,
        data_dir: DataDir = None) -> None:
    """Create an account; the password (at least 12 characters, not all of one kind) is read from stdin."""
    account = Account(username=username, role=role, area=area, unit=unit, level=level)
    password = _password()
    _run(data_dir, lambda accounts: accounts.add(account, password, now=utcnow()))
    typer.echo(f"added {username} ({role})")


@app.command("list")
def list_(data_dir: DataDir = None) -> None:
    """Accounts with their role, scope and state (never a password hash)."""
    found: list[Account] = _run(data_dir, lambda accounts: accounts.list())
    now = utcnow()
    for a in found:
        state = "disabled" if a.disabled else "locked" if a.locked_until and a.locked_until > now else "active"
        scope = " ".join(f"{k}={v}" for k, v in (("area", a.area), ("unit", a.unit), ("level", a.level)) if v)
        typer.echo(f"{a.username:<24} {a.role:<8} {state:<9} {scope}".rstrip())


@app.command("disable")
def disable(username: str, data_dir: DataDir = None) -> None:
    """Disable an account and end its sessions."""
    _run(data_dir, lambda accounts: accounts.disable(username, now=utcnow()))
    typer.echo(f"disabled {username}")


@app.command("passwd")
def passwd(username: str, data_dir: DataDir = None) -> None:
    """Set a new password (from stdin); lifts a lockout and ends the account's sessions."""
    password = _password()
    _run(data_dir, lambda accounts: accounts.set_password(username, password, now=utcnow()))
    typer.echo(f"password changed for {username}")
