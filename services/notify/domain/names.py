"""What a notice calls things by: units, tips and awards from notify's read model, places, console links.

Events carry ids; a person reads names. The names come from notify's own directory, kept from the events it
already consumes (units, tips, awards), so delivering a notice never calls another service. Whatever the
directory does not know yet is described in words ("a unit not yet in the directory"), never shown as an id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

AreaLabel = Callable[[str | None, str], str]
K = TypeVar("K")
V = TypeVar("V")


def fallback_area_label(code: str | None, lang: str) -> str:
    """The area's code in words, for a deployment that has no national list of places to name it by."""
    return f"khu vực {code}" if lang == "vi" else f"area {code}"


def place_labeller(lookup: AreaLabel) -> AreaLabel:
    """`place_label(code, lang)`: a place's name by `lookup`; an unknown code is still said in words."""

    def place_label(code: str | None, lang: str) -> str:
        if not code:
            return "chưa rõ địa bàn" if lang == "vi" else "place not given"
        try:
            return lookup(code, lang)
        except (LookupError, ValueError):  # a code the list does not know (an old or local one): say it plainly
            return fallback_area_label(code, lang)

    return place_label


@dataclass(frozen=True)
class UnitEntry:
    name: str | None = None
    kind: str | None = None
    area_code: str | None = None


@dataclass(frozen=True)
class TipEntry:
    category: str | None = None
    area_code: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class AwardEntry:
    award_type: str | None = None
    year: int | None = None
    recipient_kind: str | None = None
    recipient_ref: str | None = None


@dataclass(frozen=True)
class Names:
    """The directory entries one notice (or one page of notices) needs, read before rendering."""

    units: Mapping[str, UnitEntry] = field(default_factory=dict)
    tips: Mapping[str, TipEntry] = field(default_factory=dict)
    awards: Mapping[str, AwardEntry] = field(default_factory=dict)


NO_NAMES = Names()


def referenced(data: Mapping[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """The (unit, tip, award) ids an event's data names, whose directory entries its notice needs."""
    units = {str(data["unit_id"])} if data.get("unit_id") else set()
    if data.get("recipient_kind") == "unit" and data.get("recipient_ref"):
        units.add(str(data["recipient_ref"]))
    tips = {str(data["tip_id"])} if data.get("tip_id") else set()
    awards = {str(data["award_id"])} if data.get("award_id") else set()
    return units, tips, awards


def names_of(data: Mapping[str, Any], names: Names) -> tuple[tuple[str, str, object], ...]:
    """The directory entries an event's notice is worded from (those `referenced` names, and the unit an award
    is for), as a hashable value: a notice rendered from the same event in the same language with the same
    entries reads the same (see `Memo`)."""
    units, tips, awards = referenced(data)
    for award_id in awards:
        award = names.awards.get(award_id)
        if award is not None and award.recipient_kind == "unit" and award.recipient_ref:
            units.add(award.recipient_ref)
    return (*(("unit", k, names.units.get(k)) for k in sorted(units)),
            *(("tip", k, names.tips.get(k)) for k in sorted(tips)),
            *(("award", k, names.awards.get(k)) for k in sorted(awards)))


class Memo(Generic[K, V]):
    """A bounded map of what the process already computed, the least recently used dropped first.

    Notify keeps two: the stored cause events by id (immutable once stored) and the inbox notices rendered from
    them by (event, language, directory entries), so re-reading an inbox page neither reads the events again
    nor re-renders notices whose names did not change."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        value = self._items.pop(key, None)
        if value is not None:
            self._items[key] = value
        return value

    def put(self, key: K, value: V) -> None:
        self._items.pop(key, None)
        self._items[key] = value
        if len(self._items) > self.size:
            del self._items[next(iter(self._items))]

    def __len__(self) -> int:
        return len(self._items)


def console_link(base_url: str, page: Sequence[str], lang: str) -> str:
    """The console page of a notice (`("tips", tip_id)`, `("units", unit_id)`, `("awards",)`, `("inbox",)`), in
    the reader's language. Each segment is percent-encoded whole: an id from an event cannot add a path step,
    a query or another host to the link."""
    url = f"{base_url.rstrip('/')}/{'/'.join(quote(segment, safe='') for segment in page)}"
    return url + "?lang=en" if lang == "en" else url
