"""The officer's queue as the console asks the tips service for it: the page's filters as tips API parameters,
and tips' counts as the filter options' counts.

The tips service filters, orders (nearest legal deadline first) and pages in SQL (`GET /tips?sort=deadline`,
`GET /tips/counts`); the console only translates its filter names, so these are pure functions tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DUE_SOON_DAYS = 5
STATES = ("received", "triaged", "verifying", "decided", "dismissed", "closed")
URGENCIES = ("urgent", "normal")
DEADLINE_FILTERS = ("overdue", "due5")
CHANNELS = ("web", "api", "agency")
ASSIGNMENTS = ("unassigned", "mine")
OPTIONS: dict[str, tuple[str, ...]] = {"state": ("open", *STATES), "urgency": URGENCIES,
                                       "deadline": DEADLINE_FILTERS, "channel": CHANNELS, "assignment": ASSIGNMENTS}
PAGE_SIZE = 50
CURSOR_MAX_LENGTH = 500  # as the tips API accepts


@dataclass(frozen=True)
class Filters:
    state: str = ""
    urgency: str = ""
    deadline: str = ""
    channel: str = ""
    assignment: str = ""

    @classmethod
    def parse(cls, query: Any) -> Filters:
        """Unknown values are ignored (a hand-edited URL shows the whole queue, not an error)."""
        def pick(name: str) -> str:
            value = query.get(name) or ""
            return value if value in OPTIONS[name] else ""

        return cls(**{name: pick(name) for name in OPTIONS})

    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    def api_params(self) -> dict[str, Any]:
        """The tips API's parameters of these filters (`GET /tips` and `GET /tips/counts` take the same)."""
        params: dict[str, Any] = {}
        if self.state:
            params["status"] = self.state
        if self.urgency:
            params["priority"] = self.urgency
        if self.channel:
            params["channel"] = self.channel
        if self.assignment:
            params["assigned"] = "me" if self.assignment == "mine" else "none"
        if self.deadline == "overdue":
            params["overdue"] = "true"
        elif self.deadline == "due5":
            params["due_within_days"] = DUE_SOON_DAYS
        return params


def page_cursor(query: Any) -> str | None:
    """The `cursor` of the page asked for (the tips API says whether it is valid)."""
    cursor = query.get("cursor") or None
    return cursor if cursor is None or len(cursor) <= CURSOR_MAX_LENGTH else None


def option_counts(counts: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Tips' `GET /tips/counts` answer as the count of each filter option of the page."""
    deadline = counts.get("deadline", {})
    assigned = counts.get("assigned", {})
    return {
        "state": {s: int(counts.get("status", {}).get(s, 0)) for s in OPTIONS["state"]},
        "urgency": {u: int(counts.get("priority", {}).get(u, 0)) for u in URGENCIES},
        "deadline": {"overdue": int(deadline.get("overdue", 0)), "due5": int(deadline.get("due_soon", 0))},
        "channel": {c: int(counts.get("channel", {}).get(c, 0)) for c in CHANNELS},
        "assignment": {"unassigned": int(assigned.get("none", 0)), "mine": int(assigned.get("me", 0))},
    }
