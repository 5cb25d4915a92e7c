"""The evidence rules as data: accepted types by extension, declared type and first bytes; refusals name the type."""

from __future__ import annotations

import pytest

from services.units.domain import check_evidence, clean_filename, load_evidence_rules
from shared.errors import Invalid

RULES = load_evidence_rules(max_bytes=1000)
PDF = b"%PDF-1.7\n..."


def refusal(**kw: object) -> Invalid:
    args = {"filename": "a.pdf", "content_type": "application/pdf", "size": 10, "head": PDF, "already": 0} | kw
    with pytest.raises(Invalid) as caught:
        check_evidence(RULES, **args)  # type: ignore[arg-type]
    return caught.value


def test_the_shipped_rules_accept_office_documents_and_images_by_name() -> None:
    assert RULES.accepted == ["PDF", "JPEG", "PNG", "DOCX", "XLSX"] and RULES.max_bytes == 1000
    kind = check_evidence(RULES, filename="Biên bản.PDF", content_type="application/pdf", size=10, head=PDF, already=0)
    assert kind.content_type == "application/pdf"
    # A browser that does not know the type sends octet-stream: the extension and the first bytes decide.
    png = check_evidence(RULES, filename="anh.png", content_type="application/octet-stream", size=10,
                         head=b"\x89PNG\r\n\x1a\n", already=0)
    assert png.content_type == "image/png"
    jpeg = check_evidence(RULES, filename="anh.jpg", content_type=None, size=10, head=b"\xff\xd8\xff\xe0", already=0)
    assert jpeg.name == "JPEG"


def test_a_refused_type_is_named_with_the_accepted_ones() -> None:
    exe = refusal(filename="setup.exe", content_type="application/x-msdownload", head=b"MZ")
    assert exe.code == "evidence_type_refused" and exe.status == 422
    assert "application/x-msdownload (.exe)" in exe.message and "PDF, JPEG, PNG, DOCX, XLSX" in exe.message
    assert exe.details["accepted"] == RULES.accepted and exe.details["problem"] == "type_not_allowed"
    html = refusal(filename="trang.pdf", content_type="text/html")  # the declared type must fit the extension
    assert "text/html" in html.message
    renamed = refusal(filename="hop-dong.pdf", head=b"MZ\x90\x00")
    assert renamed.details["problem"] == "content_mismatch"


def test_sizes_and_counts_are_limited() -> None:
    assert refusal(size=1001).code == "evidence_too_large"
    assert refusal(size=0).details["problem"] == "empty_file"
    assert refusal(already=RULES.max_files_per_criterion).details["problem"] == "too_many_files"
    check_evidence(RULES, filename="a.pdf", content_type="application/pdf", size=1000, head=PDF,
                   already=RULES.max_files_per_criterion - 1)


def test_a_browsers_file_name_loses_its_folders_and_control_characters() -> None:
    assert clean_filename("C:\\Users\\an\\Nghị quyết.pdf") == "Nghị quyết.pdf"
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("a\x00b\nc.pdf") == "abc.pdf"
    assert clean_filename(None) == clean_filename("  ") == "file"
