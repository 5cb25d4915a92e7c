"""The inbox page's statement: its read filter is an (anti-)semi-join, never an outer join filtered on NULL.

PostgreSQL estimates `inbox_reads.read_at IS NULL` after a left join at half a percent of the rows, so an unread
page looked like a fifth of `ix_deliveries_inbox` to walk and was planned as a parallel scan (Gather Merge) whose
workers took 18 ms to start where the backward walk takes 0.7 ms (docs/benchmarks.md, National)."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql

from services.notify import store


@pytest.mark.parametrize("unread", [True, False, None])
def test_the_read_state_is_a_subquery_never_an_outer_join(unread: bool | None) -> None:
    scope = store.InboxScope(reader="officer:p79", desk_prefix="desk:", area="79")
    sql = " ".join(str(store.inbox_query(scope, unread, None, 50).compile(dialect=postgresql.dialect())).split())
    assert "JOIN" not in sql
    assert "(SELECT inbox_reads.read_at FROM inbox_reads WHERE" in sql
    if unread is None:
        assert "EXISTS" not in sql
    else:
        assert ("NOT (EXISTS (SELECT" in sql) is unread and "EXISTS (SELECT inbox_reads.notification_id" in sql
