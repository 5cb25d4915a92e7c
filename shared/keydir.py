"""A keyring kept on disk as a directory: one private-key PEM file per key and a `current` file naming the key
in use (the awards service's certificate signing keys, the tips service's inbound decryption keys).

Layout:
- `<kid>.pem`  an unencrypted PKCS#8 private key (mode 0600); `kid` is its RFC 7638 thumbprint (any other
               `*.pem` name works too, e.g. keys mounted from a Kubernetes Secret);
- `current`    the kid, or the file name, of the key in use for new work (without it: the first file).
Rotation writes a new PEM and then replaces `current` atomically; running services notice the change (directory
mtime) and use the new key, while every older key stays loaded (it keeps verifying or decrypting).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from shared.files import write_private

CURRENT = "current"


class Keyring(Protocol):
    def add_pem(self, pem: bytes, *, make_current: bool = True) -> str: ...

    def use(self, kid: str) -> None: ...

    @property
    def kids(self) -> list[str]: ...

    def rotate(self) -> str: ...

    def export_pem(self, kid: str) -> bytes: ...


K = TypeVar("K", bound=Keyring)


class KeyDirectory(Generic[K]):
    """Loads a keyring from its directory, creating the first key on first use, and reloads on change."""

    def __init__(self, directory: Path, factory: Callable[[], K]):
        self.directory = directory
        self._factory = factory
        self._keyring: K | None = None
        self._stamp: tuple[int, int] | None = None

    def _read(self) -> K:
        keyring = self._factory()
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

    def ensure(self) -> K:
        """The keyring, with a first key generated and stored if the directory holds none."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not any(self.directory.glob("*.pem")):
            self.add_new_key()
        return self.keyring()

    def keyring(self) -> K:
        stamp = self._dir_stamp() if self.directory.exists() else None
        if self._keyring is None or stamp != self._stamp:
            self._keyring = self._read()
            self._stamp = stamp
        return self._keyring

    def add_new_key(self) -> str:
        """Generate a key, store it and make it current; older keys stay. Returns the kid."""
        fresh = self._factory()
        kid = fresh.rotate()
        write_private(self.directory / f"{kid}.pem", fresh.export_pem(kid), exclusive=True)
        write_private(self.directory / CURRENT, kid.encode() + b"\n", exclusive=False)
        self._keyring = None
        return kid
