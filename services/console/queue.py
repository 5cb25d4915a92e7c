"""The officer's queue as the console shows it: filters, counts per filter and the nearest-deadline order.

Pure functions over the tips service's summaries (JSON objects of `GET /tips`), so that they are tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

DUE_SOON = timedelta(days=5)
OPEN_STATES = ("received", "triaged", "verifying")
STATES = ("received", "triaged", "verifying", "decided", "dismissed", "closed")
URGENCIES = ("urgent", "normal")
DEADLINE_FILTERS = ("overdue", "due5")
CHANNELS = ("web", "api", "agency")
ASSIGNMENTS = ("unassigned", "mine")


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
        def pick(name: str, allowed: tuple[str, ...]) -> str:
            value = query.get(name) or ""
            return value if value in allowed else ""

        return cls(state=pick("state", ("open", *STATES)), urgency=pick("urgency", URGENCIES),
                   deadline=pick("deadline", DEADLINE_FILTERS), channel=pick("channel", CHANNELS),
                   assignment=pick("assignment", ASSIGNMENTS))

    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def _due(item: dict[str, Any]) -> datetime | None:
    due = item.get("due_at")
    if isinstance(due, str):
        return datetime.fromisoformat(due)
    return due if isinstance(due, datetime) else None


def _matches(item: dict[str, Any], name: str, value: str, *, now: datetime, me: str) -> bool:
    if not value:
        return True
    if name == "state":
        return item["status"] in OPEN_STATES if value == "open" else item["status"] == value
    if name == "urgency":
        return bool(item["priority"] == value)
    if name == "channel":
        return bool(item["channel"] == value)
    if name == "assignment":
        return not item.get("assigned_officer") if value == "unassigned" else item.get("assigned_officer") == me
    if name == "deadline":
        due = _due(item)
        if value == "overdue":
            return bool(item.get("overdue"))
        return due is not None and not item.get("overdue") and due - now <= DUE_SOON
    return True


def apply(items: list[dict[str, Any]], filters: Filters, *, now: datetime, me: str) -> list[dict[str, Any]]:
    """The items every filter accepts, nearest running deadline first; tips without one last, newest first."""
    chosen = [i for i in items
              if all(_matches(i, name, value, now=now, me=me) for name, value in filters.__dict__.items())]

    def key(item: dict[str, Any]) -> tuple[int, float]:
        due = _due(item)
        if due is not None:
            return 0, due.timestamp()
        return 1, -datetime.fromisoformat(str(item["received_at"])).timestamp()

    return sorted(chosen, key=key)


def counts(items: list[dict[str, Any]], *, now: datetime, me: str) -> dict[str, dict[str, int]]:
    """How many of the whole queue each filter value would show."""
    options = {"state": ("open", *STATES), "urgency": URGENCIES, "deadline": DEADLINE_FILTERS,
               "channel": CHANNELS, "assignment": ASSIGNMENTS}
    return {name: {value: sum(1 for i in items if _matches(i, name, value, now=now, me=me)) for value in values}
            for name, values in options.items()}
