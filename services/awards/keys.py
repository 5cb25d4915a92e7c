"""The certificate signing keyring on disk: one PEM file per Ed25519 key and a `current` file naming the signer.

Layout of the key directory (`ANTQ_AWARDS_SIGNING_KEY_DIR`, default `<data dir>/keys/awards`):
- `<kid>.pem`  an unencrypted PKCS#8 private key (mode 0600); `kid` is its RFC 7638 thumbprint (any other
               `*.pem` name works too, e.g. keys mounted from a Kubernetes Secret);
- `current`    the kid, or the file name, of the key that signs new certificates (without it: the first file).
Rotation (`antq awards rotate-key`) writes a new PEM and then replaces `current` atomically; running services
notice the change (directory mtime) and sign with the new key, while every older key stays in the JWK set.
"""

from __future__ import annotations

from pathlib import Path

from services.awards.domain import Keyring
from shared.files import write_private
from shared.settings import Settings

CURRENT = "current"


def key_dir(settings: Settings) -> Path:
    return settings.awards_signing_key_dir or settings.data_dir / "keys" / "awards"


class KeyStore:
    """Loads the keyring from its directory, creating the first key on first use, and reloads on change."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._keyring: Keyring | None = None
        self._stamp: tuple[int, int] | None = None

    def _read(self) -> Keyring:
        keyring = Keyring()
        by_name: dict[str, str] = {}
        for path in sorted(self.directory.glob("*.pem")):
            by_name[path.stem] = keyring.add_pem(path.read_bytes(), make_current=False)
        current = self.directory / CURRENT
        if current.exists():
            # `current` names a kid, or the file name of a key (e.g. "signing-key-2027" in a Kubernetes Secret).
            wanted = current.read_text().strip().removesuffix(".pem")
            kid = wanted if wanted in keyring.kids else by_name.get(wanted)
            if kid is not None:
                keyring.use(kid)
        return keyring

    def _dir_stamp(self) -> tuple[int, int]:
        st = self.directory.stat()
        current = self.directory / CURRENT
        return st.st_mtime_ns, current.stat().st_mtime_ns if current.exists() else 0

    def ensure(self) -> Keyring:
        """The keyring, with a first key generated and stored if the directory holds none."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not any(self.directory.glob("*.pem")):
            self.add_new_key()
        return self.keyring()

    def keyring(self) -> Keyring:
        stamp = self._dir_stamp() if self.directory.exists() else None
        if self._keyring is None or stamp != self._stamp:
            self._keyring = self._read()
            self._stamp = stamp
        return self._keyring

    def add_new_key(self) -> str:
        """Generate a key, store it and make it current; older keys stay (they keep verifying). Returns the kid."""
        fresh = Keyring()
        kid = fresh.rotate()
        write_private(self.directory / f"{kid}.pem", fresh.export_pem(kid), exclusive=True)
        write_private(self.directory / CURRENT, kid.encode() + b"\n", exclusive=False)
        self._keyring = None
        return kid
