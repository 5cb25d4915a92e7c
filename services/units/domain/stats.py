"""The figures `GET /stats` answers, and a plain in-memory reference computation of them.

The store computes the same figures in SQL for speed; `compute_stats` is the specification its tests compare
against on small data sets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from shared.areas import covers
from shared.contracts.events import UnitKind

from .activities import Activity, KindsCatalogue, load_activity_kinds
from .cycle import Cycle, reason_kind
from .incidents import Incident
from .units import Unit

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


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def unit_matches(unit: Unit, query: StatsQuery) -> bool:
    if query.kind is not None and unit.kind != query.kind:
        return False
    return query.area_code is None or area_covers(query.area_code, unit.area_code)


def area_covers(area: str, unit_area: str) -> bool:
    """Hierarchical match: "79" covers "79" and "79.26743"; "79.26743" covers only itself."""
    return covers(area, unit_area)


def summarise_denials(reason_lists: Iterable[Iterable[str]]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Count denied units per reason group, per unmet criterion and per disqualifying category."""
    groups: Counter[str] = Counter()
    criteria: Counter[str] = Counter()
    incidents: Counter[str] = Counter()
    for reasons in reason_lists:
        reasons = list(reasons)
        groups.update({reason_kind(r) for r in reasons})
        criteria.update({r.split(":", 1)[1] for r in reasons if reason_kind(r) == "criterion_not_met"})
        incidents.update({r.split(":", 1)[1] for r in reasons if reason_kind(r) == "disqualifying_incident"})
    return dict(groups), dict(criteria), dict(incidents)


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


def compute_stats(
    query: StatsQuery,
    *,
    units: Iterable[Unit],
    cycles: Iterable[Cycle],
    activities: Iterable[Activity],
    incidents: Iterable[Incident],
) -> Stats:
    """The figures for one year, area and kind, over plain objects. Activities and incidents count by year."""
    chosen = {u.unit_id: u for u in units if unit_matches(u, query)}
    stats = Stats(year=query.year, area_code=query.area_code, kind=query.kind)

    uf = stats.units
    uf.total = len(chosen)
    active = [u for u in chosen.values() if u.status == "active"]
    uf.active = len(active)
    uf.dissolved = uf.total - uf.active
    uf.in_scope = sum(1 for u in active if u.in_scope)
    uf.out_of_scope = uf.active - uf.in_scope
    uf.out_of_scope_by_rule = dict(Counter(u.out_of_scope_rule or "override" for u in active if not u.in_scope))
    uf.by_kind = dict(Counter(u.kind for u in chosen.values()))

    year_cycles = [c for c in cycles if c.year == query.year and c.unit_id in chosen]
    cf = stats.cycles
    cf.registered = len(year_cycles)
    cf.registered_late = sum(1 for c in year_cycles if c.late)
    cf.by_state = dict(Counter(c.state for c in year_cycles))
    recognised = [c for c in year_cycles if c.state == "recognised"]
    cf.recognised = len(recognised)
    cf.recognised_by_rating = dict(Counter((c.decision.rating if c.decision else None) or "unrated"
                                           for c in recognised))
    denied = [c for c in year_cycles if c.state == "not_recognised"]
    cf.not_recognised = len(denied)
    cf.not_recognised_by_reason, cf.not_recognised_by_criterion, cf.not_recognised_by_incident = summarise_denials(
        c.decision.reasons if c.decision else () for c in denied
    )
    cf.revoked = sum(1 for c in year_cycles if c.state == "revoked")
    cf.registration_rate = rate(cf.registered, uf.in_scope)
    cf.recognition_rate = rate(cf.recognised, uf.in_scope)

    mf = stats.models
    per_model = Counter(m for u in chosen.values() for m in set(u.models))
    mf.distinct_models = len(per_model)
    mf.sites = sum(per_model.values())
    mf.units_with_model = sum(1 for u in chosen.values() if u.models)

    by_kind = empty_by_kind()
    for a in activities:
        if a.year != query.year or a.unit_id not in chosen:
            continue
        totals = by_kind.setdefault(a.kind, {"count": 0})
        totals["count"] += 1
        for name, value in a.figures.items():
            totals[name] = totals.get(name, 0) + value
    summarise_activities(stats.activities, by_kind)

    inf = stats.incidents
    year_incidents = [i for i in incidents if i.year == query.year and i.unit_id in chosen and i.counts]
    inf.total = len(year_incidents)
    inf.disqualifying = sum(1 for i in year_incidents if i.disqualifying)
    inf.by_category = dict(Counter(i.category for i in year_incidents))
    inf.strikes_prevented = sum(1 for i in year_incidents if i.category in STRIKES_PREVENTED)
    inf.strikes_stabilised = sum(1 for i in year_incidents if i.category in STRIKES_STABILISED)
    return stats
