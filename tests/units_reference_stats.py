"""A plain in-memory reference computation of the units report figures (`GET /stats`), for the tests only.

The units store computes the figures in SQL (`services.units.store.compute_stats`); these tests compare it, and
the domain's rules behind it, against this straightforward count over domain objects on small data sets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from services.units.domain import (
    STRIKES_PREVENTED,
    STRIKES_STABILISED,
    Activity,
    Cycle,
    Incident,
    Stats,
    StatsQuery,
    Unit,
    area_covers,
    reason_kind,
)
from services.units.domain.stats import empty_by_kind, summarise_activities


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def unit_matches(unit: Unit, query: StatsQuery) -> bool:
    if query.kind is not None and unit.kind != query.kind:
        return False
    return query.area_code is None or area_covers(query.area_code, unit.area_code)


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


def _unit_figures(stats: Stats, chosen: dict[str, Unit]) -> None:
    uf = stats.units
    uf.total = len(chosen)
    active = [u for u in chosen.values() if u.status == "active"]
    uf.active = len(active)
    uf.dissolved = uf.total - uf.active
    uf.in_scope = sum(1 for u in active if u.in_scope)
    uf.out_of_scope = uf.active - uf.in_scope
    uf.out_of_scope_by_rule = dict(Counter(u.out_of_scope_rule or "override" for u in active if not u.in_scope))
    uf.by_kind = dict(Counter(u.kind for u in chosen.values()))


def _cycle_figures(stats: Stats, year_cycles: list[Cycle]) -> None:
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
    cf.registration_rate = rate(cf.registered, stats.units.in_scope)
    cf.recognition_rate = rate(cf.recognised, stats.units.in_scope)


def _model_figures(stats: Stats, chosen: dict[str, Unit]) -> None:
    mf = stats.models
    per_model = Counter(m for u in chosen.values() for m in set(u.models))
    mf.distinct_models = len(per_model)
    mf.sites = sum(per_model.values())
    mf.units_with_model = sum(1 for u in chosen.values() if u.models)


def _activity_figures(stats: Stats, year_activities: list[Activity]) -> None:
    by_kind = empty_by_kind()
    for a in year_activities:
        totals = by_kind.setdefault(a.kind, {"count": 0})
        totals["count"] += 1
        for name, value in a.figures.items():
            totals[name] = totals.get(name, 0) + value
    summarise_activities(stats.activities, by_kind)


def _incident_figures(stats: Stats, year_incidents: list[Incident]) -> None:
    inf = stats.incidents
    inf.total = len(year_incidents)
    inf.disqualifying = sum(1 for i in year_incidents if i.disqualifying)
    inf.by_category = dict(Counter(i.category for i in year_incidents))
    inf.strikes_prevented = sum(1 for i in year_incidents if i.category in STRIKES_PREVENTED)
    inf.strikes_stabilised = sum(1 for i in year_incidents if i.category in STRIKES_STABILISED)


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
    _unit_figures(stats, chosen)
    _cycle_figures(stats, [c for c in cycles if c.year == query.year and c.unit_id in chosen])
    _model_figures(stats, chosen)
    _activity_figures(stats, [a for a in activities if a.year == query.year and a.unit_id in chosen])
    _incident_figures(stats, [i for i in incidents if i.year == query.year and i.unit_id in chosen and i.counts])
    return stats
