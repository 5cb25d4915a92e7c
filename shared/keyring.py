"""Secrets sealed at rest: AES-256-GCM tokens naming their key, and the keys they use (a setting or a key file).

A token is `v1.<key id>.<base64url(nonce | ciphertext)>`. The key id (8 hex of a hash of the key, salted with
the ring's purpose) picks the key, so several keys can be configured at once: the newest seals, every one opens.
The associated data binds a token to its row (`context`), so a token copied onto another row does not open.
Rotation: put a new key first, keep the old ones after it, re-seal what `needs_rotation` names, drop the old keys.

Keys are base64 strings of 32 bytes. They come from a setting (comma-separated, newest first) or, when the setting
is empty, from a key file with one key per line, newest first, created with one fresh key on first use (0600).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.files import write_private

NONCE_BYTES = 12
TAG_BYTES = 16


class SealedTokenError(Exception):
    """A token could not be opened: malformed, sealed with a key that is not configured, tampered with, or of
    another row."""


class KeyRing:
    """Seals with the newest key; opens with any configured one."""

    VERSION = "v1"
    error: type[SealedTokenError] = SealedTokenError

    def __init__(self, keys: Sequence[str], *, purpose: str, key_name: str = "key") -> None:
        if not keys:
            raise ValueError(f"at least one {key_name} is required")
        decoded = [self.decode_key(k, key_name) for k in keys]
        self._purpose = purpose.encode("utf-8")
        self._keys: dict[str, AESGCM] = {}
        for raw in decoded:
            self._keys.setdefault(self._key_id(raw), AESGCM(raw))
        self.current_key_id = self._key_id(decoded[0])

    @staticmethod
    def generate_key() -> str:
        """A new random key in the base64 form settings and key files take."""
        return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")

    @staticmethod
    def decode_key(encoded: str, key_name: str = "key") -> bytes:
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"an {key_name} must be base64") from exc
        if len(raw) != 32:
            raise ValueError(f"an {key_name} must be 32 bytes (AES-256) once base64-decoded")
        return raw

    def _key_id(self, raw: bytes) -> str:
        return hashlib.sha256(self._purpose + b"\x00" + raw).hexdigest()[:8]

    @classmethod
    def is_token(cls, value: str) -> bool:
        """Whether a stored value has the shape of a token (a value stored before sealing began has not)."""
        return value.startswith(f"{cls.VERSION}.") and value.count(".") >= 2

    def seal(self, plaintext: bytes, *, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._keys[self.current_key_id].encrypt(nonce, plaintext, context.encode("utf-8"))
        return f"{self.VERSION}.{self.current_key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def _split(self, token: str) -> tuple[str, bytes]:
        try:
            version, key_id, body = token.split(".", 2)
            blob = base64.urlsafe_b64decode(body.encode("ascii"))
        except (ValueError, binascii.Error) as exc:
            raise self.error("malformed token") from exc
        if version != self.VERSION or len(blob) < NONCE_BYTES + TAG_BYTES:
            raise self.error("malformed token")
        return key_id, blob

    def open(self, token: str, *, context: str) -> bytes:
        key_id, blob = self._split(token)
        aead = self._keys.get(key_id)
        if aead is None:
            raise self.error(f"key {key_id} is not configured")
        try:
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode("utf-8"))
        except InvalidTag as exc:
            raise self.error("token does not open with its key and context") from exc

    def needs_rotation(self, token: str) -> bool:
        return self._split(token)[0] != self.current_key_id

    def reseal(self, token: str, *, context: str) -> str:
        """The token sealed with the newest key (unchanged if it already is)."""
        if not self.needs_rotation(token):
            return token
        return self.seal(self.open(token, context=context), context=context)


# --- where keys come from -------------------------------------------------------------------------------------
def configured_keys(value: str | None) -> list[str] | None:
    """The keys of a comma-separated setting, newest first; None when the setting is empty."""
    keys = [k.strip() for k in (value or "").split(",") if k.strip()]
    return keys or None


def read_key_file(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]


def write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically with owner-only permissions."""
    write_private(path, ("\n".join(keys) + "\n").encode("ascii"))


def ensure_key_file(path: Path) -> list[str]:
    """The keys in the file, creating it with one new key on first use (concurrent starters agree on one)."""
    if not path.exists():
        write_private(path, (KeyRing.generate_key() + "\n").encode("ascii"), exclusive=True)
    return read_key_file(path)


def load_keys(setting: str | None, path: Path) -> list[str]:
    """The setting's keys when it is set (production), else the key file's (created on first use)."""
    return configured_keys(setting) or ensure_key_file(path)
