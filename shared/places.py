"""The national list of places: Vietnam's 34 provinces and 3,321 communes after the 2025 reorganisation.

The list is the statistics office's, as packaged by `vietnam-provinces` (pinned in pyproject.toml). Codes are
written the way area codes are (shared/areas.py): a province as two digits ("79"), a commune as its province
and its five-digit commune code ("79.26743"). An operator may add local areas (an industrial park, a border
zone) under a province with `ANTQ_LOCAL_AREAS_FILE`; `parse_local_areas` checks such a file and `use_local_areas`
adds its entries. Besides reading the packaged list once (cached), nothing here does I/O.
"""

from __future__ import annotations

import csv
import difflib
import importlib.util
import io
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

UNKNOWN_PLACE = {"vi": "không rõ địa điểm", "en": "place unknown"}

# The division types of the list, in English. A province's "thành phố trung ương" reads "City" in English.
_TYPE_EN = {"tỉnh": "Province", "thành phố trung ương": "City", "phường": "Ward", "xã": "Commune",
            "đặc khu": "Special Zone"}
_PREFIXES = ("Thành phố ", "Phường ", "Xã ", "Đặc khu ")


@dataclass(frozen=True)
class Place:
    """A province, a commune or an operator's local area. `code` is its area code ("79", "79.26743")."""

    code: str
    name: str  # the full Vietnamese name, with the division type: "Phường Bến Thành", "Thành phố Hồ Chí Minh"
    division_type: str  # "tỉnh", "thành phố trung ương", "phường", "xã", "đặc khu", or a local area's kind
    province_code: str
    name_en: str  # "Ben Thanh Ward", "Ho Chi Minh City"; the list has no English names: made from the ASCII one
    local: bool = False

    @property
    def is_province(self) -> bool:
        return self.code == self.province_code


def fold(text: str) -> str:
    """Lower case without accents, for matching what a person types: "Bến Thành" and "ben thanh" fold alike."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().split())


def _english(name: str, division_type: str) -> str:
    base = name
    for prefix in _PREFIXES:
        if base.startswith(prefix):
            base = base[len(prefix):]
            break
    ascii_base = unicodedata.normalize("NFD", base.replace("Đ", "D").replace("đ", "d"))
    ascii_base = "".join(c for c in ascii_base if not unicodedata.combining(c))
    kind = _TYPE_EN.get(division_type)
    return f"{ascii_base} {kind}" if kind else ascii_base


@dataclass(frozen=True)
class _Index:
    places: dict[str, Place]
    communes: dict[str, tuple[Place, ...]]


def _packaged_list() -> Path:
    """The package's JSON file (its `NESTED_DIVISIONS_JSON_PATH`), found without importing the package: its
    `__init__` builds two enumerations of every province and commune code, 2 MiB of a service's memory that
    nothing here uses."""
    spec = importlib.util.find_spec("vietnam_provinces")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the vietnam-provinces package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "nested-divisions.json"


@lru_cache(maxsize=1)
def _national() -> _Index:
    data = json.loads(_packaged_list().read_text(encoding="utf-8"))
    places: dict[str, Place] = {}
    communes: dict[str, tuple[Place, ...]] = {}
    for p in data:
        pcode = f"{int(p['code']):02d}"
        places[pcode] = Place(pcode, p["name"], p["division_type"], pcode, _english(p["name"], p["division_type"]))
        wards = []
        for w in p["wards"]:
            code = f"{pcode}.{int(w['code']):05d}"
            wards.append(Place(code, w["name"], w["division_type"], pcode,
                               _english(w["name"], w["division_type"])))
        wards.sort(key=lambda c: fold(c.name))
        places.update((w.code, w) for w in wards)
        communes[pcode] = tuple(wards)
    return _Index(places, communes)


_local: dict[str, Place] = {}


def _all() -> dict[str, Place]:
    national = _national().places
    return {**national, **_local} if _local else national


def provinces() -> tuple[Place, ...]:
    """The 34 provinces, by code."""
    return tuple(p for p in _national().places.values() if p.is_province)


def province(code: str) -> Place | None:
    """The province "79", or None when the list has no such province."""
    place = _national().places.get(code)
    return place if place is not None and place.is_province else None


def communes_of(province_code: str) -> tuple[Place, ...]:
    """The communes of a province (by name), then its local areas; () for an unknown province."""
    national = _national().communes.get(province_code, ())
    return national + tuple(p for p in _local.values() if p.province_code == province_code)


def place(code: str | None) -> Place | None:
    """The province, commune or local area with this area code."""
    return _all().get(code) if code else None


def is_known_area(code: str | None) -> bool:
    """Whether `code` is a province, a commune of the national list or a declared local area."""
    return code is not None and code in _all()


def area_label(code: str | None, lang: str) -> str:
    """The place as a person reads it: "Phường Bến Thành, Thành phố Hồ Chí Minh" ("Ben Thanh Ward, Ho Chi Minh
    City" in English); the code itself when it is not in the list; "không rõ địa điểm" for no place."""
    english = lang == "en"
    if not code:
        return UNKNOWN_PLACE["en" if english else "vi"]
    found = place(code)
    if found is None:
        return code
    parts = [found] if found.is_province else [found, _national().places[found.province_code]]
    return ", ".join(p.name_en if english else p.name for p in parts)


def search(text: str, province_code: str | None = None, limit: int = 20) -> list[Place]:
    """Places whose name contains `text`, accents and case ignored ("ben thanh" finds Phường Bến Thành);
    provinces first, then names that start with the text. Within one province when `province_code` is given."""
    needle = fold(text)
    if not needle:
        return []
    found = [p for p in _all().values()
             if (province_code is None or p.province_code == province_code) and needle in fold(p.name)]
    found.sort(key=lambda p: (not p.is_province, not _short(p).startswith(needle), fold(p.name)))
    return found[:limit]


def _short(p: Place) -> str:
    name = fold(p.name)
    for prefix in _PREFIXES:
        if name.startswith(fold(prefix)):
            return name[len(prefix):]
    return name


def close_matches(code_or_name: str, limit: int = 5) -> list[dict[str, str]]:
    """Known places near an unknown code or name, as {"code", "name"}: the communes of its province whose code
    is near, or the places whose name is near. Shown in `unknown_area` errors."""
    value = code_or_name.strip()
    everything = _all()
    province_part, _, commune_part = value.partition(".")
    matches: list[Place] = []
    if commune_part.isdigit() and province_part in everything:
        # The nearest codes of the province: a mistyped digit lands near the intended commune.
        near = sorted((p for p in communes_of(province_part) if not p.local),
                      key=lambda p: abs(int(p.code.partition(".")[2]) - int(commune_part)))
        matches = near[:limit]
    elif province_part.isdigit() and province_part not in everything:
        # Provinces merged in 2025 lost their codes: the nearest codes still in use.
        matches = sorted(provinces(), key=lambda p: abs(int(p.code) - int(province_part)))[:limit]
    if not matches:
        matches = search(value, limit=limit)
    if not matches:
        by_name = {fold(p.name): p for p in everything.values()}
        matches = [by_name[n] for n in difflib.get_close_matches(fold(value), list(by_name), n=limit, cutoff=0.6)]
    return [{"code": p.code, "name": area_label(p.code, "vi")} for p in matches[:limit]]


def unknown_area_message(code: str) -> str:
    """One sentence for a person: the code is not a known place, and the nearest ones."""
    near = ", ".join(f"{m['code']} ({m['name']})" for m in close_matches(code))
    return f"area {code} is not a province, commune or local area of the national list; near: {near}"


class LocalAreasError(ValueError):
    """The local areas file is not usable; the message names the entry and what is wrong."""


def parse_local_areas(text: str, fmt: str) -> tuple[Place, ...]:
    """Local areas from a YAML list or a CSV file (columns code, name, kind, optional name_en).

    A code is "<province>.<token>" under a province of the list ("79.KCN-TAN-THUAN"), not a commune of the list
    and not repeated; a name is required. Any fault raises LocalAreasError naming the entry.
    """
    from shared.areas import is_area_code  # shared.areas checks codes against this module: imported late

    try:
        if fmt == "csv":
            rows: object = list(csv.DictReader(io.StringIO(text)))
        else:
            rows = yaml.safe_load(text) or []
    except (yaml.YAMLError, csv.Error) as exc:
        raise LocalAreasError(f"cannot be read as {fmt}: {exc}") from None
    if not isinstance(rows, list):
        raise LocalAreasError("must be a list of areas (code, name, kind)")
    national = _national().places
    seen: set[str] = set()
    out: list[Place] = []
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise LocalAreasError(f"entry {n}: must have code, name and kind")
        code = str(row.get("code") or "").strip()
        name = str(row.get("name") or "").strip()
        kind = str(row.get("kind") or "khu vực").strip()
        prov, _, token = code.partition(".")
        if not is_area_code(code) or not token:
            raise LocalAreasError(f"entry {n}: code {code!r} must be <province>.<token>, e.g. 79.KCN-TAN-THUAN")
        if prov not in national:
            raise LocalAreasError(f"entry {n}: {code!r}: province {prov!r} is not in the national list")
        if code in national:
            raise LocalAreasError(f"entry {n}: {code!r} is already a commune of the national list")
        if code in seen:
            raise LocalAreasError(f"entry {n}: {code!r} is repeated")
        if not name:
            raise LocalAreasError(f"entry {n}: {code!r} has no name")
        seen.add(code)
        name_en = str(row.get("name_en") or "").strip() or _english(name, kind)
        out.append(Place(code, name, kind, prov, name_en, local=True))
    return tuple(out)


def use_local_areas(areas: Iterable[Place]) -> None:
    """Make these local areas known to every check in this process (replacing any declared before)."""
    _local.clear()
    _local.update((a.code, a) for a in areas)
