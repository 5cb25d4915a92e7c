"""The certificate signing keyring on disk (`shared.keydir`): one PEM file per Ed25519 key and a `current` file
naming the signer, in `ANTQ_AWARDS_SIGNING_KEY_DIR` (default `<data dir>/keys/awards`).

Rotation (`antq awards rotate-key`) writes a new PEM and then replaces `current` atomically; running services
notice the change (directory mtime) and sign with the new key, while every older key stays in the JWK set.
"""

from __future__ import annotations

from pathlib import Path

from services.awards.domain import Keyring
from shared.keydir import CURRENT, KeyDirectory
from shared.settings import Settings

__all__ = ["CURRENT", "KeyStore", "key_dir"]


def key_dir(settings: Settings) -> Path:
    return settings.awards_signing_key_dir or settings.data_dir / "keys" / "awards"


class KeyStore(KeyDirectory[Keyring]):
    """The signing keyring, loaded from its directory (first key created on first use), reloaded on change."""

    def __init__(self, directory: Path):
        super().__init__(directory, Keyring)
