"""Movement activities a unit reports, of the kinds the versioned activity-kinds data lists, with their figures.

`rules/activities/<valid_from>.yaml` lists every kind (Vietnamese and English names) and the figures it carries
(whole numbers with a unit of measure, required or with a default). A report is checked against the version in
force on the day it is made: an unknown kind, a figure the kind does not carry or a missing required figure is
refused with the list of what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.contracts.events import ActivityKind, ActivityReported, ActivityReportedV2, EventData
from shared.contracts.instants import BoundedDate
from shared.errors import Invalid, NotFound

from .calendar import assessment_year_of, local_date

KINDS_DIR = Path(__file__).resolve().parent.parent / "rules" / "activities"
LEGACY_KINDS: frozenset[str] = frozenset(get_args(ActivityKind))
MAX_FIGURE = 10_000_000
CODE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Figure(_Frozen):
    """One figure an activity of a kind carries: a whole number of `unit` (person, item, plan…)."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)
    type: Literal["integer"] = "integer"
    unit: str = Field(min_length=1, max_length=40)
    required: bool = False
    # A number, or the code of another figure of the same kind whose value it takes (commitments = participants).
    default: int | str | None = None
    min: int = Field(default=0, ge=0)
    max: int = Field(default=MAX_FIGURE, ge=1, le=MAX_FIGURE)

    @model_validator(mode="after")
    def _default_or_required(self) -> Figure:
        if self.required and self.default is not None:
            raise ValueError("a required figure has no default")
        if not self.required and self.default is None:
            raise ValueError("a figure that is not required needs a default")
        if isinstance(self.default, int) and not self.min <= self.default <= self.max:
            raise ValueError(f"default {self.default} is outside {self.min}..{self.max}")
        return self


class ActivityKindSpec(_Frozen):
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)
    legacy: bool = False
    retired_on: date | None = None
    figures: dict[str, Figure] = Field(min_length=1)

    def public(self, code: str) -> dict[str, Any]:
        return {"code": code, "vi": self.vi, "en": self.en, "retired_on": self.retired_on,
                "figures": [{"code": f, **spec.model_dump(exclude={"default"}),
                             "default": spec.default} for f, spec in self.figures.items()]}


class ActivityKinds(_Frozen):
    """One version of the activity-kinds data."""

    version: str = Field(min_length=1, max_length=100)
    valid_from: date
    sources: tuple[str, ...] = ()
    kinds: dict[str, ActivityKindSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ActivityKinds:
        for code, spec in self.kinds.items():
            if not re.match(CODE_PATTERN, code):
                raise ValueError(f"kind {code!r}: a code is lower-case letters, digits and _")
            for name, figure in spec.figures.items():
                if not re.match(CODE_PATTERN, name) or name == "count":
                    raise ValueError(f"kind {code}: figure {name!r} is not a valid code (and 'count' is reserved)")
                if isinstance(figure.default, str) and (figure.default not in spec.figures
                                                        or not spec.figures[figure.default].required):
                    raise ValueError(f"kind {code}: figure {name} defaults to {figure.default!r}, which is not a "
                                     "required figure of the kind")
            if code in LEGACY_KINDS and "participants" not in spec.figures:
                raise ValueError(f"kind {code}: ActivityReported.v1 needs its participants figure")
        return self

    def kind(self, code: str) -> ActivityKindSpec:
        spec = self.kinds.get(code)
        if spec is None:
            raise Invalid(f"unknown activity kind {code!r}", code="unknown_activity_kind",
                          details={"field": "kind", "allowed": sorted(self.kinds)})
        return spec


class KindsCatalogue:
    """Every version of the activity-kinds data, oldest first."""

    def __init__(self, versions: list[ActivityKinds]):
        if not versions:
            raise Invalid("no activity-kinds file")
        self.versions = sorted(versions, key=lambda v: v.valid_from)
        dates = [v.valid_from for v in self.versions]
        if len(set(dates)) != len(dates):
            raise Invalid("two activity-kinds versions start on the same day")
        for older, newer in zip(self.versions, self.versions[1:], strict=False):
            gone = sorted(set(older.kinds) - set(newer.kinds))
            if gone:
                raise Invalid(f"activity-kinds {newer.version} drops kinds {gone}: retire them (retired_on) instead")

    def in_force(self, on: date) -> ActivityKinds:
        current = [v for v in self.versions if v.valid_from <= on]
        if not current:
            raise NotFound(f"no activity-kinds version is in force on {on.isoformat()}")
        return current[-1]

    def every_kind(self) -> list[str]:
        """Every kind any version lists, in the newest version's order (the reports show each, even at zero)."""
        out: dict[str, None] = {}
        for version in reversed(self.versions):
            out |= dict.fromkeys(version.kinds)
        return list(out)

    def figures_of(self, kind: str) -> list[str]:
        out: dict[str, None] = {}
        for version in reversed(self.versions):
            if kind in version.kinds:
                out |= dict.fromkeys(version.kinds[kind].figures)
        return list(out)


def load_activity_kinds(directory: Path | None = None) -> KindsCatalogue:
    """Load and check `rules/activities/*.yaml` (default: the shipped files); Invalid names the file and fault."""
    if directory is None:
        return _default_kinds()
    return _load(directory)


@lru_cache(maxsize=1)
def _default_kinds() -> KindsCatalogue:
    return _load(KINDS_DIR)


def _load(directory: Path) -> KindsCatalogue:
    versions: list[ActivityKinds] = []
    for path in sorted(directory.glob("*.yaml")):
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        try:
            versions.append(ActivityKinds.model_validate(data))
        except ValidationError as exc:
            raise Invalid(f"activity-kinds file {path} is malformed: {exc}") from exc
    return KindsCatalogue(versions)


class ActivityFields(BaseModel):
    """What `POST /units/{unit_id}/activities` accepts. `participants` and `commitments_signed` are the figures of
    those names, given at the top level as before the kinds became data."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    kind: str = Field(min_length=1, max_length=64, description="a code of GET /activity-kinds")
    held_on: BoundedDate = Field(description="the day it was held (2000-2199, not after today)")
    figures: dict[str, int] = Field(default_factory=dict, description="figure code → whole number, as the kind "
                                    "declares them (GET /activity-kinds)")
    participants: int | None = Field(default=None, ge=0, le=MAX_FIGURE)
    title: str | None = Field(default=None, max_length=500)
    # For a commitment drive: how many commitments were signed (defaults to the participants).
    commitments_signed: int | None = Field(default=None, ge=0, le=MAX_FIGURE)
    note: str | None = Field(default=None, max_length=2000)


class Activity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    activity_id: str = Field(min_length=1, max_length=200)
    unit_id: str = Field(min_length=1, max_length=200)
    kind: str
    held_on: date
    year: int
    figures: dict[str, int] = Field(default_factory=dict)
    # Kept as columns for the figures every report had before the kinds became data (0: the kind has none).
    participants: int = 0
    commitments_signed: int | None = None
    title: str | None = None
    note: str | None = None
    kinds_version: str | None = None
    reported_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Activity:
        return cls.model_validate(dict(data))


def check_figures(spec: ActivityKindSpec, kind: str, given: Mapping[str, int]) -> dict[str, int]:
    """The kind's figures from what was given: unknown ones and missing required ones refused, defaults filled."""
    unknown = sorted(set(given) - set(spec.figures))
    if unknown:
        raise Invalid(f"{kind} does not carry {', '.join(unknown)}", code="unknown_figure",
                      details={"field": f"figures.{unknown[0]}", "kind": kind, "allowed": list(spec.figures)})
    missing = [f for f, fig in spec.figures.items() if fig.required and f not in given]
    if missing:
        raise Invalid(f"{kind} needs {', '.join(missing)}", code="figures_missing",
                      details={"field": f"figures.{missing[0]}", "kind": kind, "missing": missing,
                               "required": [f for f, fig in spec.figures.items() if fig.required]})
    out: dict[str, int] = {}
    for name, figure in spec.figures.items():
        value = given.get(name)
        if value is None:
            value = given[figure.default] if isinstance(figure.default, str) else int(figure.default or 0)
        if not figure.min <= value <= figure.max:
            raise Invalid(f"{name} must be between {figure.min} and {figure.max}",
                          details={"field": f"figures.{name}", "kind": kind})
        out[name] = value
    return out


def record_activity(
    fields: ActivityFields, *, activity_id: str, unit_id: str, now: datetime, kinds: KindsCatalogue | None = None,
) -> tuple[Activity, list[EventData]]:
    """An activity held on or before today, counted in the assessment year of its date, checked against the
    activity kinds in force today. Emits ActivityReported.v2, and v1 as well for the four kinds v1 knows."""
    today = local_date(now)
    if fields.held_on > today:
        raise Invalid("an activity is reported after it is held", details={"field": "held_on"})
    version = (kinds or load_activity_kinds()).in_force(today)
    spec = version.kind(fields.kind)
    if spec.retired_on is not None and fields.held_on >= spec.retired_on:
        raise Invalid(f"{fields.kind} is no longer reported since {spec.retired_on.isoformat()}",
                      code="retired_activity_kind", details={"field": "kind", "allowed": [
                          k for k, s in version.kinds.items() if s.retired_on is None or s.retired_on > today]})
    given = dict(fields.figures)
    for name in ("participants", "commitments_signed"):
        value = getattr(fields, name)
        if value is None:
            continue
        if name in given and given[name] != value:
            raise Invalid(f"{name} is given twice with different values", details={"field": name})
        given[name] = value
    figures = check_figures(spec, fields.kind, given)
    year = assessment_year_of(fields.held_on)
    activity = Activity(
        activity_id=activity_id, unit_id=unit_id, kind=fields.kind, held_on=fields.held_on, year=year,
        figures=figures, participants=figures.get("participants", 0),
        commitments_signed=figures.get("commitments_signed"), title=fields.title, note=fields.note,
        kinds_version=version.version, reported_at=now,
    )
    events: list[EventData] = []
    if fields.kind in LEGACY_KINDS and spec.legacy:
        events.append(ActivityReported(activity_id=activity_id, unit_id=unit_id, kind=fields.kind,  # type: ignore[arg-type]
                                       held_on=fields.held_on, participants=activity.participants))
    events.append(ActivityReportedV2(activity_id=activity_id, unit_id=unit_id, kind=fields.kind,
                                     held_on=fields.held_on, year=year, figures=figures,
                                     kinds_version=version.version))
    return activity, events
