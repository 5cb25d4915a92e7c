"""`antq awards ...`: operator commands of the awards service (signing key rotation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.awards.keys import KeyStore, key_dir
from shared.cli import DataDir
from shared.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Awards: certificate signing keys.")

KeyDir = Annotated[Path | None, typer.Option(
    "--key-dir", help="Signing key directory [env ANTQ_AWARDS_SIGNING_KEY_DIR; <data dir>/keys/awards]")]


def _store(data_dir: Path | None, key_directory: Path | None) -> KeyStore:
    settings = load_settings(data_dir=data_dir, awards_signing_key_dir=key_directory)
    return KeyStore(key_dir(settings))


@app.command("rotate-key")
def rotate_key(data_dir: DataDir = None, key_dir_option: KeyDir = None) -> None:
    """Add a new Ed25519 signing key and make it current; older keys stay published and keep verifying."""
    keys = _store(data_dir, key_dir_option)
    keys.ensure()
    kid = keys.add_new_key()
    keyring = keys.keyring()
    typer.echo(f"new current signing key: {kid}")
    typer.echo(f"keys published in the JWK set: {len(keyring.kids)} ({keys.directory})")


@app.command("keys")
def list_keys(data_dir: DataDir = None, key_dir_option: KeyDir = None) -> None:
    """List the signing keys (kid; the current one is marked)."""
    keys = _store(data_dir, key_dir_option)
    keyring = keys.ensure()
    for kid in keyring.kids:
        typer.echo(f"{'*' if kid == keyring.current_kid else ' '} {kid}")
