"""Administrative area codes, one definition for every service.

An area code is a province code, optionally followed by "." and a commune code: "79" (a province), "79.26743"
(commune 26743 of province 79). The codes of the national list are digits (two for a province, five for a
commune), but registries also send their own tokens, so a part is any run of letters, digits, "_" and "-".
Every service accepts exactly these codes: a unit the registry accepted can be named by a tip, an award, a
subscription and a token's area claim, and its code fits every service's area columns (64 characters).

A well-formed code must also name a real place: a province or commune of the national list, or an operator's
local area (shared/places.py). `check_known_area` is that rule, the same in every service: an unknown code is
refused with 422 `unknown_area` and the nearest known places in `details.close_matches`.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import or_
from sqlalchemy.sql.elements import ColumnElement

from shared import places
from shared.errors import Invalid

PROVINCE_MAX_LENGTH = 20
COMMUNE_MAX_LENGTH = 40
AREA_CODE_MAX_LENGTH = PROVINCE_MAX_LENGTH + 1 + COMMUNE_MAX_LENGTH
PROVINCE_PATTERN = rf"^[0-9A-Za-z_-]{{1,{PROVINCE_MAX_LENGTH}}}$"
COMMUNE_PATTERN = rf"^[0-9A-Za-z_-]{{1,{COMMUNE_MAX_LENGTH}}}$"
AREA_CODE_PATTERN = (rf"^[0-9A-Za-z_-]{{1,{PROVINCE_MAX_LENGTH}}}"
                     rf"(\.[0-9A-Za-z_-]{{1,{COMMUNE_MAX_LENGTH}}})?$")
AREA_CODE_EXAMPLE = "79 or 79.26743"
_AREA_CODE = re.compile(AREA_CODE_PATTERN)


def is_area_code(value: object) -> bool:
    """True for "79" and "79.26743"; False for "", "79.", "79..1", "7.9.1", codes with spaces or too long."""
    return isinstance(value, str) and _AREA_CODE.fullmatch(value) is not None


class UnknownArea(Invalid):
    """A well-formed area code that names no province, commune or local area."""

    code = "unknown_area"


def unknown_area_details(value: str, field: str = "area_code") -> dict[str, Any]:
    """The `details` of an `unknown_area` error: the field, the code given (only a well-formed one: an error body
    never repeats free text a caller typed) and the nearest known places."""
    return {"field": field, "area_code": value if is_area_code(value) else None,
            "close_matches": places.close_matches(value)}


def check_known_area(value: str | None, field: str = "area_code") -> None:
    """Refuse a code that is not a place of the national list or a local area (None: no area, accepted)."""
    if value is None or places.is_known_area(value):
        return
    shown = value if is_area_code(value) else "this code"
    raise UnknownArea(f"{shown} is not a province, commune or local area of the national list",
                      details=unknown_area_details(value, field))


def covers(scope: str, area: str) -> bool:
    """Whether the area `scope` is `area` or contains it, part by part: "79" covers "79" and "79.26743", not
    "790" (a bare string prefix would) nor "7"."""
    return area == scope or area.startswith(scope + ".")


def serves_intake_desk(officer_area: str | None, desk_area: str | None) -> bool:
    """Whether an officer scoped to `officer_area` works the intake desk, which holds the tips with no area.

    A tip whose reporter did not know the place belongs to no area; it waits at the deployment's intake desk
    until an officer assigns it. With `desk_area` set (ANTQ_TIPS_INTAKE_DESK_AREA), the desk is that area's
    officers (and those of the areas above it); unset, it is every province-level officer (an area without
    "."), since one deployment usually serves one province. Unscoped officers see every tip anyway.
    """
    if officer_area is None:
        return True
    if desk_area:
        return covers(officer_area, desk_area)
    return "." not in officer_area


def area_within(column: Any, area: str) -> ColumnElement[bool]:
    """SQL: the column's area is `area` or lies under it ("79" covers "79" and "79.26743", not "790").

    `_` may occur in a code and is a LIKE wildcard: it is escaped (with `%` and the escape character), so
    "7_" never covers "79.26743".
    """
    escaped = area.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(column == area, column.like(escaped + ".%", escape="\\"))
