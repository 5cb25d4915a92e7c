"""Where the tips service's keys come from.

Identity keys (at rest): `settings.tips_identity_keys`, else a generated key file (newest first). The key file
holds one base64 AES-256 key per line, the current key first; `antq tips rotate-keys --new-key` prepends a fresh
key and `--prune` drops the old ones once every row has been re-encrypted. The file handling is
`shared.keyring`'s, which notify's webhook secrets use too.

Inbound keys (identities sealed by other agencies): a key directory (`shared.keydir`), `settings.
tips_inbound_key_dir` or `<data dir>/keys/tips_inbound`, first key created on first use; `antq tips
rotate-inbound-key` adds a key and makes it current.
"""

from __future__ import annotations

from pathlib import Path

from services.tips.domain import IdentityCipher, InboundKeyring
from shared import keyring
from shared.keydir import KeyDirectory
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


def inbound_key_dir(settings: Settings) -> Path:
    return settings.tips_inbound_key_dir or settings.data_dir / "keys" / "tips_inbound"


def inbound_keys(settings: Settings) -> KeyDirectory[InboundKeyring]:
    """The inbound keyring's directory (call `ensure()` to create the first key); it reloads after a rotation."""
    return KeyDirectory(inbound_key_dir(settings), InboundKeyring)
