"""Criteria frameworks and incident categories of the ANTT standard, loaded from the versioned rule files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from shared.contracts.events import UnitKind
from shared.errors import Invalid, NotFound

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
ALL_KINDS: tuple[UnitKind, ...] = ("agency", "enterprise", "school")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Criterion(_Frozen):
    """One checklist item. A `derived` criterion is computed from the year's incidents, never scored by hand."""

    code: str = Field(min_length=1, max_length=50)
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)
    derived: Literal["incidents"] | None = None
    # For a derived criterion: the incident categories that make it not met; None means every disqualifying one.
    incident_categories: tuple[str, ...] | None = None
    kinds: tuple[UnitKind, ...] = ALL_KINDS
    source: str = ""


class IncidentCategory(_Frozen):
    code: str = Field(min_length=1, max_length=100)
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)
    disqualifying: bool
    kinds: tuple[UnitKind, ...] = ALL_KINDS


class IncidentCategoryList(_Frozen):
    code: str
    valid_from: date
    categories: tuple[IncidentCategory, ...]


class Title(_Frozen):
    vi: str
    en: str


class BaseFramework(_Frozen):
    """A national framework file (one version of one article)."""

    family: str
    version: str
    valid_from: date
    valid_to: date | None = None
    basis: str
    title: Title
    kinds: tuple[UnitKind, ...]
    incident_categories: str
    criteria: tuple[Criterion, ...]

    @property
    def code(self) -> str:
        return f"{self.family}@{self.valid_from.isoformat()}"


class Overlay(_Frozen):
    """One version of a province's additional criteria."""

    province_code: str = Field(min_length=1, max_length=20)
    version: str
    valid_from: date
    valid_to: date | None = None
    basis: str = ""
    criteria: tuple[Criterion, ...]

    @property
    def code(self) -> str:
        return f"P{self.province_code}@{self.valid_from.isoformat()}"


class Framework(_Frozen):
    """The checklist a cycle is assessed against: a national framework for one kind plus any province overlay."""

    code: str
    version: str
    kind: UnitKind
    basis: str
    title: Title
    valid_from: date
    valid_to: date | None
    province_code: str | None = None
    overlay_code: str | None = None
    criteria: tuple[Criterion, ...]
    incident_categories: tuple[IncidentCategory, ...]
    # Criteria by code (the first of a code wins), looked up once per criterion of every item of a batch.
    _by_code: dict[str, Criterion] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        for c in self.criteria:
            self._by_code.setdefault(c.code, c)

    def criterion(self, code: str) -> Criterion | None:
        # Straight from the private-attribute dict: `self._by_code` goes through pydantic's `__getattr__` (slow).
        private = self.__pydantic_private__
        assert private is not None  # the model has a private attribute
        by_code: dict[str, Criterion] = private["_by_code"]
        return by_code.get(code)

    @property
    def scored_criteria(self) -> tuple[Criterion, ...]:
        """Criteria the unit scores itself (the derived ones follow from incidents)."""
        return tuple(c for c in self.criteria if c.derived is None)

    def category(self, code: str) -> IncidentCategory | None:
        return next((c for c in self.incident_categories if c.code == code), None)

    def disqualifying_codes(self) -> frozenset[str]:
        return frozenset(c.code for c in self.incident_categories if c.disqualifying)

    def is_disqualifying(self, category: str) -> bool:
        return category in self.disqualifying_codes()


def _in_window(valid_from: date, valid_to: date | None, on: date) -> bool:
    return valid_from <= on and (valid_to is None or on <= valid_to)


class FrameworkCatalogue:
    """Every shipped framework version, overlay version and incident list, with look-ups by date and by code."""

    def __init__(
        self,
        bases: Iterable[BaseFramework],
        overlays: Iterable[Overlay],
        incident_lists: Iterable[IncidentCategoryList],
    ) -> None:
        self.bases = tuple(sorted(bases, key=lambda b: (b.family, b.valid_from)))
        self.overlays = tuple(sorted(overlays, key=lambda o: (o.province_code, o.valid_from)))
        self.incident_lists = {lst.code: lst for lst in incident_lists}
        # Composed frameworks by (base, overlay, kind), each with the base and overlay it was composed from: they
        # are frozen, so one composition serves every later look-up (a batch of incidents looks one up per event,
        # and composing copies every criterion: most of what an incident cost, docs/benchmarks.md).
        self._composed: dict[tuple[int, int, str], tuple[BaseFramework, Overlay | None, Framework]] = {}
        self._check()

    def _check(self) -> None:
        seen: set[str] = set()
        for base in self.bases:
            if base.code in seen:
                raise Invalid(f"framework {base.code} is defined twice")
            seen.add(base.code)
            if base.incident_categories not in self.incident_lists:
                raise Invalid(f"framework {base.code} names unknown incident list {base.incident_categories}")
            _check_unique_codes(base.code, base.criteria)
            known = {c.code for c in self.incident_lists[base.incident_categories].categories}
            for crit in base.criteria:
                unknown = set(crit.incident_categories or ()) - known
                if unknown:
                    raise Invalid(f"criterion {crit.code} of {base.code} names unknown categories {sorted(unknown)}")
        national = {c.code for b in self.bases for c in b.criteria}
        for overlay in self.overlays:
            if overlay.code in seen:
                raise Invalid(f"overlay {overlay.code} is defined twice")
            seen.add(overlay.code)
            _check_unique_codes(overlay.code, overlay.criteria)
            clash = national & {c.code for c in overlay.criteria}
            if clash:
                raise Invalid(f"overlay {overlay.code} reuses national criterion codes {sorted(clash)}")

    # --- look-ups -------------------------------------------------------------------------------------------
    def base_in_force(self, kind: UnitKind, on: date) -> BaseFramework:
        candidates = [b for b in self.bases if kind in b.kinds and _in_window(b.valid_from, b.valid_to, on)]
        if not candidates:
            raise NotFound(f"no criteria framework for {kind} is in force on {on.isoformat()}", code="no_framework")
        return max(candidates, key=lambda b: b.valid_from)

    def overlay_in_force(self, province_code: str | None, on: date) -> Overlay | None:
        if not province_code:
            return None
        candidates = [
            o for o in self.overlays if o.province_code == province_code and _in_window(o.valid_from, o.valid_to, on)
        ]
        return max(candidates, key=lambda o: o.valid_from) if candidates else None

    def in_force(self, kind: UnitKind, province_code: str | None, on: date) -> Framework:
        """The framework a unit of `kind` in `province_code` is assessed against when registering on `on`."""
        return self.compose(self.base_in_force(kind, on), self.overlay_in_force(province_code, on), kind)

    def compose(self, base: BaseFramework, overlay: Overlay | None, kind: UnitKind) -> Framework:
        key = (id(base), id(overlay), kind)
        cached = self._composed.get(key)
        if cached is not None and cached[0] is base and cached[1] is overlay:
            return cached[2]
        framework = self._compose(base, overlay, kind)
        self._composed[key] = (base, overlay, framework)
        return framework

    def _compose(self, base: BaseFramework, overlay: Overlay | None, kind: UnitKind) -> Framework:
        if kind not in base.kinds:
            raise Invalid(f"framework {base.code} does not apply to {kind}")
        criteria = [c.model_copy(update={"source": base.code, "kinds": base.kinds}) for c in base.criteria]
        if overlay is not None:
            criteria += [c.model_copy(update={"source": overlay.code}) for c in overlay.criteria if kind in c.kinds]
        categories = tuple(c for c in self.incident_lists[base.incident_categories].categories if kind in c.kinds)
        return Framework(
            code=base.code + (f"+{overlay.code}" if overlay else ""),
            version=base.version + (f"+{overlay.version}" if overlay else ""),
            kind=kind,
            basis=base.basis + (f"; {overlay.basis}" if overlay and overlay.basis else ""),
            title=base.title,
            valid_from=max(base.valid_from, overlay.valid_from) if overlay else base.valid_from,
            valid_to=base.valid_to,
            province_code=overlay.province_code if overlay else None,
            overlay_code=overlay.code if overlay else None,
            criteria=tuple(criteria),
            incident_categories=categories,
        )

    def by_code(self, code: str, kind: UnitKind | None = None) -> Framework:
        """Resolve a framework code such as `TT124-2021/art6@2022-02-15+P79@2023-01-01`.

        A base that serves several kinds (art. 6: agencies and enterprises) composes the same criteria for each;
        `kind` picks which incident categories apply and defaults to the first kind of the base.
        """
        base_code, _, overlay_code = code.partition("+")
        base = next((b for b in self.bases if b.code == base_code), None)
        if base is None:
            raise NotFound(f"unknown framework {code}")
        overlay = None
        if overlay_code:
            overlay = next((o for o in self.overlays if o.code == overlay_code), None)
            if overlay is None:
                raise NotFound(f"unknown framework {code}")
        return self.compose(base, overlay, kind or base.kinds[0])

    def categories(self, list_code: str | None = None) -> tuple[IncidentCategory, ...]:
        """Incident categories of one list (default: the newest)."""
        if list_code is None:
            lst = max(self.incident_lists.values(), key=lambda x: x.valid_from)
        else:
            if list_code not in self.incident_lists:
                raise NotFound(f"unknown incident category list {list_code}")
            lst = self.incident_lists[list_code]
        return lst.categories

    def listing(self) -> list[dict[str, Any]]:
        """A JSON-ready summary of every national version and overlay version (for `GET /frameworks`)."""
        out: list[dict[str, Any]] = [
            {
                "code": b.code, "type": "national", "version": b.version, "kinds": list(b.kinds), "basis": b.basis,
                "title": b.title.model_dump(), "valid_from": b.valid_from.isoformat(),
                "valid_to": b.valid_to.isoformat() if b.valid_to else None,
                "criteria": [c.model_dump(mode="json", exclude={"source", "kinds"}) for c in b.criteria],
                "incident_categories": b.incident_categories,
            }
            for b in self.bases
        ]
        out.extend(
            {
                "code": o.code, "type": "overlay", "version": o.version, "province_code": o.province_code,
                "basis": o.basis, "valid_from": o.valid_from.isoformat(),
                "valid_to": o.valid_to.isoformat() if o.valid_to else None,
                "criteria": [c.model_dump(mode="json", exclude={"source"}) for c in o.criteria],
            }
            for o in self.overlays
        )
        return out


def _check_unique_codes(owner: str, criteria: Iterable[Criterion]) -> None:
    codes = [c.code for c in criteria]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise Invalid(f"{owner} defines criteria {dupes} more than once")


def _load_yaml(path: Path) -> Mapping[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, Mapping):
        raise Invalid(f"rule file {path.name} is not a mapping")
    return data


def load_frameworks(rules_dir: Path | None = None) -> FrameworkCatalogue:
    """Load `frameworks/*.yaml`, `overlays/*.yaml` and `incidents/*.yaml` under `rules_dir` (default: shipped)."""
    if rules_dir is None:
        return _default_catalogue()
    return _load(rules_dir)


@lru_cache(maxsize=1)
def _default_catalogue() -> FrameworkCatalogue:
    return _load(RULES_DIR)


def _load(rules_dir: Path) -> FrameworkCatalogue:
    def parse(model: type[_Frozen], path: Path) -> Any:
        try:
            return model.model_validate(_load_yaml(path))
        except ValidationError as exc:
            raise Invalid(f"rule file {path} is malformed: {exc}") from exc

    bases = [parse(BaseFramework, p) for p in sorted((rules_dir / "frameworks").glob("*.yaml"))]
    overlays = [parse(Overlay, p) for p in sorted((rules_dir / "overlays").glob("*.yaml"))]
    lists = [parse(IncidentCategoryList, p) for p in sorted((rules_dir / "incidents").glob("*.yaml"))]
    return FrameworkCatalogue(bases, overlays, lists)


def framework_in_force(kind: UnitKind, province_code: str | None, on: date) -> Framework:
    """The shipped framework for `kind` (plus the province overlay) in force on `on`; NotFound if none."""
    return _default_catalogue().in_force(kind, province_code, on)


def framework_by_code(code: str, kind: UnitKind | None = None) -> Framework:
    """The shipped framework with this code; NotFound if unknown."""
    return _default_catalogue().by_code(code, kind)
