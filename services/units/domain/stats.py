"""The figures `GET /stats` answers: the query, the figures' shapes and the labels they count by.

The store computes them in SQL (`services.units.store.compute_stats`); the tests compare it with a plain
in-memory reference computation (`tests/units_reference_stats.py`).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.areas import covers
from shared.contracts.events import UnitKind

from .activities import KindsCatalogue, load_activity_kinds

# Incident categories that count as strikes prevented or stabilised (positive outcomes the reports list).
STRIKES_PREVENTED = frozenset({"strike_prevented"})
STRIKES_STABILISED = frozenset({"strike_stabilised"})


class StatsQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    year: int = Field(ge=2000, le=2200)
    # "PP" or "PP.CCCCC", hierarchical: a province's figures include its communes'.
    area_code: str | None = None
    kind: UnitKind | None = None


class UnitFigures(BaseModel):
    total: int = 0
    active: int = 0
    dissolved: int = 0
    # Scope is counted among active units: a dissolved unit is in nobody's movement any more, and the
    # registration and recognition rates are over the units in scope.
    in_scope: int = 0
    out_of_scope: int = 0
    out_of_scope_by_rule: dict[str, int] = Field(default_factory=dict)
    by_kind: dict[str, int] = Field(default_factory=dict)


class CycleFigures(BaseModel):
    registered: int = 0
    registered_late: int = 0
    by_state: dict[str, int] = Field(default_factory=dict)
    recognised: int = 0
    recognised_by_rating: dict[str, int] = Field(default_factory=dict, description="excellent|good|pass|unrated")
    not_recognised: int = 0
    # Each unit counts once per reason group: criterion_not_met, disqualifying_incident, appraisal, note...
    not_recognised_by_reason: dict[str, int] = Field(default_factory=dict)
    not_recognised_by_criterion: dict[str, int] = Field(default_factory=dict)
    not_recognised_by_incident: dict[str, int] = Field(default_factory=dict)
    revoked: int = 0
    # Share of in-scope units registered / recognised, in [0, 1]; None when nothing is in scope.
    registration_rate: float | None = None
    recognition_rate: float | None = None


class ModelFigures(BaseModel):
    distinct_models: int = 0
    sites: int = Field(default=0, description="units running at least one model, counted per model")
    units_with_model: int = 0


class ActivityFigures(BaseModel):
    propaganda_sessions: int = 0
    propaganda_participants: int = 0
    by_kind: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="kind → {count: reports, <figure>: total, …}: every kind of the "
                                          "activity-kinds data (GET /activity-kinds names them and their figures), "
                                          "zeros included")
    commitments_signed: int = 0


class IncidentFigures(BaseModel):
    total: int = 0
    disqualifying: int = 0
    by_category: dict[str, int] = Field(default_factory=dict)
    strikes_prevented: int = 0
    strikes_stabilised: int = 0


class Stats(BaseModel):
    """The body of `GET /stats?year=&area_code=&kind=`."""

    year: int
    area_code: str | None = None
    kind: UnitKind | None = None
    units: UnitFigures = Field(default_factory=UnitFigures)
    cycles: CycleFigures = Field(default_factory=CycleFigures)
    models: ModelFigures = Field(default_factory=ModelFigures)
    activities: ActivityFigures = Field(default_factory=ActivityFigures)
    incidents: IncidentFigures = Field(default_factory=IncidentFigures)
    computed_at: datetime | None = Field(
        default=None, description="when these figures were computed (UTC): a nation's or a province's figures are "
                                  "served from a shared snapshot at most ANTQ_UNITS_STATS_MAX_AGE seconds old, a "
                                  "commune's are computed for the request")


def area_covers(area: str, unit_area: str) -> bool:
    """Hierarchical match: "79" covers "79" and "79.26743"; "79.26743" covers only itself."""
    return covers(area, unit_area)


def empty_by_kind(kinds: KindsCatalogue | None = None) -> dict[str, dict[str, int]]:
    """Every kind of every activity-kinds version with its figures, at zero."""
    catalogue = kinds or load_activity_kinds()
    return {k: {"count": 0, **dict.fromkeys(catalogue.figures_of(k), 0)} for k in catalogue.every_kind()}


def summarise_activities(af: ActivityFigures, by_kind: dict[str, dict[str, int]]) -> None:
    """Fill the summary figures the reports have always had from the per-kind totals."""
    af.by_kind = by_kind
    af.propaganda_sessions = by_kind.get("propaganda_session", {}).get("count", 0)
    af.propaganda_participants = by_kind.get("propaganda_session", {}).get("participants", 0)
    af.commitments_signed = sum(figures.get("commitments_signed", 0) for figures in by_kind.values())
