"""Attachments: accepted with the tip in one multipart request, stored on disk by content hash, limits enforced."""

from __future__ import annotations

import hashlib
import json

from tests.integration.tips.tips_support import Tips

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.7\n" + b"1 0 obj\n" * 20
TIP = {"category": "theft", "description": "Ảnh chụp kẻ trộm", "area_code": "79", "anonymous": True}


async def _post(tips: Tips, files: list[tuple[str, tuple[str, bytes, str]]], tip: dict | None = None):
    return await tips.http.post("/tips/with-attachments", data={"tip": json.dumps(tip or TIP)}, files=files)


def _problems(r) -> list[str]:
    return [p["problem"] for p in r.json()["error"]["details"]["problems"]]


async def test_attachments_are_stored_by_content_hash_and_listed_for_officers(tips: Tips) -> None:
    r = await _post(tips, [("files", ("anh.png", PNG, "image/png")),
                           ("files", ("bien-ban.pdf", PDF, "application/pdf"))])
    assert r.status_code == 202, r.text
    assert r.headers["cache-control"] == "no-store"
    tip_id = r.json()["tip_id"]
    detail = (await tips.http.get(f"/tips/{tip_id}", headers=tips.auth())).json()
    files = {a["filename"]: a for a in detail["attachments"]}
    assert files["anh.png"]["sha256"] == hashlib.sha256(PNG).hexdigest() and files["anh.png"]["size"] == len(PNG)
    root = tips.settings.tips_attachment_dir or tips.settings.data_dir / "attachments"
    digest = files["bien-ban.pdf"]["sha256"]
    assert (root / digest[:2] / digest).read_bytes() == PDF
    download = await tips.http.get(files["anh.png"]["url"], headers=tips.auth())
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert (await tips.http.get(files["anh.png"]["url"], headers=tips.auth("officer", "01"))).status_code == 403


async def test_attachment_limits_refuse_the_whole_tip(tips: Tips) -> None:
    r = await _post(tips, [("files", ("virus.exe", b"MZ" + b"\x00" * 50, "application/x-msdownload"))])
    assert r.status_code == 422 and _problems(r) == ["type_not_allowed"]
    r = await _post(tips, [("files", ("fake.png", b"MZ" + b"\x00" * 50, "image/png"))])
    assert r.status_code == 422 and _problems(r) == ["content_mismatch"]
    r = await _post(tips, [("files", (f"a{i}.png", PNG, "image/png")) for i in range(11)])
    assert r.status_code == 422 and _problems(r) == ["too_many_files"]
    r = await _post(tips, [("files", ("a.png", PNG, "image/png"))], tip={"category": "theft"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][:2] == ["tip", "description"]

    ctx = tips.service.app.state.ctx
    ctx.attachment_rules = ctx.attachment_rules.model_copy(update={"max_file_bytes": 100, "max_total_bytes": 1000})
    r = await _post(tips, [("files", ("big.png", PNG, "image/png"))])
    assert r.status_code == 422 and _problems(r) == ["file_too_large"]
    # A body beyond the total limit (plus the multipart allowance) is refused before it is read.
    r = await _post(tips, [("files", ("huge.png", PNG + b"\x00" * (2 * 1024 * 1024), "image/png"))])
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    async with tips.service.db.read() as session:
        from sqlalchemy import func, select

        from services.tips import store

        assert (await session.execute(select(func.count()).select_from(store.tips))).scalar() == 0
