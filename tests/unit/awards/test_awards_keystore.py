"""The signing keyring on disk: created on first use, rotated without losing old keys, `current` by kid or name."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.awards.keys import KeyStore


def test_the_first_use_creates_one_private_key_readable_only_by_the_owner(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    keyring = store.ensure()
    assert len(keyring.kids) == 1
    pem = tmp_path / "keys" / f"{keyring.current_kid}.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert KeyStore(tmp_path / "keys").ensure().current_kid == keyring.current_kid  # a restart keeps it


def test_rotation_adds_a_current_key_and_a_running_store_notices(tmp_path: Path) -> None:
    running = KeyStore(tmp_path)
    first = running.ensure().current_kid
    new = KeyStore(tmp_path).add_new_key()  # another process: `antq awards rotate-key`
    keyring = running.keyring()
    assert keyring.current_kid == new != first
    assert [k["kid"] for k in keyring.jwks()["keys"]] == [new, first]


def test_current_may_name_a_key_file(tmp_path: Path) -> None:
    for name in ("signing-key-2026", "signing-key-2027"):
        pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption())
        (tmp_path / f"{name}.pem").write_bytes(pem)
    (tmp_path / "current").write_text("signing-key-2027.pem\n")
    keyring = KeyStore(tmp_path).ensure()
    assert len(keyring.kids) == 2
    newest = KeyStore(tmp_path / "x")  # a store of its own, to compute the kid of the named file
    newest.directory.mkdir()
    (newest.directory / "k.pem").write_bytes((tmp_path / "signing-key-2027.pem").read_bytes())
    assert keyring.current_kid == newest.keyring().current_kid
