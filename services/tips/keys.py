"""Where the tips service's keys come from.

Identity keys (at rest): `settings.tips_identity_keys`, else a generated key file (newest first). The key file
holds one base64 AES-256 key per line, the current key first; `antq tips rotate-keys --new-key` prepends a fresh
key and `--prune` drops the old ones once every row has been re-encrypted. The file handling is
`shared.keyring`'s, which notify's webhook secrets use too.

Receipt keys (HMAC-SHA-256 of receipts, `domain.secrecy.ReceiptKeys`): `settings.tips_receipt_keys`, else a
generated key file `<data dir>/keys/tips_receipt.keys` (newest first), handled the same way. A stored hash names
its key, and a hash cannot be re-keyed without the receipt: an old key stays until no row uses it (`antq tips
rotate-receipt-key` adds a key, `--prune` drops the keys no row names; a row is re-hashed under the newest key
on its reporter's next follow-up).

Inbound keys (identities sealed by other agencies): a key directory (`shared.keydir`), `settings.
tips_inbound_key_dir` or `<data dir>/keys/tips_inbound`, first key created on first use; `antq tips
rotate-inbound-key` adds a key and makes it current.

Agencies' public keys (receipts of the tips they forward are encrypted to them): one JWK set per agency,
`<agency>.jwks.json` in `settings.tips_agency_key_dir` or `<data dir>/keys/agencies`, registered with
`antq tips agency-key --agency NAME --jwks FILE`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from services.tips.domain import IdentityCipher, InboundKeyring, ReceiptKeys, agency_jwks
from shared import keyring
from shared.keydir import KeyDirectory
from shared.keyring import ensure_key_file, read_key_file, write_key_file
from shared.settings import Settings, valid_agency_name

log = logging.getLogger(__name__)

__all__ = ["ReceiptKeys", "configured_keys", "ensure_key_file", "key_file", "load_cipher", "load_keys", "read_key_file",
           "write_key_file"]


def key_file(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "tips_identity.keys"


def configured_keys(settings: Settings) -> list[str] | None:
    return keyring.configured_keys(settings.tips_identity_keys)


def load_keys(settings: Settings) -> list[str]:
    return keyring.load_keys(settings.tips_identity_keys, key_file(settings))


def load_cipher(settings: Settings) -> IdentityCipher:
    return IdentityCipher(load_keys(settings))


def receipt_key_file(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "tips_receipt.keys"


def configured_receipt_keys(settings: Settings) -> list[str] | None:
    return keyring.configured_keys(settings.tips_receipt_keys)


def load_receipt_keys(settings: Settings) -> ReceiptKeys:
    return ReceiptKeys(keyring.load_keys(settings.tips_receipt_keys, receipt_key_file(settings)))


def inbound_key_dir(settings: Settings) -> Path:
    return settings.tips_inbound_key_dir or settings.data_dir / "keys" / "tips_inbound"


def inbound_keys(settings: Settings) -> KeyDirectory[InboundKeyring]:
    """The inbound keyring's directory (call `ensure()` to create the first key); it reloads after a rotation."""
    return KeyDirectory(inbound_key_dir(settings), InboundKeyring)


# --- agencies' public keys (receipts of forwarded tips are encrypted to them) -----------------------------------
def agency_key_dir(settings: Settings) -> Path:
    return settings.tips_agency_key_dir or settings.data_dir / "keys" / "agencies"


def agency_key_file(settings: Settings, agency: str) -> Path:
    if not valid_agency_name(agency):
        raise ValueError(f"invalid agency name {agency!r}: lower-case letters, digits and hyphens only")
    return agency_key_dir(settings) / f"{agency}.jwks.json"


def register_agency_key(settings: Settings, agency: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an agency's JWK set and keep it as `<agency>.jwks.json` (public keys: mode 0644). Returns it."""
    jwks = agency_jwks(raw)
    path = agency_key_file(settings, agency)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jwks, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return jwks


def agency_keys(settings: Settings) -> Callable[[str], dict[str, Any] | None]:
    """An agency's registered JWK set, read at each use (a registration applies without a restart); None when
    the agency has none, or its file is unreadable (the tip is still accepted; see docs/tips.md)."""
    def load(agency: str) -> dict[str, Any] | None:
        try:
            path = agency_key_file(settings, agency)
            return agency_jwks(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("the registered key of agency %s is unusable: %s", agency, exc)
            return None

    return load
