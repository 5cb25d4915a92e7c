"""The shared blob storage: content-addressed on disk and in an S3-compatible object store (moto's server over
HTTP), chosen by settings; keys that are not content hashes are refused."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.blobs import DiskStorage, S3Storage, blob_storage
from shared.settings import Settings
from tests.support.s3_server import ACCESS, s3_server

DATA = "Biên bản diễn tập phòng cháy".encode() * 100
DIGEST = hashlib.sha256(DATA).hexdigest()


async def test_the_disk_store_keeps_one_owner_only_file_per_content(tmp_path: Path) -> None:
    store = DiskStorage(tmp_path / "blobs")
    first, again = await store.put(DATA), await store.put(DATA)
    assert first == again and first.key == first.sha256 == DIGEST and first.size == len(DATA)
    path = tmp_path / "blobs" / DIGEST[:2] / DIGEST
    assert path.read_bytes() == DATA and path.stat().st_mode & 0o077 == 0
    assert await store.get(DIGEST) == DATA
    for bad in ("../../etc/passwd", DIGEST.upper(), DIGEST[:-1]):
        with pytest.raises(KeyError):
            await store.get(bad)


async def test_the_object_store_keeps_objects_by_content_hash_under_the_services_prefix(
        settings_factory: Callable[..., Settings], tmp_path: Path) -> None:
    async with s3_server() as endpoint:
        settings = settings_factory(blob_store="s3", s3_endpoint_url=endpoint, s3_bucket="antq", s3_prefix="p/",
                                    **ACCESS)
        store = blob_storage(settings, "tips", tmp_path / "unused")
        assert isinstance(store, S3Storage)
        await store.ensure_bucket()
        await store.ensure_bucket()  # an existing bucket is left as it is
        stored = await store.put(DATA)
        assert stored.key == DIGEST and await store.put(DATA) == stored
        assert await store.get(DIGEST) == DATA
        async with store._client() as client:
            keys = [o["Key"] for o in (await client.list_objects_v2(Bucket="antq"))["Contents"]]
        assert keys == [f"p/tips/{DIGEST[:2]}/{DIGEST}"]
        with pytest.raises(FileNotFoundError):
            await store.get("0" * 64)
        with pytest.raises(KeyError):
            await store.get("../x")
    assert not (tmp_path / "unused").exists()


def test_the_settings_choose_the_store(settings_factory: Callable[..., Settings], tmp_path: Path) -> None:
    assert isinstance(blob_storage(settings_factory(), "units", tmp_path), DiskStorage)
    with pytest.raises(ValueError, match="ANTQ_S3_BUCKET"):
        blob_storage(settings_factory(blob_store="s3"), "units", tmp_path)
