"""`antq tips ...`: submit a tip to the running service, rotate the identity and inbound keys, verify the audit
chain."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.cli import DataDir
from shared.settings import Settings, load_settings

app = typer.Typer(no_args_is_help=True, help="The tips service: submit tips, rotate identity keys, check the audit.")
audit_app = typer.Typer(no_args_is_help=True, help="The tips service's hash-chained audit trail.")
app.add_typer(audit_app, name="audit")


@app.command()
def submit(
    category: Annotated[str, typer.Option(help="A category code (GET /categories)")],
    description: Annotated[str, typer.Option(help="What happened, and its consequences")],
    location: Annotated[str | None, typer.Option(help="Where it happened")] = None,
    location_unknown: Annotated[bool, typer.Option("--location-unknown", help="I don't remember where")] = False,
    area_code: Annotated[str | None, typer.Option(help="PP or PP.CCCCC")] = None,
    unit_id: Annotated[str | None, typer.Option(help="The related unit")] = None,
    occurred_at: Annotated[str | None, typer.Option(help="ISO 8601 with a time zone")] = None,
    name: Annotated[str | None, typer.Option(help="Reporter's name (omit to stay anonymous)")] = None,
    phone: Annotated[str | None, typer.Option(help="Reporter's phone")] = None,
    email: Annotated[str | None, typer.Option(help="Reporter's email")] = None,
    id_number: Annotated[str | None, typer.Option(help="Reporter's ID number")] = None,
    org_name: Annotated[str | None, typer.Option(help="On behalf of this organisation")] = None,
    tax_code: Annotated[str | None, typer.Option(help="The organisation's tax code")] = None,
    confidential: Annotated[bool, typer.Option("--confidential", help="Ask for confidentiality")] = False,
    protection: Annotated[bool, typer.Option("--protection", help="Ask for protection")] = False,
    file: Annotated[list[Path] | None, typer.Option("--file", help="Attach a file (repeatable)")] = None,
    url: Annotated[str | None, typer.Option(help="The tips service [default http://127.0.0.1:<port base + 2>]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON answer")] = False,
) -> None:
    """Submit a tip to the running tips service; prints the tip id and the receipt (shown once)."""
    import httpx

    body: dict[str, Any] = {"category": category, "description": description, "location": location,
                            "area_code": area_code, "unit_id": unit_id, "occurred_at": occurred_at,
                            "anonymous": name is None, "confidentiality_requested": confidential,
                            "protection_requested": protection}
    if location_unknown:
        body["location_unknown"] = True
    if name is not None:
        body["reporter"] = {k: v for k, v in {"name": name, "phone": phone, "email": email,
                                              "id_number": id_number}.items() if v is not None}
    if org_name is not None:
        body["on_behalf_of"] = {"org_name": org_name, "tax_code": tax_code}
    body = {k: v for k, v in body.items() if v is not None}
    base = (url or f"http://127.0.0.1:{load_settings().http_port_for('tips')}").rstrip("/")
    try:
        if file:
            files = [("files", (p.name, p.read_bytes(), _guess_type(p))) for p in file]
            r = httpx.post(f"{base}/tips/with-attachments", data={"tip": json.dumps(body)}, files=files,
                           timeout=60)
        else:
            r = httpx.post(f"{base}/tips", json=body, timeout=30)
    except httpx.HTTPError as exc:
        typer.echo(f"antq tips submit: cannot reach {base}: {type(exc).__name__}", err=True)
        raise typer.Exit(1) from exc
    if r.status_code != 202:
        typer.echo(f"antq tips submit: {r.status_code} {r.text}", err=True)
        raise typer.Exit(1)
    answer = r.json()
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False))
        return
    typer.echo(f"tip_id:  {answer['tip_id']}")
    typer.echo(f"receipt: {answer['receipt']}")
    typer.echo("Keep the receipt: it is shown once and is the only way to follow the tip up.")


def _guess_type(path: Path) -> str:
    import mimetypes

    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@app.command("rotate-keys")
def rotate_keys(
    data_dir: DataDir = None,
    new_key: Annotated[bool, typer.Option("--new-key", help="Generate a key and put it first in the key file")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="After re-encrypting, drop the old keys from the key file")]
    = False,
) -> None:
    """Re-encrypt every stored reporter identity with the newest key (the first one configured).

    With ANTQ_TIPS_IDENTITY_KEYS: put the new key first, keep the old ones after it, run this, then remove the old
    keys from the setting. With the generated key file: `--new-key`, then (or in the same run) `--prune`.
    Restart the tips service after a rotation so that it encrypts with the new key.
    """
    from services.tips import keys

    settings = load_settings(data_dir=data_dir)
    from_file = keys.configured_keys(settings) is None
    if (new_key or prune) and not from_file:
        typer.echo("antq tips rotate-keys: keys come from ANTQ_TIPS_IDENTITY_KEYS; edit that setting instead of "
                   "--new-key/--prune", err=True)
        raise typer.Exit(2)
    if new_key:
        from services.tips.domain import IdentityCipher

        path = keys.key_file(settings)
        keys.write_key_file(path, [IdentityCipher.generate_key(), *keys.ensure_key_file(path)])
    rotated, total = asyncio.run(_rotate(settings))
    typer.echo(f"identities: {total}, re-encrypted with the newest key: {rotated}")
    if prune:
        path = keys.key_file(settings)
        keys.write_key_file(path, keys.read_key_file(path)[:1])
        typer.echo("old keys removed from the key file")


async def _rotate(settings: Settings) -> tuple[int, int]:
    from services.tips import keys, store
    from shared.db import Database
    from shared.migrations import migrate

    cipher = keys.load_cipher(settings)
    url = settings.database_url_for("tips")
    await migrate(url, "tips")
    db = Database(url, source="antq/tips")
    rotated = total = 0
    try:
        async with db.read() as session:
            rows = await store.sealed_identities(session=session)
        total = len(rows)
        stale = [(tip_id, token) for tip_id, token in rows if cipher.needs_rotation(token)]
        for start in range(0, len(stale), 500):
            async with db.unit_of_work() as uow:
                for tip_id, token in stale[start:start + 500]:
                    await store.set_identity(session=uow.session, tip_id=tip_id,
                                             identity_enc=cipher.rotate(token, context=tip_id))
                    rotated += 1
    finally:
        await db.dispose()
    return rotated, total


@app.command("receipt-keys")
def receipt_keys(
    data_dir: DataDir = None,
    new_key: Annotated[bool, typer.Option("--new-key", help="Generate a receipt key and put it first in the key file")]
    = False,
    prune: Annotated[bool, typer.Option("--prune", help="Drop from the key file the keys no stored receipt uses")]
    = False,
) -> None:
    """List the receipt keys (HMAC-SHA-256 of receipts) with how many stored receipts each one hashed.

    A receipt hash cannot be re-keyed without the receipt, so an old key stays while rows use it; each row moves to
    the newest key on its reporter's next follow-up. With ANTQ_TIPS_RECEIPT_KEYS: put the new key first and drop an
    old one from the setting once this lists it with no rows. Restart the tips service after a change.
    """
    from services.tips import keys

    settings = load_settings(data_dir=data_dir)
    from_file = keys.configured_receipt_keys(settings) is None
    if (new_key or prune) and not from_file:
        typer.echo("antq tips receipt-keys: keys come from ANTQ_TIPS_RECEIPT_KEYS; edit that setting instead of "
                   "--new-key/--prune", err=True)
        raise typer.Exit(2)
    path = keys.receipt_key_file(settings)
    if new_key:
        keys.write_key_file(path, [keys.ReceiptKeys.generate_key(), *keys.ensure_key_file(path)])
    ring = keys.load_receipt_keys(settings)
    counts = asyncio.run(_receipt_counts(settings))
    by_key = {ring.stored_key_id(p): n for p, n in counts.items() if ring.stored_key_id(p)}
    for key_id in ring.key_ids:
        typer.echo(f"{'*' if key_id == ring.current_key_id else ' '} {key_id}: {by_key.get(key_id, 0)} receipts")
    legacy = sum(n for p, n in counts.items() if p.startswith("$argon2"))
    if legacy:
        typer.echo(f"  argon2id (before HMAC, re-hashed on their next follow-up): {legacy} receipts")
    unknown = sum(n for k, n in by_key.items() if k not in ring.key_ids)
    if unknown:
        typer.echo(f"  hashed with a key no longer configured (cannot be verified): {unknown} receipts", err=True)
    if prune:
        kept = [encoded for encoded in keys.read_key_file(path)
                if (kid := keys.ReceiptKeys([encoded]).current_key_id) == ring.current_key_id or by_key.get(kid)]
        keys.write_key_file(path, kept)
        typer.echo(f"keys kept in the key file: {len(kept)}")


async def _receipt_counts(settings: Settings) -> dict[str, int]:
    from services.tips import store
    from shared.db import Database
    from shared.migrations import migrate

    url = settings.database_url_for("tips")
    await migrate(url, "tips")
    db = Database(url, source="antq/tips")
    try:
        async with db.read() as session:
            return await store.receipt_hash_prefixes(session=session)
    finally:
        await db.dispose()


InboundKeyDir = Annotated[Path | None, typer.Option(
    "--key-dir", help="Inbound key directory [env ANTQ_TIPS_INBOUND_KEY_DIR; <data dir>/keys/tips_inbound]")]


@app.command("rotate-inbound-key")
def rotate_inbound_key(data_dir: DataDir = None, key_dir: InboundKeyDir = None) -> None:
    """Add a key for the identities agencies seal (reporter_jwe) and make it current, published first in
    /.well-known/jwks.json; older keys stay and keep opening what was sealed to them. The running service
    notices the change by itself."""
    from services.tips import keys

    store = keys.inbound_keys(load_settings(data_dir=data_dir, tips_inbound_key_dir=key_dir))
    store.ensure()
    kid = store.add_new_key()
    typer.echo(f"new current inbound key: {kid}")
    typer.echo(f"keys published in the JWK set: {len(store.keyring().kids)} ({store.directory})")


@app.command("inbound-keys")
def inbound_keys(data_dir: DataDir = None, key_dir: InboundKeyDir = None) -> None:
    """List the inbound keys (kid; the current one is marked)."""
    from services.tips import keys

    keyring = keys.inbound_keys(load_settings(data_dir=data_dir, tips_inbound_key_dir=key_dir)).ensure()
    for kid in keyring.kids:
        typer.echo(f"{'*' if kid == keyring.current_kid else ' '} {kid}")


AgencyKeyDir = Annotated[Path | None, typer.Option(
    "--key-dir", help="Agencies' key directory [env ANTQ_TIPS_AGENCY_KEY_DIR; <data dir>/keys/agencies]")]


@app.command("agency-key")
def agency_key(agency: Annotated[str, typer.Option(help="The agency's account name, e.g. mia-app")],
               jwks: Annotated[Path, typer.Option(help="The agency's public JWK set (JSON file; EC P-256)")],
               data_dir: DataDir = None, key_dir: AgencyKeyDir = None) -> None:
    """Register (or replace) an agency's public key: the receipts of the tips it forwards are encrypted to its
    first key (JWE, ECDH-ES + A256GCM) in TipAccepted.v1. Takes effect without a restart."""
    import json

    from services.tips import keys

    settings = load_settings(data_dir=data_dir, tips_agency_key_dir=key_dir)
    try:
        raw = json.loads(jwks.read_text(encoding="utf-8"))
        registered = keys.register_agency_key(settings, agency, raw)
    except (OSError, ValueError) as exc:  # InvalidAgencyKey and bad JSON are ValueErrors
        typer.echo(f"antq tips agency-key: {exc}", err=True)
        raise typer.Exit(1) from exc
    kids = ", ".join(k["kid"] for k in registered["keys"])
    typer.echo(f"{agency}: receipts are encrypted to kid {registered['keys'][0]['kid']} (keys: {kids}; "
               f"{keys.agency_key_file(settings, agency)})")


@app.command("agency-keys")
def agency_keys(data_dir: DataDir = None, key_dir: AgencyKeyDir = None) -> None:
    """List the agencies with a registered key (the kid receipts are encrypted to)."""
    from services.tips import keys

    settings = load_settings(data_dir=data_dir, tips_agency_key_dir=key_dir)
    directory = keys.agency_key_dir(settings)
    for path in sorted(directory.glob("*.jwks.json")) if directory.is_dir() else []:
        agency = path.name.removesuffix(".jwks.json")
        jwks = keys.agency_keys(settings)(agency)
        typer.echo(f"{agency}: {jwks['keys'][0]['kid'] if jwks else 'UNUSABLE (see the log)'}")


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None) -> None:
    """Check the audit trail's hash chain: exit 0 when intact, 1 with the first broken entry otherwise."""
    report = asyncio.run(_verify(load_settings(data_dir=data_dir)))
    if report.ok:
        typer.echo(f"audit chain intact: {report.entries} entries")
        return
    typer.echo(f"audit chain BROKEN at entry {report.broken_at}: {report.problem}", err=True)
    raise typer.Exit(1)


async def _verify(settings: Settings) -> Any:
    from services.tips import store
    from shared.audit import verify_chain
    from shared.db import Database

    db = Database(settings.database_url_for("tips"), source="antq/tips")
    try:
        async with db.read() as session:
            return await verify_chain(session, store.audit_log)
    finally:
        await db.dispose()
