"""`antq units …` commands: bulk import of a registry file, and of past years (history), straight into the units
database."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer

from shared.cli import DataDir
from shared.settings import Settings, load_settings

if TYPE_CHECKING:
    from shared.db import Database

app = typer.Typer(no_args_is_help=True, help="The registry of agencies, enterprises and schools.")

# The two imports' file and its format.
ImportFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV (header row) or JSON lines")]
ImportFormat = Annotated[Literal["auto", "csv", "jsonl"], typer.Option("--format", help="Default: by file suffix")]


@app.callback()
def units() -> None:
    """The registry of agencies, enterprises and schools."""


FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson", "ndjson": "application/x-ndjson"}


@contextlib.asynccontextmanager
async def _units_database(settings: Settings) -> AsyncIterator[Database]:
    """The units database of these settings, migrated first, for one command."""
    from shared.db import Database
    from shared.migrations import migrate

    url = settings.database_url_for("units")
    await migrate(url, "units")
    db = Database(url, source="antq/units", sqlite_synchronous=settings.sqlite_synchronous)
    try:
        yield db
    finally:
        await db.dispose()


async def run_import(settings: Settings, file: Path, fmt: str) -> dict[str, object]:
    """Import into the units database; the events wait in its outbox until the units service publishes them."""
    from services.units.handlers import import_units, parse_records
    from shared.db import utcnow

    async with _units_database(settings) as db:
        records = parse_records(file.read_bytes(), FORMATS[fmt])
        report = await import_units(db, records, now=utcnow(), actor=f"cli:{getpass.getuser()}",
                                    chunk_rows=settings.units_import_chunk_rows,
                                    keep_rows=lambda row: row.status == "rejected")
    return report.model_dump(mode="json", exclude_none=True)


def _format(file: Path, fmt: str) -> str:
    """The file's format: as given, or by its suffix."""
    if fmt != "auto":
        return fmt
    return "jsonl" if file.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"


def _report(command: str, run: Coroutine[Any, Any, dict[str, Any]], *, as_json: bool,
            summary: Callable[[dict[str, Any]], str]) -> NoReturn:
    """Run an import and print its report (JSON, or the summary and each rejected row with its reasons); exit 2
    when the import is refused as a whole, 1 when a row was rejected, else 0."""
    from shared.errors import DomainError

    try:
        report = asyncio.run(run)
    except DomainError as exc:
        typer.echo(f"antq units {command}: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        typer.echo(summary(report))
        for row in report.get("rows", []):
            reasons = "; ".join(f"{e['field']}: {e['message']}" for e in row.get("errors", []))
            typer.echo(f"  line {row['line']}: rejected — {reasons}")
    raise typer.Exit(1 if report["rejected"] else 0)


@app.command("import")
def import_file(
    file: ImportFile,
    data_dir: DataDir = None,
    fmt: ImportFormat = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Import units, idempotent on the external key (tax code, school code); a bad row never stops the others."""
    _report("import", run_import(load_settings(data_dir=data_dir), file, _format(file, fmt)), as_json=as_json,
            summary=lambda report: f"{report['total']} rows: {report['created']} created, {report['updated']} "
                                   f"updated, {report['unchanged']} unchanged, {report['rejected']} rejected")


async def run_history_import(settings: Settings, file: Path, fmt: str, *, dry_run: bool) -> dict[str, object]:
    """The history import of `POST /history/import`, straight into the units database, as an admin of this
    machine (audited as `cli:<user>`); the events wait in its outbox until the units service publishes them."""
    from services.units.domain import Actor
    from services.units.handlers import import_history, parse_records
    from shared.db import utcnow

    async with _units_database(settings) as db:
        records = parse_records(file.read_bytes(), FORMATS[fmt])
        report = await import_history(db, records, now=utcnow(), actor=Actor(sub=f"cli:{getpass.getuser()}",
                                                                             role="admin"),
                                      dry_run=dry_run, chunk_rows=settings.units_import_chunk_rows,
                                      keep_rows=lambda row: row.status == "rejected")
    return report.model_dump(mode="json", exclude_none=True)


@app.command("import-history")
def import_history_file(
    file: ImportFile,
    data_dir: DataDir = None,
    fmt: ImportFormat = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row and report; record nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Import past years' ANTT results and awards already held (with their decision numbers); idempotent."""
    prefix = "dry run: " if dry_run else ""
    _report("import-history", run_history_import(load_settings(data_dir=data_dir), file, _format(file, fmt),
                                                 dry_run=dry_run), as_json=as_json,
            summary=lambda report: f"{prefix}{report['total']} rows: {report['created']} created, "
                                   f"{report['unchanged']} unchanged, {report['rejected']} rejected")
