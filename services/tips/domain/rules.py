"""Loads the tips service's versioned rule data (categories, deadlines, attachments, triage) into frozen models."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import places
from shared.areas import covers
from shared.errors import Invalid, NotFound

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

DeadlineName = Literal["forward_24h", "decide_20d", "decide_extended"]


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- categories ------------------------------------------------------------------------------------------------
class Category(_Rule):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    label_vi: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    urgent: bool = False


class CategorySet(_Rule):
    version: str
    effective_from: str | None = None
    categories: tuple[Category, ...]

    @model_validator(mode="after")
    def _unique_codes_and_other(self) -> CategorySet:
        codes = [c.code for c in self.categories]
        if len(codes) != len(set(codes)):
            raise ValueError("category codes must be unique")
        if "other" not in codes:
            # Inbound tips with a category we do not know are filed under `other`, never dropped.
            raise ValueError("a category list must contain `other`")
        return self

    def get(self, code: str) -> Category:
        """The category with this code; Invalid (422) when the list does not have it."""
        for category in self.categories:
            if category.code == code:
                return category
        raise Invalid(
            f"unknown tip category {code!r}",
            code="unknown_category",
            details={"category": code, "version": self.version, "allowed": [c.code for c in self.categories]},
        )

    def coerce(self, code: str) -> Category:
        """The category with this code, or `other` for a code this version does not know (inbound tips)."""
        try:
            return self.get(code)
        except Invalid:
            return self.get("other")

    def is_urgent(self, code: str) -> bool:
        return self.get(code).urgent


# --- deadlines -------------------------------------------------------------------------------------------------
class ForwardRule(_Rule):
    deadline: DeadlineName = "forward_24h"
    hours: int = Field(gt=0)
    remote_area_hours: int = Field(gt=0)
    approaching_before_hours: int = Field(ge=0)


class DecideRule(_Rule):
    deadline: DeadlineName = "decide_20d"
    days: int = Field(gt=0)
    approaching_before_days: int = Field(ge=0)


class ExtensionRule(_Rule):
    ordinal: int = Field(ge=1)
    deadline: DeadlineName = "decide_extended"
    months_from_start: int | None = Field(default=None, gt=0)
    months_after_previous: int | None = Field(default=None, gt=0)
    approaching_before_days: int = Field(ge=0)

    @model_validator(mode="after")
    def _exactly_one_basis(self) -> ExtensionRule:
        if (self.months_from_start is None) == (self.months_after_previous is None):
            raise ValueError("an extension sets exactly one of months_from_start, months_after_previous")
        return self


class EscalationRule(_Rule):
    # An urgent tip not triaged this long after receipt goes up one level, and again after each further period.
    urgent_untriaged_minutes: int = Field(default=30, gt=0)


class DeadlineRules(_Rule):
    version: str
    legal_basis: str = ""
    forward: ForwardRule
    decide: DecideRule
    extensions: tuple[ExtensionRule, ...]
    extension_request_min_days_before_expiry: int = Field(ge=0)
    remote_area_codes: frozenset[str] = frozenset()
    escalation: EscalationRule = EscalationRule()

    @model_validator(mode="after")
    def _ordinals_in_sequence(self) -> DeadlineRules:
        if [e.ordinal for e in self.extensions] != list(range(1, len(self.extensions) + 1)):
            raise ValueError("extension ordinals must be 1, 2, ... in order")
        return self

    @field_validator("remote_area_codes")
    @classmethod
    def _places_of_the_list(cls, codes: frozenset[str]) -> frozenset[str]:
        unknown = sorted(c for c in codes if not places.is_known_area(c))
        if unknown:
            raise ValueError(f"remote_area_codes: not places of the national list: {', '.join(unknown)}")
        return codes

    def is_remote(self, area_code: str | None) -> bool:
        """Whether the 48 h forwarding deadline applies: the area, or the province containing it, is listed
        ("11" covers all the communes of Điện Biên; "31.11948" only Bạch Long Vĩ)."""
        if not area_code:
            return False
        return any(covers(code, area_code) for code in self.remote_area_codes)


# --- attachments -----------------------------------------------------------------------------------------------
class MagicBytes(_Rule):
    offset: int = Field(ge=0)
    hex: str = Field(pattern=r"^([0-9a-f]{2})+$")

    def matches(self, head: bytes) -> bool:
        expected = bytes.fromhex(self.hex)
        return head[self.offset : self.offset + len(expected)] == expected


class AttachmentType(_Rule):
    content_type: str
    extensions: tuple[str, ...]
    magic: tuple[MagicBytes, ...] = ()
    video: bool = False
    text: bool = False


class AttachmentRules(_Rule):
    version: str
    max_files: int = Field(gt=0)
    max_file_bytes: int = Field(gt=0)
    max_video_bytes: int = Field(gt=0)
    max_total_bytes: int = Field(gt=0)
    types: tuple[AttachmentType, ...]

    def type_for(self, content_type: str) -> AttachmentType | None:
        base = content_type.split(";", 1)[0].strip().lower()
        return next((t for t in self.types if t.content_type == base), None)


# --- triage ----------------------------------------------------------------------------------------------------
class SimilarityWeights(_Rule):
    tokens: float = Field(ge=0)
    shingles: float = Field(ge=0)


class TriageRules(_Rule):
    version: str
    window_hours: int = Field(gt=0)
    min_score: float = Field(ge=0, le=1)
    shingle_size: int = Field(ge=2, le=8)
    weights: SimilarityWeights
    same_unit_bonus: float = Field(ge=0, le=1)


# --- loading ---------------------------------------------------------------------------------------------------
M = TypeVar("M", bound=_Rule)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _path(rules_dir: Path, kind: str, version: str) -> Path:
    # One flat folder (`<kind>.<version>.yaml`) so that package data needs no sub-packages to be installed.
    return rules_dir / f"{kind}.{version}.yaml"


def available_versions(kind: str, *, rules_dir: Path = RULES_DIR) -> list[str]:
    """Versions of a kind of rule data present on disk, oldest first (file names are `<kind>.<version>.yaml`)."""
    prefix = f"{kind}."
    versions = [p.stem[len(prefix) :] for p in rules_dir.glob(f"{kind}.*.yaml") if p.stem.startswith(prefix)]
    return sorted(versions, key=_version_key)


def _load(kind: str, model: type[M], version: str | None, rules_dir: Path) -> M:
    versions = available_versions(kind, rules_dir=rules_dir)
    if not versions:
        raise NotFound(f"no rule data of kind {kind!r}", details={"kind": kind})
    chosen = versions[-1] if version is None else version
    if chosen not in versions:
        raise NotFound(f"no {kind} rules version {chosen!r}", details={"kind": kind, "available": versions})
    raw: Any = yaml.safe_load(_path(rules_dir, kind, chosen).read_text(encoding="utf-8"))
    loaded = model.model_validate(raw)
    if getattr(loaded, "version", chosen) != chosen:
        # The file name is what callers ask for; a mismatch would make "which rules applied" ambiguous.
        raise ValueError(f"{kind}.{chosen}.yaml declares version {getattr(loaded, 'version', None)!r}")
    return loaded


@lru_cache(maxsize=32)
def load_categories(version: str | None = None, *, rules_dir: Path = RULES_DIR) -> CategorySet:
    """The category list of `version` (latest when None). NotFound for an unknown version."""
    return _load("categories", CategorySet, version, rules_dir)


@lru_cache(maxsize=32)
def load_deadline_rules(version: str | None = None, *, rules_dir: Path = RULES_DIR) -> DeadlineRules:
    """The legal deadline rules of `version` (latest when None). NotFound for an unknown version."""
    return _load("deadlines", DeadlineRules, version, rules_dir)


@lru_cache(maxsize=32)
def load_attachment_rules(version: str | None = None, *, rules_dir: Path = RULES_DIR) -> AttachmentRules:
    """The attachment limits of `version` (latest when None). NotFound for an unknown version."""
    return _load("attachments", AttachmentRules, version, rules_dir)


@lru_cache(maxsize=32)
def load_triage_rules(version: str | None = None, *, rules_dir: Path = RULES_DIR) -> TriageRules:
    """The duplicate-finder tuning of `version` (latest when None). NotFound for an unknown version."""
    return _load("triage", TriageRules, version, rules_dir)
