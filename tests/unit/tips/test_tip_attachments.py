"""Attachment limits as data: allowed types and signatures, size per file and per tip, number of files."""

from __future__ import annotations

import pytest

from services.tips.domain import AttachmentMeta, attachment_problems, load_attachment_rules, validate_attachments
from shared.errors import Invalid

RULES = load_attachment_rules()
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
PDF = b"%PDF-1.7\n" + b"\x00" * 20


def problems(files: list[AttachmentMeta]) -> list[str]:
    return [p["problem"] for p in attachment_problems(files, RULES)]


def test_allowed_files_within_limits_pass() -> None:
    validate_attachments(
        [
            AttachmentMeta("anh.jpg", "image/jpeg", 2_000_000, JPEG),
            AttachmentMeta("bien-ban.pdf", "application/pdf", 300_000, PDF),
            AttachmentMeta("ghi-chu.txt", "text/plain; charset=utf-8", 20, "Ghi chú: trộm cắp".encode()),
            AttachmentMeta("clip.mp4", "video/mp4", 90_000_000, b"\x00\x00\x00\x18ftypmp42"),
            AttachmentMeta("don.docx", RULES.types[-1].content_type, 40_000, b"PK\x03\x04rest"),
        ],
        RULES,
    )


def test_disallowed_type_is_refused_with_the_allowed_list() -> None:
    with pytest.raises(Invalid) as err:
        validate_attachments([AttachmentMeta("x.exe", "application/x-msdownload", 10)], RULES)
    assert err.value.code == "attachment_rejected"
    [problem] = err.value.details["problems"]
    assert problem["problem"] == "type_not_allowed"
    assert "image/png" in problem["allowed"]
    assert err.value.details["rules_version"] == RULES.version


def test_content_not_matching_its_declared_type_is_refused() -> None:
    assert problems([AttachmentMeta("anh.jpg", "image/jpeg", 100, b"MZ\x90\x00")]) == ["content_mismatch"]
    assert problems([AttachmentMeta("a.txt", "text/plain", 4, b"\x00\x01\x02\x03")]) == ["content_mismatch"]


def test_extension_must_match_the_type() -> None:
    assert problems([AttachmentMeta("anh.png", "image/jpeg", 100, JPEG)]) == ["extension_mismatch"]


def test_size_limits_per_file_per_video_and_per_tip() -> None:
    assert problems([AttachmentMeta("a.pdf", "application/pdf", RULES.max_file_bytes + 1)]) == ["file_too_large"]
    assert problems([AttachmentMeta("v.mp4", "video/mp4", RULES.max_video_bytes)]) == []
    assert problems([AttachmentMeta("a.pdf", "application/pdf", 0)]) == ["empty_file"]
    big = [AttachmentMeta(f"v{i}.mp4", "video/mp4", RULES.max_video_bytes) for i in range(2)]
    assert problems(big) == ["total_too_large"]


def test_too_many_files_is_refused() -> None:
    files = [AttachmentMeta(f"{i}.png", "image/png", 10) for i in range(RULES.max_files + 1)]
    assert problems(files) == ["too_many_files"]


def test_a_utf8_character_cut_by_the_end_of_the_head_is_accepted() -> None:
    head = "trộm".encode()[:-1]
    assert problems([AttachmentMeta("a.txt", "text/plain", 1000, head)]) == []
