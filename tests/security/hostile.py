"""Hypothesis strategies for hostile times and pagination cursors, shared by the fuzzers and the regression tests.

Times: instants whose UTC form falls outside year 1..9999 (`0001-01-01T00:00:00+14:00`), the extreme years, times
without a zone, and plausible times with odd offsets. Cursors: what `shared.http.encode_cursor` would write for
such times, and cursors of the wrong shape.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from shared.contracts.instants import EARLIEST, LATEST
from shared.http import encode_cursor

INSTANCES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-01-01T00:00:00+00:00",
             "0001-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-11-22 03:00:00", "1999-12-31T23:59:59Z")

offsets = st.integers(min_value=-14 * 60 + 1, max_value=14 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))

aware_anywhen = st.builds(lambda naive, tz: naive.replace(tzinfo=tz),
                          st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
                          offsets)


def out_of_bounds(moment: datetime) -> bool:
    return not EARLIEST <= moment < LATEST


hostile_instants: st.SearchStrategy[datetime] = st.one_of(
    aware_anywhen.filter(out_of_bounds),
    st.sampled_from([datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
                     datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
                     datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]))
"""Aware instants outside the accepted bounds, extremes of the datetime range included."""

naive_times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))

hostile_time_texts: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(INSTANCES), hostile_instants.map(datetime.isoformat), naive_times.map(datetime.isoformat))
"""RFC 3339-looking strings that every instant a caller or agency gives must refuse (422 / DLQ)."""

acceptable_instants: st.SearchStrategy[datetime] = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2199, 12, 30)), offsets)

_ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=12)
_odd: st.SearchStrategy[Any] = st.one_of(st.none(), st.integers(), st.text(max_size=12), st.lists(st.integers(),
                                                                                                   max_size=3))
hostile_cursors: st.SearchStrategy[str] = st.one_of(
    st.tuples(hostile_time_texts, _ids).map(lambda pair: encode_cursor(list(pair))),
    st.tuples(_odd, _odd).map(lambda pair: encode_cursor(list(pair))),
    _odd.map(encode_cursor),
    st.text(max_size=40))
"""Cursors that no list endpoint may answer with a 5xx: timestamps out of range or without a zone, wrong shapes."""
