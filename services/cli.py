"""The `antq` command line: run the platform, one service, migrations, and mint local tokens."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from shared.cli import DataDir
from shared.settings import PORT_OFFSETS, PROCESSES, SERVICES, Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="antq: the all-people movement to protect national security, as an event-driven platform.")

# The embedded HTTP ports, as offsets from the port base: `1..5`.
_PORTS = f"{min(PORT_OFFSETS.values())}..{max(PORT_OFFSETS.values())}"


def _check_service(service: str, known: tuple[str, ...] = SERVICES) -> str:
    if service not in known:
        raise typer.BadParameter(f"service must be one of: {', '.join(known)}")
    return service


@app.command()
def up(
    data_dir: DataDir = None,
    nats_port: Annotated[int | None, typer.Option(help="Port of the embedded NATS [env ANTQ_NATS_PORT; 4222]")] = None,
    port_base: Annotated[int | None, typer.Option(help=f"HTTP ports are P+{_PORTS} [env ANTQ_PORT_BASE; 8000]")] = None,
    nats_url: Annotated[str | None, typer.Option(help="Use this NATS, start none [env ANTQ_NATS_URL]")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Load a demo province")] = False,
) -> None:
    """Start NATS (JetStream) and every service (the console last) as supervised processes; Ctrl-C stops
    everything."""
    from services.runner import run_up

    settings = load_settings(data_dir=data_dir, nats_port=nats_port, port_base=port_base, nats_url=nats_url)
    raise typer.Exit(asyncio.run(run_up(settings, demo=demo)))


@app.command()
def serve(service: Annotated[str, typer.Argument(help=" | ".join(PROCESSES))]) -> None:
    """Run one service (what compose and Kubernetes run); configuration from ANTQ_* variables."""
    import importlib

    import uvicorn

    from shared.datadir import prepare_data_dir
    from shared.observability import configure_logging
    from shared.server import server_config

    _check_service(service, PROCESSES)
    settings = load_settings()
    configure_logging(service, settings.log_level, settings.log_json)
    prepare_data_dir(settings, [service])
    module = importlib.import_module(f"services.{service}.app")
    application = module.create_app(settings)
    server = uvicorn.Server(server_config(application, settings, port=settings.http_port_for(service)))
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when the port is taken
        raise typer.Exit(int(exc.code or 1)) from exc
    if not server.started:
        raise typer.Exit(1)


@app.command()
def migrate(service: Annotated[str | None, typer.Argument(help="One service, or all when omitted")] = None,
            data_dir: DataDir = None) -> None:
    """Apply database migrations (services also do this on start-up in embedded mode)."""
    from shared.datadir import prepare_data_dir
    from shared.migrations import migrate as run_migrations

    settings = load_settings(data_dir=data_dir)
    targets = [_check_service(service, PROCESSES)] if service else list(PROCESSES)
    prepare_data_dir(settings, targets)
    for name in targets:
        asyncio.run(run_migrations(settings.database_url_for(name), name))
        typer.echo(f"{name}: migrated")


token_app = typer.Typer(help="Bearer tokens for the local deployment.", invoke_without_command=True)
app.add_typer(token_app, name="token")


@token_app.command("revoke")
def token_revoke(jti: Annotated[str, typer.Argument(help="The token's id (jti), printed by `antq token --show-id`")],
                 data_dir: DataDir = None) -> None:
    """Revoke a local token by its id; every service refuses it from then on."""
    from shared.auth import revoke_token

    settings = load_settings(data_dir=data_dir)
    try:
        fresh = revoke_token(settings, jti)
    except ValueError as exc:
        typer.echo(f"antq token revoke: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"revoked {jti}" if fresh else f"{jti} was already revoked")


@token_app.callback()
def token(
    ctx: typer.Context,
    role: Annotated[str | None, typer.Option(help="admin | officer | leader | unit | agency")] = None,
    data_dir: DataDir = None,
    area: Annotated[str | None, typer.Option(help="Area code the token is scoped to")] = None,
    unit: Annotated[str | None, typer.Option(help="Unit id (required for role unit)")] = None,
    level: Annotated[str | None, typer.Option(
        help="A leader's level (required for role leader): commune | police_unit | province | ministry")] = None,
    sub: Annotated[str | None, typer.Option(help="Subject (who); default a generated name")] = None,
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds")] = None,
    show_id: Annotated[bool, typer.Option("--show-id", help="Also print the token's id (for revocation)")] = False,
) -> None:
    """Print a bearer token valid for the local deployment (signing key under the data dir)."""
    from shared.auth import TokenAuthority, token_id

    if ctx.invoked_subcommand is not None:
        return
    if role is None:
        typer.echo("antq token: --role is required (admin | officer | leader | unit | agency)", err=True)
        raise typer.Exit(2)
    settings = load_settings(data_dir=data_dir)
    authority = TokenAuthority.from_file(settings.auth_key_path(), issuer=settings.auth_issuer,
                                         default_ttl=settings.auth_token_ttl_seconds)
    try:
        issued = authority.issue(role=role, sub=sub, area=area, unit=unit, level=level, ttl=ttl)
        typer.echo(issued)
        if show_id:
            typer.echo(f"id: {token_id(issued)}", err=True)
    except ValueError as exc:
        typer.echo(f"antq token: {exc}", err=True)
        raise typer.Exit(2) from exc


dlq = typer.Typer(no_args_is_help=True, help="Inspect and replay the dead-letter queue.")
app.add_typer(dlq, name="dlq")


def _operator_settings(data_dir: Path | None) -> Settings:
    """The operators' NATS credentials: explicit ANTQ_NATS_* settings, else those `antq up` generated."""
    from shared.bus.embedded import operator_settings

    return operator_settings(load_settings(data_dir=data_dir))


@dlq.command("list")
def dlq_list(limit: Annotated[int, typer.Option(help="At most this many")] = 100,
             service: Annotated[str | None, typer.Option(help="Only this service's dead letters")] = None,
             as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
             data_dir: DataDir = None) -> None:
    """List dead letters: sequence, original subject, consumer, why."""
    import json

    from shared.bus.dlq import list_dead_letters

    letters = asyncio.run(list_dead_letters(_operator_settings(data_dir), limit=limit, service=service))
    for d in letters:
        if as_json:
            typer.echo(json.dumps(d.as_dict(), ensure_ascii=False))
        else:
            sent_by = "" if d.body_kept else f" [no body kept; {d.agency or '?'}, reference {d.reference or '?'}]"
            typer.echo(f"{d.seq:>8}  {d.at[:19]:<19}  {d.consumer:<24} {d.original_subject:<48} {d.kind}: {d.reason}"
                       f"{sent_by}")
    if not letters and not as_json:
        typer.echo("the DLQ is empty")


@dlq.command("replay")
def dlq_replay(seqs: Annotated[list[int], typer.Argument(help="DLQ sequence numbers (from `antq dlq list`)")],
               keep: Annotated[bool, typer.Option("--keep", help="Keep the DLQ copy")] = False,
               data_dir: DataDir = None) -> None:
    """Publish dead letters back to their original subject after the cause is fixed."""
    from shared.bus.dlq import replay

    for seq, outcome in asyncio.run(replay(_operator_settings(data_dir), seqs, delete=not keep)):
        typer.echo(f"{seq}: {outcome}")


nats_app = typer.Typer(no_args_is_help=True, help="The bus: credentials, stream provisioning, accounts.")
app.add_typer(nats_app, name="nats")


@nats_app.command("url")
def nats_url(
    role: Annotated[str, typer.Option(help="operator | agency")],
    agency: Annotated[str | None, typer.Option(help="The agency's account name (role agency)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Print a nats://user:pass@host:port URL for the embedded NATS that `antq up` runs: `operator` reads every
    stream and publishes anywhere; `agency` publishes only on antq.inbound.<agency>.> (added if new)."""
    from shared.bus.embedded import EmbeddedBus, NoEmbeddedServer
    from shared.bus.permissions import ADMIN_USER

    settings = load_settings(data_dir=data_dir)
    try:
        if role == "operator":
            typer.echo(EmbeddedBus.load(settings.data_dir).url(ADMIN_USER))
        elif role == "agency":
            if not agency:
                raise ValueError("--agency NAME is required with --role agency")
            typer.echo(asyncio.run(EmbeddedBus.agency_url(settings.data_dir, agency)))
        else:
            raise ValueError("--role must be operator or agency")
    except (ValueError, NoEmbeddedServer) as exc:
        typer.echo(f"antq nats url: {exc}", err=True)
        raise typer.Exit(2) from exc


@nats_app.command("provision")
def nats_provision(data_dir: DataDir = None,
                   agency: Annotated[list[str] | None, typer.Option(
                       help="An agency whose reply consumer (outbound-NAME on OUTBOUND) to create (repeatable)")]
                   = None) -> None:
    """Declare (create or update) every stream, and each named agency's durable consumer of its replies; run with
    the provisioning credentials before the services start (`antq up` does it itself). Services may not create
    streams; they wait until they exist."""
    from shared.bus.streams import provision

    settings = _operator_settings(data_dir)
    try:
        done = asyncio.run(provision(settings, agency or []))
    except Exception as exc:  # a one-shot job: say why and fail
        typer.echo(f"antq nats provision: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from exc
    for name, action in done:
        typer.echo(f"{name}: {action}")


@nats_app.command("accounts")
def nats_accounts(agency: Annotated[list[str] | None, typer.Option(help="An agency account (repeatable)")] = None,
                  helm: Annotated[bool, typer.Option("--helm", help="As YAML for the Helm chart's values")] = False
                  ) -> None:
    """Print the production accounts config (deploy/nats/accounts.conf), generated from the stream registry and
    the streams each service consumes; passwords are $ANTQ_NATS_PASSWORD_<USER> from the server's environment."""
    from services.bus import consumed_streams
    from shared.bus.permissions import helm_accounts, production_accounts_conf

    try:
        if helm:
            import yaml

            typer.echo(yaml.safe_dump(helm_accounts(consumed_streams(), agency or []), sort_keys=False), nl=False)
        else:
            typer.echo(production_accounts_conf(consumed_streams(), agency or []), nl=False)
    except ValueError as exc:
        typer.echo(f"antq nats accounts: {exc}", err=True)
        raise typer.Exit(2) from exc


audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail of officer actions.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(service: Annotated[str, typer.Argument(help=" | ".join(SERVICES))],
                 anchor: Annotated[str | None, typer.Option(help="A head hash recorded earlier")] = None,
                 data_dir: DataDir = None) -> None:
    """Check the hash chain of a service's audit trail; exit 1 when it was edited, truncated or cut."""
    from shared.audit import verify_service_audit

    _check_service(service)
    report = asyncio.run(verify_service_audit(load_settings(data_dir=data_dir), service, anchor=anchor))
    if report.ok:
        typer.echo(f"{service}: audit chain intact, {report.entries} entries, head {report.head}")
        return
    typer.echo(f"{service}: audit chain BROKEN at entry {report.broken_at}: {report.problem}", err=True)
    raise typer.Exit(1)


def _mount_service_commands(only: str | None = None) -> None:
    """Services may offer their own sub-commands (`antq units import`, `antq tips submit`, ...); `only` mounts
    just that group."""
    import importlib

    for name in SERVICES:
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(f"services.{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.{name}.cli":
                raise
            continue
        app.add_typer(module.app, name=name)
    if only in (None, "users"):
        from services.console.cli import app as users_app

        app.add_typer(users_app, name="users")


def main() -> None:
    # A service's commands are loaded only when they are asked for (or for the help that lists them): `antq serve`
    # then carries no other service's code (docs/benchmarks.md, memory at rest).
    first = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if first is None or first in (*SERVICES, "users"):
        _mount_service_commands(first)
    app(prog_name="antq")


if __name__ == "__main__":
    main()
    sys.exit(0)
