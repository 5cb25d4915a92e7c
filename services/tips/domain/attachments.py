"""Checks a tip's attachments against the versioned limits: types, signatures, sizes per file and per tip, count.

The declared content type is not trusted on its own: when the caller passes the first bytes of a file, they
must match the type's signature (a `.exe` renamed `.jpg` is refused), and plain text must be UTF-8.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import Invalid

from .rules import AttachmentRules

HEAD_BYTES = 64  # how many leading bytes the validator wants to see (the longest signature ends well before)


@dataclass(frozen=True)
class AttachmentMeta:
    """What the validator needs to know about one uploaded file."""

    filename: str
    content_type: str
    size: int
    head: bytes | None = None


def attachment_problems(files: Sequence[AttachmentMeta], rules: AttachmentRules) -> list[dict[str, Any]]:
    """Every rule the files break, as `{index?, filename?, problem, ...}` dicts (empty when all is well)."""
    problems: list[dict[str, Any]] = []
    if len(files) > rules.max_files:
        problems.append({"problem": "too_many_files", "count": len(files), "max": rules.max_files})
    total = 0
    for index, meta in enumerate(files):
        where = {"index": index, "filename": meta.filename}
        total += max(meta.size, 0)
        kind = rules.type_for(meta.content_type)
        if kind is None:
            allowed = [t.content_type for t in rules.types]
            problems.append(
                where | {"problem": "type_not_allowed", "content_type": meta.content_type, "allowed": allowed}
            )
            continue
        extension = posixpath.splitext(meta.filename.lower())[1]
        if extension not in kind.extensions:
            problems.append(where | {"problem": "extension_mismatch", "expected": list(kind.extensions)})
        limit = rules.max_video_bytes if kind.video else rules.max_file_bytes
        if meta.size <= 0:
            problems.append(where | {"problem": "empty_file"})
        elif meta.size > limit:
            problems.append(where | {"problem": "file_too_large", "size": meta.size, "max": limit})
        if meta.head is not None:
            if kind.magic and not all(m.matches(meta.head) for m in kind.magic):
                problems.append(where | {"problem": "content_mismatch", "content_type": kind.content_type})
            if kind.text and not _looks_like_utf8_text(meta.head, complete=meta.size <= len(meta.head)):
                problems.append(where | {"problem": "content_mismatch", "content_type": kind.content_type})
    if total > rules.max_total_bytes:
        problems.append({"problem": "total_too_large", "size": total, "max": rules.max_total_bytes})
    return problems


def _looks_like_utf8_text(head: bytes, *, complete: bool) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the head is fine unless the head is the whole file.
        return not complete and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def validate_attachments(files: Sequence[AttachmentMeta], rules: AttachmentRules) -> None:
    """Invalid (`attachment_rejected`, details.problems and the rules version) when any rule is broken."""
    problems = attachment_problems(files, rules)
    if problems:
        raise Invalid(
            "attachments break the limits",
            code="attachment_rejected",
            details={"problems": problems, "rules_version": rules.version},
        )
