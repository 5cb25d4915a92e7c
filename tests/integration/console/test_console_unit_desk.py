"""The unit desk over HTTP with the real units and notify services behind it: only unit accounts open it, a form
without the session's CSRF token or with two files is refused on a page, a body over the upload limit is
refused before it is read, and a unit's session never reaches another unit's evidence."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from shared.calendar import VN_TZ, assessment_year_of
from shared.db import utcnow
from shared.settings import Settings
from tests.console_world import console_world, csrf_of, sign_in

PDF = b"%PDF-1.7\n" + b"ke hoach " * 100


async def test_the_unit_desk_keeps_each_unit_to_itself_and_bounds_its_uploads(
        settings_factory: Callable[..., Settings]) -> None:
    max_bytes = 64 * 1024
    async with console_world(settings_factory, also=("units",), units_evidence_max_bytes=max_bytes) as world:
        ours, theirs = await world.add_unit("Trường THCS Lê Lợi"), await world.add_unit("Công ty Bình Minh")
        await world.add("staff.ours", role="unit", area=None, unit=ours)
        await world.add("staff.theirs", role="unit", area=None, unit=theirs)
        await world.add("officer79", area="79")
        year = assessment_year_of(utcnow().astimezone(VN_TZ))
        upload = f"/me/dossier/{year}/criteria/A6.1/evidence"
        async with httpx.AsyncClient(base_url=world.urls["console"]) as a, \
                httpx.AsyncClient(base_url=world.urls["console"]) as b, \
                httpx.AsyncClient(base_url=world.urls["console"]) as officer:
            await sign_in(a, "staff.ours")
            await sign_in(b, "staff.theirs")
            await sign_in(officer, "officer79")
            assert (await officer.get("/me")).status_code == 403  # the desk is unit staff's

            page = await b.get(f"/me/dossier?year={year}")
            assert "Công ty Bình Minh" in page.text and "Trường THCS Lê Lợi" not in page.text
            csrf_b = csrf_of(page.text)
            assert (await b.post(f"/me/dossier/{year}/register", data={"csrf": csrf_b})).status_code == 303
            r = await b.post(upload, data={"csrf": csrf_b}, files={"file": ("ke-hoach.pdf", PDF, "application/pdf")})
            assert r.status_code == 303, r.text
            theirs_page = await b.get(f"/me/dossier?year={year}")
            evidence_id = theirs_page.text.split(f"/me/dossier/{year}/evidence/", 1)[1].split('"', 1)[0]
            assert (await b.get(f"/me/dossier/{year}/evidence/{evidence_id}")).content == PDF

            # Another unit's session does not reach that document, whatever id it sends.
            csrf_a = csrf_of((await a.get("/me")).text)
            assert "Công ty Bình Minh" not in (await a.get("/me")).text
            stolen = await a.get(f"/me/dossier/{year}/evidence/{evidence_id}")
            assert stolen.status_code == 404 and PDF not in stolen.content

            # Forms: the session's CSRF token, one file, and a body limit checked before the body is read.
            await a.post(f"/me/dossier/{year}/register", data={"csrf": csrf_a})
            forged = await a.post(upload, data={"csrf": "forged"},
                                  files={"file": ("x.pdf", PDF, "application/pdf")})
            assert forged.status_code == 403 and 'id="error"' in forged.text
            two = await a.post(upload, data={"csrf": csrf_a}, files=[
                ("file", ("x.pdf", PDF, "application/pdf")), ("file", ("y.pdf", PDF, "application/pdf"))])
            assert two.status_code == 400 and "một tệp" in two.text
            empty = await a.post(upload, data={"csrf": csrf_a}, files={"file": ("", b"", "application/octet-stream")})
            assert empty.status_code == 422 and "Hãy chọn một tệp" in empty.text
            big = await a.post(upload, data={"csrf": csrf_a},
                               files={"file": ("big.pdf", PDF + b"0" * max_bytes, "application/pdf")})
            assert big.status_code == 422 and "Tệp quá lớn: tối đa 64 KB mỗi tệp." in big.text
            # Refused from Content-Length with 413 and the connection closed, often while the client still sends.
            try:
                huge = await a.post(upload, data={"csrf": csrf_a},
                                    files={"file": ("huge.pdf", PDF + b"0" * (2 * 1024 * 1024), "application/pdf")})
                assert huge.status_code == 413
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
                pass
            listed = await a.get(f"/me/dossier?year={year}")
            assert all(name not in listed.text for name in ("big.pdf", "huge.pdf", "x.pdf"))
