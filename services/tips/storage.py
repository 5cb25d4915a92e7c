"""Where attachment bytes live: a storage interface and its disk implementation (content-addressed by sha256)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.files import write_private


@dataclass(frozen=True)
class StoredBlob:
    key: str
    sha256: str
    size: int


class AttachmentStorage(Protocol):
    """Stores attachment bytes and gives them back by key. Implementations: disk (embedded), object stores."""

    async def put(self, data: bytes) -> StoredBlob: ...

    async def get(self, key: str) -> bytes: ...


class DiskStorage:
    """Files under `root/<sha[:2]>/<sha>`: identical uploads are stored once and the name is the content hash.

    Blobs are written before the tip's transaction commits; a blob whose transaction then fails is an orphan
    that holds no reference to any tip (only its hash), and can be swept by comparing with the table.
    """

    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise KeyError("not a storage key")
        return self.root / key[:2] / key

    def _put(self, data: bytes) -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            write_private(path, data)
        return StoredBlob(key=digest, sha256=digest, size=len(data))

    async def put(self, data: bytes) -> StoredBlob:
        return await asyncio.to_thread(self._put, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)
