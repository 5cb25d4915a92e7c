"""The award catalogue and its eligibility rules as versioned data: schema, loader and the set in force."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.contracts.events import Rating, RecipientKind
from shared.errors import Invalid, NotFound, safe_details

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

Gender = Literal["male", "female"]
Proposer = Literal["unit", "police", "commune", "province"]
RATING_ORDER: dict[str, int] = {"pass": 1, "good": 2, "excellent": 3}


class _Frozen(BaseModel):
    # extra="forbid": a misspelt key in a provincial overlay must fail at load time, not silently do nothing.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Names(_Frozen):
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class CollectiveRule(_Frozen):
    """A unit earns the award for every `consecutive_years` run of ANTT recognitions (non-overlapping windows)."""

    consecutive_years: int = Field(ge=1, le=50)
    min_rating: Rating | None = None
    # Award types the unit must already hold (approved or granted, earlier year) for this one to be owed.
    requires_prior: tuple[str, ...] = ()
    # Whether a manual nomination that misses the thresholds may still go to the approver as an exception, with
    # the nominator's justification; without it such a nomination is refused.
    allows_exception: bool = False


class MedalCategory(_Frozen):
    min_years: dict[Gender, int]
    requires_prior_any_of: tuple[str, ...] = ()
    requires_no_serious_incident: bool = False

    @model_validator(mode="after")
    def _both_genders(self) -> MedalCategory:
        if set(self.min_years) != {"male", "female"}:
            raise ValueError("min_years needs a threshold for both male and female")
        return self


class IndividualRule(_Frozen):
    once_per_person: bool = False
    barred_while: tuple[str, ...] = ()
    deferred_while: tuple[str, ...] = ()
    categories: dict[str, MedalCategory] = Field(min_length=1)


class TipRule(_Frozen):
    outcomes: tuple[str, ...] = Field(min_length=1)


class QuotaRule(_Frozen):
    """Yearly ceiling of approved+granted awards of one type; `scope` says which area code the count groups by."""

    scope: Literal["province", "area"] = "province"
    default: int | None = Field(default=None, ge=0)
    areas: dict[str, int] = Field(default_factory=dict)

    def limit_for(self, code: str) -> int | None:
        """The quota for one province/area code; None means unlimited."""
        return self.areas.get(code, self.default)


class AwardTypeRule(_Frozen):
    name: Names
    recipient_kinds: tuple[RecipientKind, ...] = Field(min_length=1)
    proposers: tuple[Proposer, ...] = Field(min_length=1)
    approving_levels: tuple[str, ...] = Field(min_length=1)
    level_by_certifier: dict[Literal["commune", "province"], str] = Field(default_factory=dict)
    collective: CollectiveRule | None = None
    individual: IndividualRule | None = None
    tip: TipRule | None = None
    quota: QuotaRule = QuotaRule()
    validity_years: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> AwardTypeRule:
        for level in self.level_by_certifier.values():
            if level not in self.approving_levels:
                raise ValueError(f"level_by_certifier names {level!r}, which is not an approving level")
        if self.collective is not None and not self.level_by_certifier:
            raise ValueError("a collective rule needs level_by_certifier")
        return self


class RuleSet(_Frozen):
    """The merged national + provincial rules in force for one province on one day; `version` identifies it."""

    version: str
    digest: str
    province: str | None
    base_version: str
    overlay_version: str | None
    effective_from: date
    sources: tuple[str, ...] = ()
    levels: dict[str, Names]
    review_deadline_days: dict[str, int]
    award_types: dict[str, AwardTypeRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _levels_known(self) -> RuleSet:
        for code, award_type in self.award_types.items():
            for level in award_type.approving_levels:
                if level not in self.levels:
                    raise ValueError(f"award type {code!r} names unknown level {level!r}")
                if level not in self.review_deadline_days:
                    raise ValueError(f"level {level!r} has no review deadline")
            for prior in award_type.collective.requires_prior if award_type.collective else ():
                if prior not in self.award_types:
                    raise ValueError(f"award type {code!r} requires unknown award type {prior!r}")
        return self

    def award_type(self, code: str) -> AwardTypeRule:
        try:
            return self.award_types[code]
        except KeyError:
            raise NotFound(f"unknown award type {code!r}", details={"award_type": code}) from None

    def review_days(self, level: str) -> int:
        return self.review_deadline_days[level]

    def to_public(self) -> dict[str, Any]:
        """The JSON body of `GET /rules`."""
        return self.model_dump(mode="json")


# --- files ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RuleFile:
    path: Path
    version: str
    effective_from: date
    body: dict[str, Any]
    province: str | None = None


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)
    if not isinstance(loaded, dict):
        raise Invalid(f"rule file {path.name} is not a mapping", details={"path": str(path)})
    return loaded


def _as_date(value: Any, path: Path) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise Invalid(f"rule file {path.name}: effective_from is not a date", details={"path": str(path)}) from None


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay wins key by key in nested mappings; a list or scalar in the overlay replaces the base value."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _digest(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


class RuleLibrary:
    """Every national and provincial rule file under one directory, indexed by effective date."""

    def __init__(self, root: Path = RULES_DIR) -> None:
        self.root = root
        self.national = self._load_national(root / "national")
        self.overlays = self._load_overlays(root / "provinces")
        # Merged rule sets are frozen: built once per (national file, provincial file, province).
        self._built: dict[tuple[int, int, str | None], RuleSet] = {}
        if not self.national:
            raise Invalid(f"no national rule file under {root}", details={"path": str(root)})

    @staticmethod
    def _load_national(folder: Path) -> list[_RuleFile]:
        files = []
        for path in sorted(folder.glob("*.yaml")):
            raw = _read_yaml(path)
            body = {k: v for k, v in raw.items() if k not in {"version", "effective_from"}}
            files.append(_RuleFile(path, str(raw["version"]), _as_date(raw["effective_from"], path), body))
        return sorted(files, key=lambda f: f.effective_from)

    @staticmethod
    def _load_overlays(folder: Path) -> dict[str, list[_RuleFile]]:
        overlays: dict[str, list[_RuleFile]] = {}
        for path in sorted(folder.glob("*/*.yaml")):
            raw = _read_yaml(path)
            province = str(raw.get("province", path.parent.name))
            if province != path.parent.name:
                raise Invalid(f"overlay {path} declares province {province!r}", details={"path": str(path)})
            overrides = raw.get("overrides") or {}
            if not isinstance(overrides, dict):
                raise Invalid(f"overlay {path.name}: overrides is not a mapping", details={"path": str(path)})
            rule_file = _RuleFile(path, str(raw["version"]), _as_date(raw["effective_from"], path), overrides, province)
            overlays.setdefault(province, []).append(rule_file)
        return {code: sorted(files, key=lambda f: f.effective_from) for code, files in overlays.items()}

    @staticmethod
    def _latest(files: list[_RuleFile], on: date) -> _RuleFile | None:
        in_force = [f for f in files if f.effective_from <= on]
        return in_force[-1] if in_force else None

    def rules_in_force(self, province: str | None, on: date) -> RuleSet:
        base = self._latest(self.national, on)
        if base is None:
            raise NotFound(f"no award rules in force on {on.isoformat()}", details={"on": on.isoformat()})
        overlay = self._latest(self.overlays.get(province or "", []), on)
        key = (id(base), id(overlay), province)
        built = self._built.get(key)
        if built is None:
            built = self._built[key] = self._build(base, overlay, province)
        return built

    def _build(self, base: _RuleFile, overlay: _RuleFile | None, province: str | None) -> RuleSet:
        body = _deep_merge(base.body, overlay.body) if overlay else copy.deepcopy(base.body)
        version = f"{base.version}+{overlay.version}" if overlay else base.version
        effective_from = max(base.effective_from, overlay.effective_from) if overlay else base.effective_from
        try:
            return RuleSet.model_validate(
                {
                    **body,
                    "version": version,
                    "digest": _digest(body),
                    "province": province,
                    "base_version": base.version,
                    "overlay_version": overlay.version if overlay else None,
                    "effective_from": effective_from,
                }
            )
        except ValidationError as exc:
            source = overlay.path if overlay else base.path
            raise Invalid(
                f"award rules {version} are not valid ({source.name})",
                details={"errors": safe_details(exc)},
            ) from exc

    def validate_all(self) -> list[str]:
        """Build every (national, overlay) combination once; returns their version ids or raises Invalid."""
        versions = [self._build(base, None, None).version for base in self.national]
        for province, overlays in self.overlays.items():
            versions.extend(
                self._build(base, overlay, province).version for overlay in overlays for base in self.national
            )
        return versions


@lru_cache(maxsize=8)
def rule_library(root: Path = RULES_DIR) -> RuleLibrary:
    """The library of the shipped rule files, read once per process."""
    return RuleLibrary(root)


def rules_in_force(province: str | None, on: date, *, root: Path = RULES_DIR) -> RuleSet:
    """The frozen rule set that applies to `province` (None: national defaults) on day `on`."""
    return rule_library(root).rules_in_force(province, on)
