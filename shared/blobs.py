"""Where uploaded files live: content-addressed blob storage (the key is the SHA-256 of the bytes).

Two implementations behind one interface, chosen by `ANTQ_BLOB_STORE`:
- `disk` (embedded mode, the default): files under `root/<sha[:2]>/<sha>`, written owner-only and complete or
  absent (shared/files.py);
- `s3`: any S3-compatible object store (MinIO, Ceph RGW, AWS S3) through aiobotocore, objects at
  `<ANTQ_S3_PREFIX><service>/<sha[:2]>/<sha>` in `ANTQ_S3_BUCKET`.

Identical uploads are stored once. Bytes are written before the transaction that references them commits; a
blob whose transaction then fails is an orphan that names no record (only its hash), and can be swept by
comparing with the tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shared.files import write_private
from shared.settings import Settings


@dataclass(frozen=True)
class StoredBlob:
    key: str
    sha256: str
    size: int


class BlobStorage(Protocol):
    """Stores bytes and gives them back by key."""

    async def put(self, data: bytes) -> StoredBlob: ...

    async def get(self, key: str) -> bytes: ...


def check_key(key: str) -> str:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise KeyError("not a storage key")
    return key


class DiskStorage:
    """Files under `root/<sha[:2]>/<sha>`: the name is the content hash."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        check_key(key)
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


class S3Storage:
    """Objects in an S3-compatible bucket, one client per call (aiobotocore keeps the connection pool)."""

    def __init__(self, *, bucket: str, prefix: str, endpoint_url: str | None, region: str,
                 access_key_id: str | None, secret_access_key: str | None):
        from aiobotocore.session import get_session  # imported only where object storage is configured

        self.bucket = bucket
        self.prefix = prefix
        self._session = get_session()
        self._client_args: dict[str, Any] = {
            "endpoint_url": endpoint_url, "region_name": region,
            "aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        async with self._session.create_client("s3", **self._client_args) as client:
            yield client

    def object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}{key[:2]}/{key}"

    async def put(self, data: bytes) -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        async with self._client() as client:
            # Content-addressed: writing the same object again is harmless, so no look-up first.
            await client.put_object(Bucket=self.bucket, Key=self.object_key(digest), Body=data,
                                    ContentType="application/octet-stream")
        return StoredBlob(key=digest, sha256=digest, size=len(data))

    async def get(self, key: str) -> bytes:
        async with self._client() as client:
            try:
                response = await client.get_object(Bucket=self.bucket, Key=self.object_key(key))
            except client.exceptions.NoSuchKey as exc:
                raise FileNotFoundError(key) from exc
            async with response["Body"] as body:
                data: bytes = await body.read()
        return data

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (deployments usually create it; tests and MinIO set-ups need
        this)."""
        async with self._client() as client:
            try:
                await client.head_bucket(Bucket=self.bucket)
            except client.exceptions.ClientError:
                await client.create_bucket(Bucket=self.bucket)


def blob_storage(settings: Settings, service: str, disk_root: Path) -> BlobStorage:
    """The storage `ANTQ_BLOB_STORE` selects for one service's files (`disk_root` for the disk store)."""
    if settings.blob_store == "s3":
        if not settings.s3_bucket:
            raise ValueError("ANTQ_BLOB_STORE=s3 needs ANTQ_S3_BUCKET")
        return S3Storage(bucket=settings.s3_bucket, prefix=f"{settings.s3_prefix}{service}/",
                         endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                         access_key_id=settings.s3_access_key_id,
                         secret_access_key=settings.s3_secret_access_key)
    return DiskStorage(disk_root)
