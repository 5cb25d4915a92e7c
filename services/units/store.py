"""The units service's tables and data-access functions (its own database).

Each aggregate is kept whole as JSON (`data`, what the pure domain reads back) next to the columns that lists,
filters and the statistics query; the columns are written from the same domain object in the same statement,
so they never disagree with the JSON.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.units.domain import (
    STRIKES_PREVENTED,
    STRIKES_STABILISED,
    Activity,
    Cycle,
    Evidence,
    Incident,
    Stats,
    StatsQuery,
    Unit,
    reason_kind,
    split_area_code,
)
from services.units.domain.stats import CycleFigures, UnitFigures, empty_by_kind, summarise_activities
from shared.audit import audit_table
from shared.db import BigId, UTCDateTime, chunks, insert_many, pairs_present

metadata = MetaData()

units = Table(
    "units",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("name", String(500), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("province_code", String(20), nullable=False),
    Column("commune_code", String(50), nullable=True),
    Column("area_code", String(80), nullable=False),
    Column("external_key", String(200), nullable=True, unique=True),
    Column("in_scope", Boolean, nullable=False),
    Column("out_of_scope_rule", String(100), nullable=True),
    Column("status", String(16), nullable=False),
    Column("managing_level", String(16), nullable=False),
    # Name, key and address folded to lower-case ASCII so that "truong thcs" finds "Trường THCS".
    Column("search", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Area filters are equality on province, then commune: exact on both backends whatever the collation.
    Index("ix_units_area_kind", "province_code", "commune_code", "kind"),
    Index("ix_units_name", "name", "unit_id"),
    # The workboard's keyset pages of a province or a commune in name order without sorting the area, and its
    # counts from the index alone (the filter columns ride along; the rows hold the whole JSON document).
    # On PostgreSQL it carries the search text too, so that a province's search filters in the index (migration 0008).
    Index("ix_units_province_name", "province_code", "name", "unit_id", "in_scope", "status", "kind",
          postgresql_include=["search"]),
    Index("ix_units_commune_name", "province_code", "commune_code", "name", "unit_id", "in_scope", "status", "kind"),
    Index("ix_units_kind_scope", "kind", "in_scope"),
    # Every column /stats counts: its counts are index-only scans (migration 0006).
    Index("ix_units_stats", "province_code", "commune_code", "kind", "status", "in_scope", "out_of_scope_rule"),
    # Registry search on PostgreSQL: trigrams of the folded text (migration 0006; SQLite reads the table).
    Index("ix_units_search_trgm", "search", postgresql_using="gin",
          postgresql_ops={"search": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
)

unit_models = Table(
    "unit_models",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("model", String(200), primary_key=True),
    Index("ix_unit_models_model", "model"),
)

unit_history = Table(
    "unit_history",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("unit_id", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("changed", JSON, nullable=False),
    Index("ix_unit_history_unit", "unit_id", "seq"),
)

cycles = Table(
    "cycles",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("state", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("framework_code", String(200), nullable=False),
    Column("late", Boolean, nullable=False),
    Column("rating", String(16), nullable=True),
    Column("criteria_met", Integer, nullable=True),
    Column("criteria_total", Integer, nullable=True),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    # The unit's area, copied from `units` in the same transaction (`set_cycle_areas`, migration 0008), so that
    # /stats counts an area's cycles in one index range instead of joining the area's units.
    Column("province_code", String(20), nullable=True),
    Column("commune_code", String(50), nullable=True),
    Index("ix_cycles_year_state", "year", "state"),
    Index("ix_cycles_stats", "year", "state", "late", "rating", "unit_id"),  # /stats, index-only (migration 0007)
    Index("ix_cycles_area_stats", "year", "province_code", "commune_code", "state", "late", "rating", "unit_id"),
)

# A denied cycle's reasons, one row each, so the report can count denials by reason in SQL.
cycle_reasons = Table(
    "cycle_reasons",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("reason", String(600), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("value", String(600), nullable=False),
    Index("ix_cycle_reasons_year_kind", "year", "kind"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", String(64), primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("year", Integer, nullable=False),
    Column("category", String(100), nullable=False),
    Column("disqualifying", Boolean, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("source", String(200), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("description", Text, nullable=True),
    Column("framework_code", String(200), nullable=False),
    # pending (an agency's report awaiting confirmation) | confirmed (counts) | withdrawn (recorded by mistake)
    Column("status", String(16), nullable=False, server_default="confirmed"),
    Column("confirmed_at", UTCDateTime, nullable=True),
    Column("confirmed_by", JSON, nullable=True),
    Column("withdrawn_at", UTCDateTime, nullable=True),
    Column("withdrawn_by", JSON, nullable=True),
    Column("withdrawal_reason", Text, nullable=True),
    Index("ix_incidents_unit_year", "unit_id", "year"),
    Index("ix_incidents_year_category", "year", "category"),
)

activities = Table(
    "activities",
    metadata,
    Column("activity_id", String(64), primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("year", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("held_on", Date, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("commitments_signed", Integer, nullable=True),
    Column("title", String(500), nullable=True),
    Column("note", Text, nullable=True),
    Column("reported_at", UTCDateTime, nullable=False),
    # The figures the kind carries (activity-kinds data) and the version that checked them; NULL before 0003.
    Column("figures", JSON, nullable=True),
    Column("kinds_version", String(100), nullable=True),
    Index("ix_activities_year_kind", "year", "kind"),
    Index("ix_activities_unit", "unit_id", "held_on"),
)

# One row per figure of an activity, so that the report sums every figure of every kind in SQL.
activity_figures = Table(
    "activity_figures",
    metadata,
    Column("activity_id", String(64), primary_key=True),
    Column("figure", String(64), primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("year", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("value", Integer, nullable=False),
    Index("ix_activity_figures_year_kind", "year", "kind"),
)

# Shared snapshots of /stats for the nation and the provinces (migration 0010): one row per (year, area, kind),
# '' for the nation and for every kind. Every replica reads and writes the same rows, so one computation serves all;
# `claimed_until` is the refresher's claim (one replica computes a key at a time), `read_at` when it was last served
# (the refresher keeps warm what is read).
stats_snapshots = Table(
    "stats_snapshots",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("area_code", String(80), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("figures", JSON, nullable=True),  # the Stats body; NULL while the first computation is claimed
    Column("computed_at", UTCDateTime, nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("read_at", UTCDateTime, nullable=True),
)

# History import: past years' results and awards already held, from the province's records (never decided in
# antq). One row per unit and year, and per award, recipient and year: a re-import finds them and adds nothing.
past_recognitions = Table(
    "past_recognitions",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("recognized", Boolean, nullable=False),
    Column("decision_no", String(200), nullable=False),
    Column("decided_on", Date, nullable=True),
    Column("decided_by_level", String(16), nullable=False),
    Column("rating", String(16), nullable=True),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("imported_by", String(200), nullable=False),
)

past_awards = Table(
    "past_awards",
    metadata,
    Column("award_type", String(64), primary_key=True),
    Column("recipient_kind", String(16), primary_key=True),
    Column("recipient_ref", String(200), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("recipient_name", String(500), nullable=True),
    Column("unit_id", String(64), nullable=True),
    Column("area_code", String(80), nullable=True),
    Column("decision_no", String(200), nullable=False),
    Column("decided_on", Date, nullable=True),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("imported_by", String(200), nullable=False),
    Index("ix_past_awards_unit", "unit_id"),
)

# Evidence documents of a dossier, per criterion; the bytes are in the blob store under `storage_key` (sha256).
evidence = Table(
    "evidence",
    metadata,
    Column("evidence_id", String(64), primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("year", Integer, nullable=False),
    Column("criterion", String(50), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_key", String(200), nullable=False),
    Column("uploaded_at", UTCDateTime, nullable=False),
    Column("uploaded_by", String(200), nullable=False),
    Index("ix_evidence_cycle", "unit_id", "year", "criterion"),
)

# Inbound messages carry the sending agency's own reference; the same (agency, type, reference) is processed
# once even when the agency publishes it again under a new event id.
inbound_refs = Table(
    "inbound_refs",
    metadata,
    Column("agency", String(100), primary_key=True),
    Column("message_type", String(100), primary_key=True),
    Column("reference", String(200), primary_key=True),
    Column("result_id", String(200), nullable=True),
    Column("processed_at", UTCDateTime, nullable=False),
)

# The hash-chained trail of every cycle command: who (subject, role, area), what, when (shared/audit.py).
audit_log = audit_table(metadata)
Index("ix_audit_log_target", audit_log.c.target)


class _SerializedJSON(TypeDecorator[str]):
    """Binds a JSON document already serialised by pydantic (`model_dump_json`) into a JSON column as it is.

    The aggregate is serialised in one pydantic pass, not `model_dump` and then `json.dumps` (docs/benchmarks.md);
    the column stays JSON (PostgreSQL checks the text), only the Python-side step is skipped.
    """

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


def _json_text(column: Any) -> Any:
    """The JSON column's text as stored, for `Model.model_validate_json` (the driver's `json.loads` skipped)."""
    return cast(column, Text)


_UNIT_JSON = _json_text(units.c.data)
_CYCLE_JSON = _json_text(cycles.c.data)


def _bind_serialized(table: Table, keys: Iterable[str]) -> dict[str, Any]:
    """VALUES for an executemany where `data` is bound as pre-serialised JSON and every other key as usual."""
    return {k: bindparam(k, type_=_SerializedJSON()) if k == "data" else bindparam(k, type_=table.c[k].type)
            for k in keys}


_PLAIN_WORD = re.compile(r"[0-9a-z./:+-]+")


def fold(text: str) -> str:
    """Lower-case ASCII for searching: diacritics removed, đ → d."""
    text = text.casefold().replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# --- units ---------------------------------------------------------------------------------------------------
def unit_row(unit: Unit) -> dict[str, Any]:
    """The row of a unit; `data` is its JSON text (bound as it is: `as_is={"data"}`, `_bind_serialized`)."""
    data = unit.model_dump_json()
    return {
        "unit_id": unit.unit_id, "name": unit.name, "kind": unit.kind, "province_code": unit.province_code,
        "commune_code": unit.commune_code, "area_code": unit.area_code, "external_key": unit.external_key,
        "in_scope": unit.in_scope, "out_of_scope_rule": unit.out_of_scope_rule, "status": unit.status,
        "managing_level": unit.managing_level,
        "search": fold(" ".join(filter(None, [unit.name, unit.external_key, unit.tax_code, unit.school_code,
                                              unit.address]))),
        "data": data, "created_at": unit.created_at, "updated_at": unit.updated_at,
    }


def _unit(data: Any) -> Unit:
    """A unit from its stored JSON text (or an already decoded document)."""
    return Unit.model_validate_json(data) if isinstance(data, str | bytes) else Unit.from_dict(data)


def _cycle(data: Any) -> Cycle:
    """A cycle from its stored JSON text (or an already decoded document)."""
    return Cycle.model_validate_json(data) if isinstance(data, str | bytes) else Cycle.from_dict(data)


def area_clause(area_code: str, province: Any = None, commune: Any = None) -> ColumnElement[bool]:
    """Hierarchical area filter on (province_code, commune_code) columns."""
    province = units.c.province_code if province is None else province
    commune = units.c.commune_code if commune is None else commune
    p, c = split_area_code(area_code)
    if c is None:
        return province == p  # type: ignore[no-any-return]
    return and_(province == p, commune == c)


async def get_unit(*, session: AsyncSession, unit_id: str) -> Unit | None:
    data = (await session.execute(select(_UNIT_JSON).where(units.c.unit_id == unit_id))).scalar_one_or_none()
    return _unit(data) if data is not None else None


async def get_units(*, session: AsyncSession, unit_ids: Sequence[str]) -> dict[str, Unit]:
    out: dict[str, Unit] = {}
    for chunk in chunks(list(dict.fromkeys(unit_ids))):
        for data in (await session.execute(select(_UNIT_JSON).where(units.c.unit_id.in_(chunk)))).scalars():
            unit = _unit(data)
            out[unit.unit_id] = unit
    return out


async def get_units_by_external_keys(*, session: AsyncSession, keys: Sequence[str]) -> dict[str, Unit]:
    out: dict[str, Unit] = {}
    for chunk in chunks(list(dict.fromkeys(keys))):
        for data in (await session.execute(select(_UNIT_JSON).where(units.c.external_key.in_(chunk)))).scalars():
            unit = _unit(data)
            assert unit.external_key is not None
            out[unit.external_key] = unit
    return out


async def insert_units(*, session: AsyncSession, new: Sequence[Unit]) -> None:
    if not new:
        return
    rows = [unit_row(u) for u in new]
    await insert_many(session, units, rows, as_is={"data"})
    await _set_models(session, [(u.unit_id, u.models) for u in new], replace=False)


async def update_units(*, session: AsyncSession, changed: Sequence[Unit]) -> None:
    if not changed:
        return
    rows = [{**unit_row(u), "b_unit_id": u.unit_id} for u in changed]
    for row in rows:
        row.pop("unit_id")
        row.pop("created_at")
    stmt = update(units).where(units.c.unit_id == bindparam("b_unit_id")).values(
        _bind_serialized(units, (k for k in rows[0] if k != "b_unit_id")))
    await session.execute(stmt.execution_options(synchronize_session=False), rows)
    await _set_models(session, [(u.unit_id, u.models) for u in changed], replace=True)


async def _set_models(session: AsyncSession, pairs: Sequence[tuple[str, Sequence[str]]], *, replace: bool) -> None:
    if replace:
        for chunk in chunks([uid for uid, _ in pairs]):
            await session.execute(delete(unit_models).where(unit_models.c.unit_id.in_(chunk)))
    rows = [{"unit_id": uid, "model": m} for uid, models in pairs for m in dict.fromkeys(models)]
    if rows:
        await insert_many(session, unit_models, rows)


async def add_history(*, session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    """Entries: {unit_id, at, actor, action, changed}."""
    if entries:
        await insert_many(session, unit_history, entries)


async def list_history(*, session: AsyncSession, unit_id: str, after: int | None, limit: int) -> list[dict[str, Any]]:
    stmt = select(unit_history).where(unit_history.c.unit_id == unit_id)
    if after is not None:
        stmt = stmt.where(unit_history.c.seq > after)
    rows = (await session.execute(stmt.order_by(unit_history.c.seq).limit(limit))).mappings().all()
    return [dict(r) for r in rows]


# How many entries of the name order a registry search walks before it looks the rest up through its words
# (`list_units`): across the country, where each entry is a read of the table (`ix_units_name` does not carry the
# search text), and within an area, where on PostgreSQL the walk reads `ix_units_province_name` alone (a province
# of 50,000 units in about 25 ms, cheaper than the table rows of its common words' matches); the largest second
# window. Module constants, so that a test can make them small.
SEARCH_WINDOW = 2000
SEARCH_WINDOW_IN_AREA = 100_000
SEARCH_WINDOW_NEXT = 10_000


async def list_units(
    *, session: AsyncSession, kind: str | None, area_codes: Sequence[str], in_scope: bool | None, q: str | None,
    status: str | None, unit_id: str | None, after: tuple[str, str] | None, limit: int,
) -> list[Unit]:
    """Units ordered by (name, unit_id); every area in `area_codes` must cover the unit (filter ∩ caller scope).

    With words, in bounded steps that give the same page as the plain ordered query: the first `SEARCH_WINDOW`
    entries of the name order after the cursor, kept when their words match; if they hold fewer than `limit`
    matches and there is more than the window, maybe a second window after it (when the first one's matches say
    the page lies within `SEARCH_WINDOW_NEXT` entries), then the rest after the last window's last key, found
    through the words (the trigram index on PostgreSQL) and sorted. Walking the name order alone reads every entry
    before the first match, half the country when the matches all sort late ("trường …" after every "công ty …");
    looking the words up alone reads every match of a common word. Each step is bounded: the windows, then the
    matches past them."""
    where: list[ColumnElement[bool]] = []
    if kind:
        where.append(units.c.kind == kind)
    where += [area_clause(area) for area in area_codes]
    if in_scope is not None:
        where.append(units.c.in_scope == in_scope)
    if status:
        where.append(units.c.status == status)
    if unit_id:
        where.append(units.c.unit_id == unit_id)
    patterns: list[Any] = []
    for word in fold(q or "").split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        # The words are written into the statement (quoted by the dialect), not bound: a prepared statement
        # run five times gets a generic plan that does not know them, and takes the trigram index for common
        # words (1 s at 500,000 units, against 1 ms for their own plan: docs/benchmarks.md).
        # Only words of plain characters are written in; anything else (a quote, a backslash, a control
        # character) stays a bound parameter, so no input ever reaches the SQL text it could break out of.
        plain = _PLAIN_WORD.fullmatch(word) is not None
        patterns.append(bindparam(None, f"%{escaped}%", type_=Text, literal_execute=plain))

    def words(search: Any) -> list[ColumnElement[bool]]:
        return [search.like(pattern, escape="\\") for pattern in patterns]

    def past(key: tuple[str, str] | None) -> list[ColumnElement[bool]]:
        if key is None:
            return []
        return [or_(units.c.name > key[0], and_(units.c.name == key[0], units.c.unit_id > key[1]))]

    order = (units.c.name, units.c.unit_id)
    keys: list[tuple[str, str]] = []
    if not patterns:
        keys = [(r[0], r[1]) for r in (await session.execute(
            select(*order).where(*where, *past(after)).order_by(*order).limit(limit))).all()]
    else:
        # The window: its entries in name order (`ix_units_name`, or a province's `ix_units_province_name`, which
        # carries the search text on PostgreSQL), kept when their words match, up to `limit` of them. When a full
        # window held some matches but not a page, a second one after it, as long as their density says the page
        # is near (at most `SEARCH_WINDOW_NEXT` entries); past the windows, the words' matches.
        size = SEARCH_WINDOW_IN_AREA if area_codes else SEARCH_WINDOW
        last: tuple[str, str] | None = after
        for _ in range(2):
            window = (select(*order, units.c.search).where(*where, *past(last)).order_by(*order).limit(size)
                      .subquery())
            found = [(r[0], r[1]) for r in (await session.execute(
                select(window.c.name, window.c.unit_id).where(*words(window.c.search))
                .order_by(window.c.name, window.c.unit_id).limit(limit - len(keys)))).all()]
            keys += found
            if len(keys) == limit:
                break
            # The window's last entry, if the window was full: its keys again, from the index alone.
            edge = (await session.execute(select(*order).where(*where, *past(last)).order_by(*order)
                                          .offset(size - 1).limit(1))).first()
            last = None if edge is None else (edge[0], edge[1])
            # Twice the entries the density says, and ten matches more: one match missing is often one too few.
            size = (2 * (limit - len(keys)) + 10) * size // len(found) if found else SEARCH_WINDOW_NEXT + 1
            if last is None or size > SEARCH_WINDOW_NEXT:
                break
        if last is not None and len(keys) < limit:
            # Past the windows: their matches first (a materialised set, so that the planner looks the words up
            # rather than walks the name order again), then the top of them in name order.
            rest = (select(*order).where(*where, *words(units.c.search), *past(last))
                    .cte("rest").prefix_with("MATERIALIZED"))
            keys += [(r[0], r[1]) for r in (await session.execute(
                select(rest).order_by(rest.c.name, rest.c.unit_id).limit(limit - len(keys)))).all()]
    if not keys:
        return []
    by_id = {uid: _unit(d) for uid, d in (await session.execute(
        select(units.c.unit_id, _UNIT_JSON).where(units.c.unit_id.in_([uid for _, uid in keys])))).all()}
    return [by_id[uid] for _, uid in keys if uid in by_id]


# --- cycles --------------------------------------------------------------------------------------------------
def cycle_row(cycle: Cycle, now: datetime) -> dict[str, Any]:
    return {
        "unit_id": cycle.unit_id, "year": cycle.year, "state": cycle.state, "kind": cycle.kind,
        "framework_code": cycle.framework_code, "late": cycle.late,
        "rating": cycle.decision.rating if cycle.decision else None,
        "criteria_met": cycle.criteria_met, "criteria_total": cycle.criteria_total,
        "registered_at": cycle.registered_at, "updated_at": now, "data": cycle.model_dump_json(),
    }


async def get_cycle(*, session: AsyncSession, unit_id: str, year: int) -> Cycle | None:
    data = (await session.execute(select(_CYCLE_JSON).where(cycles.c.unit_id == unit_id,
                                                               cycles.c.year == year))).scalar_one_or_none()
    return _cycle(data) if data is not None else None


async def get_cycles(*, session: AsyncSession, unit_ids: Sequence[str], year: int) -> dict[str, Cycle]:
    out: dict[str, Cycle] = {}
    for chunk in chunks(list(dict.fromkeys(unit_ids))):
        stmt = select(_CYCLE_JSON).where(cycles.c.year == year, cycles.c.unit_id.in_(chunk))
        for data in (await session.execute(stmt)).scalars():
            cycle = _cycle(data)
            out[cycle.unit_id] = cycle
    return out


async def list_unit_cycles(*, session: AsyncSession, unit_id: str) -> list[dict[str, Any]]:
    stmt = (select(cycles.c.year, cycles.c.state, cycles.c.framework_code, cycles.c.late, cycles.c.rating)
            .where(cycles.c.unit_id == unit_id).order_by(cycles.c.year))
    return [dict(r) for r in (await session.execute(stmt)).mappings()]


async def list_worklist(
    *, session: AsyncSession, year: int, area_codes: Sequence[str], states: Sequence[str] | None,
    unit_id: str | None, after: tuple[str, str] | None, limit: int,
) -> list[tuple[Cycle, str, str]]:
    """A year's cycles with their unit's name and area, ordered by (unit name, unit_id); every area in
    `area_codes` must cover the unit (filter ∩ caller scope); `states` None means any state."""
    stmt = (select(_CYCLE_JSON, units.c.name, units.c.area_code)
            .select_from(cycles.join(units, units.c.unit_id == cycles.c.unit_id))
            .where(cycles.c.year == year))
    for area in area_codes:
        stmt = stmt.where(area_clause(area))
    if states is not None:
        stmt = stmt.where(cycles.c.state.in_(list(states)))
    if unit_id is not None:
        stmt = stmt.where(cycles.c.unit_id == unit_id)
    if after is not None:
        name, uid = after
        stmt = stmt.where(or_(units.c.name > name, and_(units.c.name == name, units.c.unit_id > uid)))
    stmt = stmt.order_by(units.c.name, units.c.unit_id).limit(limit)
    return [(_cycle(data), name, area) for data, name, area in (await session.execute(stmt)).all()]


async def list_audit(*, session: AsyncSession, target_prefix: str | None, action: str | None, after: int | None,
                     limit: int) -> list[dict[str, Any]]:
    """Audit entries oldest first; `target_prefix` is a unit id (every year) or `unit_id/year`."""
    stmt = select(audit_log)
    if target_prefix is not None:
        stmt = stmt.where(or_(audit_log.c.target == target_prefix,
                              audit_log.c.target.startswith(target_prefix + "/", autoescape=True)))
    if action is not None:
        stmt = stmt.where(audit_log.c.action == action)
    if after is not None:
        stmt = stmt.where(audit_log.c.seq > after)
    return [dict(r) for r in (await session.execute(stmt.order_by(audit_log.c.seq).limit(limit))).mappings()]


async def recognised_years(*, session: AsyncSession, unit_ids: Sequence[str]) -> dict[str, list[int]]:
    """Per unit, the years whose recognition stands (a revoked year is in state `revoked`, not counted), the
    past years of the history import included."""
    out: dict[str, list[int]] = defaultdict(list)
    for chunk in chunks(list(dict.fromkeys(unit_ids))):
        stmt = select(cycles.c.unit_id, cycles.c.year).where(cycles.c.unit_id.in_(chunk),
                                                             cycles.c.state == "recognised")
        past = select(past_recognitions.c.unit_id, past_recognitions.c.year).where(
            past_recognitions.c.unit_id.in_(chunk), past_recognitions.c.recognized.is_(True))
        for uid, year in (await session.execute(stmt.union(past))).all():
            out[uid].append(year)
    for years in out.values():
        years.sort()
    return out


# --- history import ----------------------------------------------------------------------------------------------
async def cycle_states(*, session: AsyncSession, pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The state of the cycles antq holds for these (unit_id, year) pairs."""
    out: dict[tuple[str, int], str] = {}
    by_year: dict[int, list[str]] = defaultdict(list)
    for uid, year in dict.fromkeys(pairs):
        by_year[year].append(uid)
    for year, uids in sorted(by_year.items()):
        for chunk in chunks(uids):
            rows = await session.execute(select(cycles.c.unit_id, cycles.c.state).where(
                cycles.c.year == year, cycles.c.unit_id.in_(chunk)))
            out |= {(uid, year): state for uid, state in rows.all()}
    return out


async def past_recognitions_of(*, session: AsyncSession,
                               pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The imported results of these (unit_id, year) pairs."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for chunk in chunks(sorted({uid for uid, _ in pairs})):
        rows = await session.execute(select(past_recognitions).where(past_recognitions.c.unit_id.in_(chunk)))
        out |= {(r["unit_id"], r["year"]): dict(r) for r in rows.mappings()}
    wanted = set(pairs)
    return {k: v for k, v in out.items() if k in wanted}


async def past_awards_of(*, session: AsyncSession, refs: Sequence[str]) -> dict[tuple[str, str, str, int], dict[str,
                                                                                                                Any]]:
    """The imported awards of these recipients, by (award_type, recipient_kind, recipient_ref, year)."""
    out: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    t = past_awards
    for chunk in chunks(sorted(set(refs))):
        rows = await session.execute(select(t).where(t.c.recipient_ref.in_(chunk)))
        out |= {(r["award_type"], r["recipient_kind"], r["recipient_ref"], r["year"]): dict(r)
                for r in rows.mappings()}
    return out


async def insert_past(*, session: AsyncSession, recognitions: Sequence[dict[str, Any]],
                      awards: Sequence[dict[str, Any]]) -> None:
    if recognitions:
        await insert_many(session, past_recognitions, list(recognitions))
    if awards:
        await insert_many(session, past_awards, list(awards))


async def list_past(*, session: AsyncSession, unit_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A unit's imported results and awards (its people's included), oldest first."""
    recs = await session.execute(select(past_recognitions).where(past_recognitions.c.unit_id == unit_id)
                                 .order_by(past_recognitions.c.year))
    held = await session.execute(select(past_awards).where(past_awards.c.unit_id == unit_id)
                                 .order_by(past_awards.c.year, past_awards.c.award_type, past_awards.c.recipient_ref))
    return [dict(r) for r in recs.mappings()], [dict(r) for r in held.mappings()]


async def insert_cycles(*, session: AsyncSession, new: Sequence[Cycle], now: datetime) -> None:
    if new:
        rows = [cycle_row(c, now) for c in new]
        await insert_many(session, cycles, rows, as_is={"data"})


async def update_cycles(*, session: AsyncSession, changed: Sequence[Cycle], now: datetime) -> None:
    if not changed:
        return
    rows = []
    for c in changed:
        row = cycle_row(c, now)
        row["b_unit_id"], row["b_year"] = row.pop("unit_id"), row.pop("year")
        rows.append(row)
    stmt = update(cycles).where(cycles.c.unit_id == bindparam("b_unit_id"), cycles.c.year == bindparam("b_year"))
    stmt = stmt.values(_bind_serialized(cycles, (k for k in rows[0] if not k.startswith("b_"))))
    await session.execute(stmt.execution_options(synchronize_session=False), rows)
    denied = [c for c in changed if c.state == "not_recognised" and c.decision is not None]
    reasons = [{"unit_id": c.unit_id, "year": c.year, "reason": r[:600], "kind": reason_kind(r)[:64],
                "value": r.split(":", 1)[1][:600] if ":" in r else ""}
               for c in denied for r in dict.fromkeys(c.decision.reasons if c.decision else ())]
    # A denied cycle is saved again when a later incident is noted: replace its reasons, never duplicate them.
    for c in denied:
        await session.execute(delete(cycle_reasons).where(cycle_reasons.c.unit_id == c.unit_id,
                                                          cycle_reasons.c.year == c.year))
    if reasons:
        await insert_many(session, cycle_reasons, reasons)


# --- incidents and activities ---------------------------------------------------------------------------------
def incident_row(incident: Incident) -> dict[str, Any]:
    return {k: v for k, v in incident.model_dump().items()}


async def insert_incidents(*, session: AsyncSession, new: Sequence[Incident]) -> None:
    if new:
        await insert_many(session, incidents, [incident_row(i) for i in new])


async def get_incident(*, session: AsyncSession, incident_id: str) -> Incident | None:
    row = (await session.execute(select(incidents).where(incidents.c.incident_id == incident_id))).mappings().first()
    return Incident.model_validate(dict(row)) if row else None


async def update_incident(*, session: AsyncSession, incident: Incident, expected_status: str) -> bool:
    """Save a confirmation or withdrawal; False when another transaction changed the incident's status first."""
    row = incident_row(incident)
    result = await session.execute(update(incidents).where(
        incidents.c.incident_id == incident.incident_id, incidents.c.status == expected_status).values(
        {k: row[k] for k in ("status", "confirmed_at", "confirmed_by", "withdrawn_at", "withdrawn_by",
                             "withdrawal_reason")}))
    return bool(getattr(result, "rowcount", 0))


async def list_incidents(*, session: AsyncSession, unit_id: str, year: int | None, after: tuple[datetime, str] | None,
                         limit: int, status: str | None = None) -> list[Incident]:
    stmt = select(incidents).where(incidents.c.unit_id == unit_id)
    if year is not None:
        stmt = stmt.where(incidents.c.year == year)
    if status is not None:
        stmt = stmt.where(incidents.c.status == status)
    if after is not None:
        at, iid = after
        stmt = stmt.where(or_(incidents.c.occurred_at > at,
                              and_(incidents.c.occurred_at == at, incidents.c.incident_id > iid)))
    stmt = stmt.order_by(incidents.c.occurred_at, incidents.c.incident_id).limit(limit)
    return [Incident.model_validate(dict(r)) for r in (await session.execute(stmt)).mappings()]


async def year_incidents(*, session: AsyncSession, unit_ids: Sequence[str], year: int) -> dict[str, list[Incident]]:
    """The incidents that count (confirmed) for each unit's `year`."""
    out: dict[str, list[Incident]] = defaultdict(list)
    for chunk in chunks(list(dict.fromkeys(unit_ids))):
        stmt = select(incidents).where(incidents.c.year == year, incidents.c.unit_id.in_(chunk),
                                       incidents.c.status == "confirmed").order_by(
            incidents.c.occurred_at)
        for r in (await session.execute(stmt)).mappings():
            out[r["unit_id"]].append(Incident.model_validate(dict(r)))
    return out


async def insert_activity(*, session: AsyncSession, activity: Activity) -> None:
    await session.execute(insert(activities).values(**activity.model_dump()))
    rows = [{"activity_id": activity.activity_id, "figure": name, "unit_id": activity.unit_id, "year": activity.year,
             "kind": activity.kind, "value": value} for name, value in activity.figures.items()]
    if rows:
        await insert_many(session, activity_figures, rows)


def _activity(row: Any) -> Activity:
    """An activity from its row; one reported before the kinds became data has its two figures as columns."""
    data = dict(row)
    if data.get("figures") is None:
        data["figures"] = {"participants": data["participants"]} | (
            {"commitments_signed": data["commitments_signed"]} if data.get("commitments_signed") is not None else {})
    return Activity.model_validate(data)


async def list_activities(*, session: AsyncSession, unit_id: str, year: int | None, after: tuple[date, str] | None,
                          limit: int) -> list[Activity]:
    stmt = select(activities).where(activities.c.unit_id == unit_id)
    if year is not None:
        stmt = stmt.where(activities.c.year == year)
    if after is not None:
        held, aid = after
        stmt = stmt.where(or_(activities.c.held_on > held,
                              and_(activities.c.held_on == held, activities.c.activity_id > aid)))
    stmt = stmt.order_by(activities.c.held_on, activities.c.activity_id).limit(limit)
    return [_activity(r) for r in (await session.execute(stmt)).mappings()]


# --- inbound references ----------------------------------------------------------------------------------------
async def insert_evidence(*, session: AsyncSession, item: Evidence) -> None:
    await session.execute(insert(evidence).values(**item.model_dump()))


async def list_evidence(*, session: AsyncSession, unit_id: str, year: int,
                        criterion: str | None = None) -> list[Evidence]:
    stmt = select(evidence).where(evidence.c.unit_id == unit_id, evidence.c.year == year)
    if criterion is not None:
        stmt = stmt.where(evidence.c.criterion == criterion)
    rows = (await session.execute(stmt.order_by(evidence.c.criterion, evidence.c.uploaded_at,
                                                evidence.c.evidence_id))).mappings()
    return [Evidence.model_validate(dict(r)) for r in rows]


async def get_evidence(*, session: AsyncSession, unit_id: str, year: int, evidence_id: str) -> Evidence | None:
    row = (await session.execute(select(evidence).where(
        evidence.c.evidence_id == evidence_id, evidence.c.unit_id == unit_id,
        evidence.c.year == year))).mappings().one_or_none()
    return Evidence.model_validate(dict(row)) if row is not None else None


async def inbound_seen_many(*, session: AsyncSession, message_type: str,
                            refs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (agency, reference) pairs of a message type were processed before."""
    return await pairs_present(session, inbound_refs.c.agency, inbound_refs.c.reference, refs,
                               inbound_refs.c.message_type == message_type)


async def remember_inbound_many(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await insert_many(session, inbound_refs, rows)


# --- statistics (SQL aggregates; `domain.compute_stats` is the reference they are tested against) ---------------
async def set_cycle_areas(*, session: AsyncSession, unit_ids: Sequence[str]) -> None:
    """Copy each unit's area onto its cycles (every year), in the caller's transaction: after cycles are
    created and after a unit is saved (its area may have moved), so that /stats counts cycles by area."""
    for chunk in chunks(list(dict.fromkeys(unit_ids))):
        of_unit = units.c.unit_id == cycles.c.unit_id
        await session.execute(
            update(cycles).where(cycles.c.unit_id.in_(chunk))
            .values(province_code=select(units.c.province_code).where(of_unit).scalar_subquery(),
                    commune_code=select(units.c.commune_code).where(of_unit).scalar_subquery())
            .execution_options(synchronize_session=False))


async def _unit_figures(session: AsyncSession, stats: Stats, unit_filter: list[ColumnElement[bool]]) -> UnitFigures:
    # The units: one pass over the area's range of `ix_units_stats` (index-only), every figure summed from it.
    uf = stats.units
    units_by_kind: dict[str, int] = {}
    for kind, status, in_scope, rule, n in (await session.execute(
            select(units.c.kind, units.c.status, units.c.in_scope, units.c.out_of_scope_rule, func.count())
            .where(*unit_filter)
            .group_by(units.c.kind, units.c.status, units.c.in_scope, units.c.out_of_scope_rule))).all():
        n = int(n)
        uf.total += n
        units_by_kind[kind] = units_by_kind.get(kind, 0) + n
        if status != "active":
            continue
        uf.active += n
        if in_scope:
            uf.in_scope += n
        else:
            key = rule if rule is not None else "override"
            uf.out_of_scope_by_rule[key] = uf.out_of_scope_by_rule.get(key, 0) + n
    uf.by_kind = units_by_kind
    uf.dissolved = uf.total - uf.active
    uf.out_of_scope = uf.active - uf.in_scope

    return uf


async def _cycle_figures(session: AsyncSession, stats: Stats, query: StatsQuery,
                         ) -> tuple[CycleFigures, list[ColumnElement[bool]]]:
    # The year's cycles: one pass over the area's range of `ix_cycles_area_stats` (the cycles carry their unit's
    # area); a kind is the units' current kind, as for the units above.
    cf = stats.cycles
    in_year = [cycles.c.year == query.year]
    if query.area_code:
        in_year.append(area_clause(query.area_code, cycles.c.province_code, cycles.c.commune_code))
    if query.kind:
        in_year.append(cycles.c.unit_id.in_(select(units.c.unit_id).where(units.c.kind == query.kind)))
    late_total = 0
    for state, late, rating, n in (await session.execute(
            select(cycles.c.state, cycles.c.late, cycles.c.rating, func.count()).where(*in_year)
            .group_by(cycles.c.state, cycles.c.late, cycles.c.rating))).all():
        n = int(n)
        cf.by_state[state] = cf.by_state.get(state, 0) + n
        late_total += n if late else 0
        if state == "recognised":
            key = rating if rating is not None else "unrated"
            cf.recognised_by_rating[key] = cf.recognised_by_rating.get(key, 0) + n
    cf.registered = sum(cf.by_state.values())
    cf.registered_late = late_total
    cf.recognised = cf.by_state.get("recognised", 0)
    cf.not_recognised = cf.by_state.get("not_recognised", 0)
    cf.revoked = cf.by_state.get("revoked", 0)
    return cf, in_year


async def compute_stats(*, session: AsyncSession, query: StatsQuery) -> Stats:
    stats = Stats(year=query.year, area_code=query.area_code, kind=query.kind)
    unit_filter: list[ColumnElement[bool]] = []
    if query.area_code:
        unit_filter.append(area_clause(query.area_code))
    if query.kind:
        unit_filter.append(units.c.kind == query.kind)
    chosen = select(units.c.unit_id).where(*unit_filter)

    uf = await _unit_figures(session, stats, unit_filter)

    cf, in_year = await _cycle_figures(session, stats, query)
    # Reasons are those of the year's denied cycles (`not_recognised` is final): an area's are found from its
    # denied cycles (a range of `ix_cycles_area_stats`), not by joining every reason to the area's units.
    reasons_where = [cycle_reasons.c.year == query.year]
    if unit_filter:
        reasons_where.append(cycle_reasons.c.unit_id.in_(
            select(cycles.c.unit_id).where(*in_year, cycles.c.state == "not_recognised")))
    cf.not_recognised_by_reason = {k: int(n) for k, n in (await session.execute(
        select(cycle_reasons.c.kind, func.count(func.distinct(cycle_reasons.c.unit_id)))
        .where(*reasons_where).group_by(cycle_reasons.c.kind))).all()}
    # The unmet criteria and the disqualifying categories: one pass over those two kinds' reasons, not one each.
    by_value: dict[str, dict[str, int]] = {"criterion_not_met": {}, "disqualifying_incident": {}}
    for kind, value, n in (await session.execute(
            select(cycle_reasons.c.kind, cycle_reasons.c.value, func.count(func.distinct(cycle_reasons.c.unit_id)))
            .where(*reasons_where, cycle_reasons.c.kind.in_(list(by_value)))
            .group_by(cycle_reasons.c.kind, cycle_reasons.c.value))).all():
        by_value[kind][value] = int(n)
    cf.not_recognised_by_criterion = by_value["criterion_not_met"]
    cf.not_recognised_by_incident = by_value["disqualifying_incident"]
    cf.registration_rate = _rate(cf.registered, uf.in_scope)
    cf.recognition_rate = _rate(cf.recognised, uf.in_scope)

    mf = stats.models
    if unit_filter:  # an area's or a kind's few rows, found by one join: counted in one statement
        row = (await session.execute(select(
            func.count(func.distinct(unit_models.c.model)), func.count(),
            func.count(func.distinct(unit_models.c.unit_id))).where(unit_models.c.unit_id.in_(chosen)))).one()
        mf.distinct_models, mf.sites, mf.units_with_model = int(row[0]), int(row[1]), int(row[2])
    else:  # the nation: grouped in index order, not `count(DISTINCT ...)`, which sorts every row (spilling to disk)
        per_unit = select(unit_models.c.unit_id, func.count().label("n")).group_by(unit_models.c.unit_id).subquery()
        row = (await session.execute(select(func.count(), func.coalesce(func.sum(per_unit.c.n), 0)))).one()
        mf.units_with_model, mf.sites = int(row[0]), int(row[1])
        mf.distinct_models = int((await session.execute(select(func.count()).select_from(
            select(unit_models.c.model).group_by(unit_models.c.model).subquery()))).scalar_one())

    act_where = [activities.c.year == query.year]
    fig_where = [activity_figures.c.year == query.year]
    if unit_filter:
        act_where.append(activities.c.unit_id.in_(chosen))
        fig_where.append(activity_figures.c.unit_id.in_(chosen))
    by_kind = empty_by_kind()
    for kind, n in (await session.execute(
            select(activities.c.kind, func.count()).where(*act_where).group_by(activities.c.kind))).all():
        by_kind.setdefault(kind, {})["count"] = int(n)
    for kind, figure, total in (await session.execute(
            select(activity_figures.c.kind, activity_figures.c.figure, func.sum(activity_figures.c.value))
            .where(*fig_where).group_by(activity_figures.c.kind, activity_figures.c.figure))).all():
        by_kind.setdefault(kind, {"count": 0})[figure] = int(total or 0)
    summarise_activities(stats.activities, by_kind)

    inf = stats.incidents
    inc_where = [incidents.c.year == query.year, incidents.c.status == "confirmed"]
    if unit_filter:
        inc_where.append(incidents.c.unit_id.in_(chosen))
    by_cat = (await session.execute(
        select(incidents.c.category, func.count(),
               func.coalesce(func.sum(case((incidents.c.disqualifying, 1), else_=0)), 0))
        .where(*inc_where).group_by(incidents.c.category))).all()
    inf.by_category = {c: int(n) for c, n, _ in by_cat}
    inf.total = sum(inf.by_category.values())
    inf.disqualifying = sum(int(d) for _, _, d in by_cat)
    inf.strikes_prevented = sum(n for c, n in inf.by_category.items() if c in STRIKES_PREVENTED)
    inf.strikes_stabilised = sum(n for c, n in inf.by_category.items() if c in STRIKES_STABILISED)
    return stats


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- snapshots of the statistics ---------------------------------------------------------------------------------
def _snapshot_key(query: StatsQuery) -> dict[str, Any]:
    return {"year": query.year, "area_code": query.area_code or "", "kind": query.kind or ""}


def _of_snapshot(query: StatsQuery) -> list[ColumnElement[bool]]:
    return [getattr(stats_snapshots.c, k) == v for k, v in _snapshot_key(query).items()]


def _dialect_insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(stats_snapshots)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert(stats_snapshots)


async def read_stats_snapshot(*, session: AsyncSession,
                              query: StatsQuery) -> tuple[Stats | None, datetime | None] | None:
    """The stored figures of a query and when they were last served; None when no row is stored; the figures are
    None while the first computation of the key is under way elsewhere."""
    row = (await session.execute(select(stats_snapshots.c.figures, stats_snapshots.c.computed_at,
                                        stats_snapshots.c.read_at).where(*_of_snapshot(query)))).one_or_none()
    if row is None:
        return None
    figures, computed_at, read_at = row
    if figures is None or computed_at is None:
        return None, read_at
    return Stats.model_validate({**figures, "computed_at": computed_at}), read_at


async def save_stats_snapshot(*, session: AsyncSession, stats: Stats, read_at: datetime | None = None,
                              release: bool = False) -> None:
    """Store computed figures (`stats.computed_at` set) unless newer ones are stored already; `release` ends the
    caller's claim on the key, `read_at` notes that they were served."""
    assert stats.computed_at is not None
    query = StatsQuery(year=stats.year, area_code=stats.area_code, kind=stats.kind)
    figures = stats.model_dump(mode="json", exclude={"computed_at"})
    stmt = _dialect_insert(session).values(**_snapshot_key(query), figures=figures, computed_at=stats.computed_at,
                                           read_at=read_at)
    stored = stats_snapshots.c.computed_at
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["year", "area_code", "kind"],
        set_={"figures": stmt.excluded.figures, "computed_at": stmt.excluded.computed_at},
        where=or_(stored.is_(None), stored < stmt.excluded.computed_at)))
    if release:
        await release_stats_snapshot(session=session, query=query)
    if read_at is not None:
        await touch_stats_snapshot(session=session, query=query, at=read_at, before=read_at)


async def release_stats_snapshot(*, session: AsyncSession, query: StatsQuery) -> None:
    await session.execute(update(stats_snapshots).where(*_of_snapshot(query)).values(claimed_until=None))


async def touch_stats_snapshot(*, session: AsyncSession, query: StatsQuery, at: datetime, before: datetime) -> None:
    """Note that the key was served at `at`, unless that was noted at `before` or later (one write per while)."""
    read_at = stats_snapshots.c.read_at
    await session.execute(update(stats_snapshots).where(*_of_snapshot(query), or_(read_at.is_(None), read_at < before))
                          .values(read_at=at))


async def claim_stats_snapshot(*, session: AsyncSession, query: StatsQuery, now: datetime, computed_before: datetime,
                               until: datetime) -> bool:
    """Claim the computation of a key until `until` when its figures are missing or were computed before
    `computed_before` and nobody holds an unexpired claim: one conditional statement, so that of several replicas
    asking at once exactly one gets it (a new key: an insert that does nothing when the row exists)."""
    stmt = (_dialect_insert(session).values(**_snapshot_key(query), claimed_until=until).on_conflict_do_nothing()
            .returning(stats_snapshots.c.year))
    if (await session.execute(stmt)).first() is not None:
        return True
    computed_at, claimed = stats_snapshots.c.computed_at, stats_snapshots.c.claimed_until
    result = await session.execute(
        update(stats_snapshots)
        .where(*_of_snapshot(query), or_(computed_at.is_(None), computed_at < computed_before),
               or_(claimed.is_(None), claimed <= now))
        .values(claimed_until=until).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def stats_snapshots_read_since(*, session: AsyncSession, year: int, since: datetime) -> list[StatsQuery]:
    """The keys of a year served at `since` or later."""
    rows = (await session.execute(
        select(stats_snapshots.c.area_code, stats_snapshots.c.kind)
        .where(stats_snapshots.c.year == year, stats_snapshots.c.read_at >= since)
        .order_by(stats_snapshots.c.area_code, stats_snapshots.c.kind))).all()
    return [StatsQuery(year=year, area_code=area or None, kind=kind or None) for area, kind in rows]


# --- gauges ----------------------------------------------------------------------------------------------------
async def unit_counts(*, session: AsyncSession) -> list[tuple[str, bool, int]]:
    stmt = select(units.c.kind, units.c.in_scope, func.count()).where(units.c.status == "active").group_by(
        units.c.kind, units.c.in_scope)
    return [(k, bool(s), int(n)) for k, s, n in (await session.execute(stmt)).all()]


async def cycle_counts(*, session: AsyncSession) -> list[tuple[int, str, int]]:
    stmt = select(cycles.c.year, cycles.c.state, func.count()).group_by(cycles.c.year, cycles.c.state)
    return [(int(y), s, int(n)) for y, s, n in (await session.execute(stmt)).all()]


# --- the year's workboard ---------------------------------------------------------------------------------------

def _disqualified_units(year: int) -> Any:
    return select(incidents.c.unit_id).where(incidents.c.year == year, incidents.c.disqualifying.is_(True))


def _workboard_filter(stmt: Any, *, year: int, show: str, states_for: Mapping[str, Sequence[str]]) -> Any:
    if show == "not_registered":
        return stmt.where(cycles.c.unit_id.is_(None))
    if show in ("awaiting_appraisal", "awaiting_decision"):
        return stmt.where(cycles.c.state.in_(list(states_for[show])))
    if show == "disqualified":
        return stmt.where(units.c.unit_id.in_(_disqualified_units(year)))
    return stmt


def _workboard_from(year: int) -> Any:
    return units.outerjoin(cycles, and_(cycles.c.unit_id == units.c.unit_id, cycles.c.year == year))


async def list_workboard(
    *, session: AsyncSession, year: int, area_codes: Sequence[str], show: str,
    states_for: Mapping[str, Sequence[str]], kind: str | None, q: str | None, after: tuple[str, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Every active in-scope unit of the areas (filter ∩ caller scope) with its cycle of `year` if any, ordered by
    (unit name, unit_id) and paged by keyset; `disqualified` tells whether a disqualifying incident stands for the
    year. `states_for` maps the `awaiting_*` filters to cycle states (the domain's table)."""
    disqualified = units.c.unit_id.in_(_disqualified_units(year))
    stmt = (select(units.c.unit_id, units.c.name, units.c.kind, units.c.area_code, units.c.managing_level,
                   cycles.c.state, cycles.c.late, cycles.c.rating, cycles.c.criteria_met, cycles.c.criteria_total,
                   cycles.c.updated_at, disqualified.label("disqualified"))
            .select_from(_workboard_from(year))
            .where(units.c.in_scope.is_(True), units.c.status == "active"))
    for area in area_codes:
        stmt = stmt.where(area_clause(area))
    if kind:
        stmt = stmt.where(units.c.kind == kind)
    if q:
        for word in fold(q).split():
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(units.c.search.like(f"%{escaped}%", escape="\\"))
    stmt = _workboard_filter(stmt, year=year, show=show, states_for=states_for)
    if after is not None:
        name, uid = after
        stmt = stmt.where(or_(units.c.name > name, and_(units.c.name == name, units.c.unit_id > uid)))
    stmt = stmt.order_by(units.c.name, units.c.unit_id).limit(limit)
    return [dict(r) for r in (await session.execute(stmt)).mappings()]


async def workboard_counts(*, session: AsyncSession, year: int, area_codes: Sequence[str],
                           states_for: Mapping[str, Sequence[str]], kind: str | None) -> dict[str, int]:
    """How many active in-scope units of the areas each workboard filter holds: the units counted once, the
    year's cycles grouped by state (from the cycles' year index), and the units with a disqualifying incident;
    "not registered" is the units without a cycle."""
    def scoped(stmt: Any) -> Any:
        stmt = stmt.where(units.c.in_scope.is_(True), units.c.status == "active")
        for area in area_codes:
            stmt = stmt.where(area_clause(area))
        return stmt.where(units.c.kind == kind) if kind else stmt

    total = int((await session.execute(scoped(select(func.count()).select_from(units)))).scalar_one())
    by_state = {state: int(n) for state, n in (await session.execute(scoped(
        select(cycles.c.state, func.count()).select_from(cycles.join(units, units.c.unit_id == cycles.c.unit_id))
        .where(cycles.c.year == year).group_by(cycles.c.state)))).all()}
    disqualified = int((await session.execute(scoped(
        select(func.count(func.distinct(incidents.c.unit_id)))
        .select_from(incidents.join(units, units.c.unit_id == incidents.c.unit_id))
        .where(incidents.c.year == year, incidents.c.disqualifying.is_(True))))).scalar_one())
    return {"all": total, "not_registered": total - sum(by_state.values()),
            "awaiting_appraisal": sum(by_state.get(s, 0) for s in states_for["awaiting_appraisal"]),
            "awaiting_decision": sum(by_state.get(s, 0) for s in states_for["awaiting_decision"]),
            "disqualified": disqualified}
