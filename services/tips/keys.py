"""Where the tips service's keys come from.

Identity keys (at rest): `settings.tips_identity_keys`, else a generated key file (newest first). The key file
holds one base64 AES-256 key per line, the current key first; `antq tips rotate-keys --new-key` prepends a fresh
key and `--prune` drops the old ones once every row has been re-encrypted.

Inbound keys (identities sealed by other agencies): a key directory (`shared.keydir`), `settings.
tips_inbound_key_dir` or `<data dir>/keys/tips_inbound`, first key created on first use; `antq tips
rotate-inbound-key` adds a key and makes it current.
"""

from __future__ import annotations

from pathlib import Path

from services.tips.domain import IdentityCipher, InboundKeyring
from shared.files import write_private
from shared.keydir import KeyDirectory
from shared.settings import Settings


def key_file(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "tips_identity.keys"


def configured_keys(settings: Settings) -> list[str] | None:
    if not settings.tips_identity_keys:
        return None
    return [k.strip() for k in settings.tips_identity_keys.split(",") if k.strip()]


def read_key_file(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]


def write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically with owner-only permissions."""
    write_private(path, ("\n".join(keys) + "\n").encode("ascii"))


def ensure_key_file(path: Path) -> list[str]:
    """The keys in the file, creating it with one new key on first use (concurrent starters agree on one)."""
    if not path.exists():
        write_private(path, (IdentityCipher.generate_key() + "\n").encode("ascii"), exclusive=True)
    return read_key_file(path)


def load_keys(settings: Settings) -> list[str]:
    return configured_keys(settings) or ensure_key_file(key_file(settings))


def load_cipher(settings: Settings) -> IdentityCipher:
    return IdentityCipher(load_keys(settings))


def inbound_key_dir(settings: Settings) -> Path:
    return settings.tips_inbound_key_dir or settings.data_dir / "keys" / "tips_inbound"


def inbound_keys(settings: Settings) -> KeyDirectory[InboundKeyring]:
    """The inbound keyring's directory (call `ensure()` to create the first key); it reloads after a rotation."""
    return KeyDirectory(inbound_key_dir(settings), InboundKeyring)
