"""The key ring that seals secrets at rest: rotation, binding to a row, and the key file it creates."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest

from services.tips.domain import IdentityCipher
from shared.keyring import KeyRing, SealedTokenError, load_keys


def ring(*keys: str) -> KeyRing:
    return KeyRing(list(keys), purpose="test")


def test_a_token_opens_only_with_its_key_and_its_row() -> None:
    key = KeyRing.generate_key()
    token = ring(key).seal(b"s3cret", context="row-1")
    assert b"s3cret" not in token.encode() and KeyRing.is_token(token)
    assert ring(key).open(token, context="row-1") == b"s3cret"
    with pytest.raises(SealedTokenError):
        ring(key).open(token, context="row-2")
    with pytest.raises(SealedTokenError, match="not configured"):
        ring(KeyRing.generate_key()).open(token, context="row-1")
    with pytest.raises(SealedTokenError):
        ring(key).open(token[:-4] + "AAAA", context="row-1")


def test_the_newest_key_seals_and_reseal_moves_old_tokens_to_it() -> None:
    old, new = KeyRing.generate_key(), KeyRing.generate_key()
    token = ring(old).seal(b"x", context="r")
    both = ring(new, old)
    assert both.needs_rotation(token)
    moved = both.reseal(token, context="r")
    assert not both.needs_rotation(moved) and ring(new).open(moved, context="r") == b"x"


def test_identity_tokens_keep_the_key_ids_they_were_stored_with() -> None:
    """Tips' identity cipher is a key ring now; the key id of its tokens must not change with that."""
    key = IdentityCipher.generate_key()
    raw = base64.b64decode(key)
    token = IdentityCipher([key]).encrypt({"name": "A"}, context="t1")
    assert token.split(".")[1] == hashlib.sha256(b"antq.tips.identity_key_id\x00" + raw).hexdigest()[:8]


def test_the_key_file_is_created_once_owner_only_and_a_setting_wins(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.keys"
    first = load_keys(None, path)
    assert load_keys("", path) == first and len(first) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    configured = KeyRing.generate_key()
    assert load_keys(f" {configured} ,", tmp_path / "other.keys") == [configured]
    assert not (tmp_path / "other.keys").exists()
