"""Where the identity keys come from: `settings.tips_identity_keys`, else a generated key file (newest first).

The key file holds one base64 AES-256 key per line, the current key first; `antq tips rotate-keys --new-key`
prepends a fresh key and `--prune` drops the old ones once every row has been re-encrypted. The file handling is
`shared.keyring`'s, which notify's webhook secrets use too.
"""

from __future__ import annotations

from pathlib import Path

from services.tips.domain import IdentityCipher
from shared import keyring
from shared.keyring import ensure_key_file, read_key_file, write_key_file
from shared.settings import Settings

__all__ = ["configured_keys", "ensure_key_file", "key_file", "load_cipher", "load_keys", "read_key_file",
           "write_key_file"]


def key_file(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "tips_identity.keys"


def configured_keys(settings: Settings) -> list[str] | None:
    return keyring.configured_keys(settings.tips_identity_keys)


def load_keys(settings: Settings) -> list[str]:
    return keyring.load_keys(settings.tips_identity_keys, key_file(settings))


def load_cipher(settings: Settings) -> IdentityCipher:
    return IdentityCipher(load_keys(settings))
