"""Evidence documents of a dossier over the units API: upload per criterion with the unit's own token, list and
download (officers of the area may read), limits and refused types named, and the two blob stores: the disk
folder of embedded mode and an S3-compatible object store (moto's server, over real HTTP)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.units.domain import framework_in_force
from shared.blobs import S3Storage
from shared.settings import Settings
from tests.integration.units.units_support import NOW, Harness, units_harness
from tests.support.s3_server import ACCESS, s3_server

YEAR = 2026
ART6 = [c.code for c in framework_in_force("enterprise", "79", NOW.date()).scored_criteria]
PDF = b"%PDF-1.7\n" + b"bien ban hop chi bo " * 200 + b"\n%%EOF\n"
EXE = b"MZ\x90\x00" + b"\x00" * 500
MAX = 64 * 1024


async def registered_unit(h: Harness, area_code: str = "79.26743") -> str:
    uid = str((await h.create_unit(area_code=area_code))["unit_id"])
    r = await h.http.post(f"/units/{uid}/cycles/{YEAR}", headers=h.admin)
    assert r.status_code == 201, r.text
    return uid


def upload(h: Harness, uid: str, criterion: str, name: str, data: bytes, kind: str, headers: dict[str, str]) -> Any:
    return h.http.post(f"/units/{uid}/cycles/{YEAR}/criteria/{criterion}/evidence", headers=headers,
                       files={"file": (name, data, kind)})


async def test_a_unit_uploads_evidence_per_criterion_and_officers_of_its_area_read_it(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str, tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    async with units_harness(settings_factory, database_url, nats_url, namespace, units_evidence_dir=folder,
                             units_evidence_max_bytes=MAX) as h:
        uid, other = await registered_unit(h), await registered_unit(h)
        staff = h.auth("unit", unit=uid)
        r = await upload(h, uid, ART6[0], "Nghị quyết chi bộ.pdf", PDF, "application/pdf", staff)
        assert r.status_code == 201, r.text
        doc = r.json()
        digest = hashlib.sha256(PDF).hexdigest()
        assert doc["sha256"] == digest and doc["size"] == len(PDF) and doc["criterion"] == ART6[0]
        assert doc["filename"] == "Nghị quyết chi bộ.pdf" and doc["uploaded_by"].startswith("unit:")
        assert (folder / digest[:2] / digest).read_bytes() == PDF  # the disk store: by content hash
        # The same bytes for another criterion are a second document but one stored file.
        assert (await upload(h, uid, ART6[1], "copy.pdf", PDF, "application/pdf", staff)).status_code == 201
        assert [p.name for p in folder.rglob("*") if p.is_file()] == [digest]

        listed = await h.http.get(f"/units/{uid}/cycles/{YEAR}/evidence", headers=staff)
        assert listed.status_code == 200
        assert [(d["criterion"], d["filename"]) for d in listed.json()["items"]] == [
            (ART6[0], "Nghị quyết chi bộ.pdf"), (ART6[1], "copy.pdf")]
        assert "PDF" in listed.json()["accepted"] and listed.json()["max_bytes"] == MAX
        one = await h.http.get(f"/units/{uid}/cycles/{YEAR}/evidence", params={"criterion": ART6[1]}, headers=staff)
        assert [d["filename"] for d in one.json()["items"]] == ["copy.pdf"]

        # Officers of the area read and download; an officer elsewhere and another unit are refused.
        officer = h.auth("officer", area="79")
        got = await h.http.get(f"/units/{uid}/cycles/{YEAR}/evidence/{doc['evidence_id']}", headers=officer)
        assert got.status_code == 200 and got.content == PDF
        assert got.headers["content-disposition"].startswith("attachment")
        assert got.headers["x-content-type-options"] == "nosniff"
        for headers in (h.auth("officer", area="01"), h.auth("unit", unit=other)):
            assert (await h.http.get(f"/units/{uid}/cycles/{YEAR}/evidence", headers=headers)).status_code == 403
            assert (await h.http.get(f"/units/{uid}/cycles/{YEAR}/evidence/{doc['evidence_id']}",
                                     headers=headers)).status_code == 403
            r = await upload(h, uid, ART6[0], "x.pdf", PDF, "application/pdf", headers)
            assert r.status_code == 403
        # Uploading is the unit's own business: an officer of the area may read but not upload.
        assert (await upload(h, uid, ART6[0], "x.pdf", PDF, "application/pdf", officer)).status_code == 403
        assert (await upload(h, uid, ART6[0], "x.pdf", PDF, "application/pdf", {})).status_code == 401

        # Refusals name what is wrong: the refused type, the accepted ones, the size limit.
        exe = await upload(h, uid, ART6[0], "setup.exe", EXE, "application/x-msdownload", staff)
        assert exe.status_code == 422 and exe.json()["error"]["code"] == "evidence_type_refused"
        assert "application/x-msdownload" in exe.json()["error"]["message"]
        assert "PDF" in exe.json()["error"]["message"] and "PDF" in exe.json()["error"]["details"]["accepted"]
        renamed = await upload(h, uid, ART6[0], "bien-ban.pdf", EXE, "application/pdf", staff)
        assert renamed.status_code == 422 and renamed.json()["error"]["details"]["problem"] == "content_mismatch"
        big = await upload(h, uid, ART6[0], "big.pdf", PDF + b"0" * MAX, "application/pdf", staff)
        assert big.status_code == 422 and big.json()["error"]["code"] == "evidence_too_large"
        huge = await upload(h, uid, ART6[0], "huge.pdf", PDF + b"0" * (2 * 1024 * 1024), "application/pdf", staff)
        assert huge.status_code == 413  # over the body limit: refused before the body is read
        empty = await upload(h, uid, ART6[0], "empty.pdf", b"", "application/pdf", staff)
        assert empty.status_code == 422
        derived = await upload(h, uid, "A6.5", "x.pdf", PDF, "application/pdf", staff)
        assert derived.status_code == 422 and derived.json()["error"]["code"] == "criterion_derived"
        assert (await upload(h, uid, "Z9", "x.pdf", PDF, "application/pdf", staff)).status_code == 404
        no_cycle = await h.http.post(f"/units/{uid}/cycles/2025/criteria/{ART6[0]}/evidence", headers=staff,
                                     files={"file": ("x.pdf", PDF, "application/pdf")})
        assert no_cycle.status_code == 404
        missing = await h.http.get(f"/units/{uid}/cycles/{YEAR}/evidence/nope", headers=staff)
        assert missing.status_code == 404
        assert len((await h.http.get(f"/units/{uid}/cycles/{YEAR}/evidence", headers=staff)).json()["items"]) == 2

        # Once self-assessed, the dossier takes no more evidence.
        results = {code: {"result": "met"} for code in ART6}
        r = await h.http.post(f"/units/{uid}/cycles/{YEAR}/self-assessment", json={"results": results},
                              headers=staff)
        assert r.status_code == 200, r.text
        late = await upload(h, uid, ART6[0], "late.pdf", PDF, "application/pdf", staff)
        assert late.status_code == 409 and late.json()["error"]["code"] == "dossier_closed"


async def test_evidence_goes_to_an_s3_compatible_store_when_the_settings_say_so(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
        namespace: str, tmp_path: Path) -> None:
    async with s3_server() as endpoint:
        s3 = {"blob_store": "s3", "s3_endpoint_url": endpoint, "s3_bucket": "antq-files", "s3_prefix": "test/",
              **ACCESS}
        bucket = S3Storage(bucket="antq-files", prefix="test/units/", endpoint_url=endpoint, region="us-east-1",
                           access_key_id="antq", secret_access_key="antq-secret")
        await bucket.ensure_bucket()
        async with units_harness(settings_factory, database_url, nats_url, namespace,
                                 units_evidence_dir=tmp_path / "unused", **s3) as h:
            assert isinstance(h.service.app.state.ctx.evidence_storage, S3Storage)
            uid = await registered_unit(h)
            staff = h.auth("unit", unit=uid)
            r = await upload(h, uid, ART6[0], "ke-hoach.pdf", PDF, "application/pdf", staff)
            assert r.status_code == 201, r.text
            digest = r.json()["sha256"]
            # The object is in the bucket under its content hash; nothing was written to the disk folder.
            assert await bucket.get(digest) == PDF
            async with bucket._client() as client:
                listing = await client.list_objects_v2(Bucket="antq-files")
            assert [o["Key"] for o in listing["Contents"]] == [f"test/units/{digest[:2]}/{digest}"]
            assert not (tmp_path / "unused").exists()
            got = await h.http.get(f"/units/{uid}/cycles/{YEAR}/evidence/{r.json()['evidence_id']}", headers=staff)
            assert got.status_code == 200 and got.content == PDF
