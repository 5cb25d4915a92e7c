"""Evidence documents of a dossier: which files a unit may upload for a criterion, and why one is refused.

The accepted types are data (`rules/evidence.yaml`): a content type, its extensions and the first bytes its
files start with, so a renamed `.exe` is refused even when the browser calls it a PDF. The largest file is a
setting. A refusal names the type that was refused and the types that are accepted.
"""

from __future__ import annotations

import posixpath
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import Invalid

RULES = Path(__file__).resolve().parent.parent / "rules" / "evidence.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvidenceType(_Frozen):
    content_type: str
    name: str
    extensions: tuple[str, ...]
    magic: str | None = None  # the file's first bytes, as latin-1 text

    def matches(self, head: bytes) -> bool:
        return self.magic is None or head.startswith(self.magic.encode("latin-1"))


class EvidenceRules(_Frozen):
    version: str
    max_files_per_criterion: int = Field(ge=1)
    types: tuple[EvidenceType, ...]
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)

    @property
    def accepted(self) -> list[str]:
        return [t.name for t in self.types]

    def by_extension(self, filename: str) -> EvidenceType | None:
        extension = posixpath.splitext(filename.lower())[1]
        return next((t for t in self.types if extension in t.extensions), None)


def load_evidence_rules(max_bytes: int, path: Path = RULES) -> EvidenceRules:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return EvidenceRules.model_validate({**data, "max_bytes": max_bytes})


class Evidence(_Frozen):
    """One uploaded document: what the dossier shows and where its bytes are."""

    evidence_id: str
    unit_id: str
    year: int
    criterion: str
    filename: str
    content_type: str
    size: int
    sha256: str
    storage_key: str
    uploaded_at: datetime
    uploaded_by: str


def clean_filename(name: str | None) -> str:
    """The file's own name without any folder a browser sent, at most 200 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    cleaned = "".join(c for c in base if c.isprintable())[:200]
    return cleaned or "file"


def check_evidence(rules: EvidenceRules, *, filename: str, content_type: str | None, size: int, head: bytes,
                   already: int) -> EvidenceType:
    """The file's accepted type, or Invalid (`evidence_rejected`) naming what is wrong with it."""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    kind = rules.by_extension(filename)
    extension = posixpath.splitext(filename.lower())[1] or "(none)"
    base: dict[str, Any] = {"filename": filename, "accepted": rules.accepted, "rules_version": rules.version}
    if kind is None or (declared not in ("", "application/octet-stream", kind.content_type)):
        refused = declared or extension
        raise Invalid(f"files of type {refused} ({extension}) are not accepted as evidence; accepted: "
                      f"{', '.join(rules.accepted)}", code="evidence_type_refused",
                      details=base | {"problem": "type_not_allowed", "content_type": declared or None,
                                      "extension": extension})
    if size <= 0:
        raise Invalid(f"{filename} is empty", code="evidence_rejected", details=base | {"problem": "empty_file"})
    if size > rules.max_bytes:
        raise Invalid(f"{filename} is larger than {rules.max_bytes} bytes", code="evidence_too_large",
                      details=base | {"problem": "file_too_large", "size": size, "max": rules.max_bytes})
    if not kind.matches(head):
        raise Invalid(f"{filename} is not a {kind.name} file (its content does not match its type)",
                      code="evidence_type_refused",
                      details=base | {"problem": "content_mismatch", "content_type": kind.content_type})
    if already >= rules.max_files_per_criterion:
        raise Invalid(f"a criterion holds at most {rules.max_files_per_criterion} documents",
                      code="evidence_rejected", details=base | {"problem": "too_many_files",
                                                                "max": rules.max_files_per_criterion})
    return kind
