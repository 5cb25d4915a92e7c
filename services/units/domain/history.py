"""History import: past years' ANTT results and awards already held, from the province's records.

A past year was decided outside antq, so it enters as a fact with its decision number, never as a cycle: it
counts toward a unit's consecutive recognised years (and the awards rules that need them) from the day it is
imported. Each row is checked alone and a bad row never stops the others (`validate_history_row` never raises).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.contracts.events import AwardHeldImported, Level, Rating, RecognitionImported

from .units import RowError, Unit, row_errors

_RESULTS = {"recognised": True, "recognized": True, "dat": True, "đạt": True, "true": True, "yes": True,
            "not_recognised": False, "not_recognized": False, "khong_dat": False, "không đạt": False,
            "false": False, "no": False}


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    unit_id: str | None = Field(default=None, min_length=1, max_length=200)
    external_key: str | None = Field(default=None, min_length=1, max_length=200,
                                     description="the unit's external key (tax code, school code)")
    year: int = Field(ge=2000, le=2200)
    decision_no: str = Field(min_length=1, max_length=200)
    decision_date: date | None = None


class RecognitionRow(_Row):
    """A past year's result: `recognised` or `not_recognised`, with the People's Committee's decision."""

    record: Literal["recognition"]
    result: bool = Field(description="recognised | not_recognised")
    level: Level | None = Field(default=None, description="the deciding level (default: the unit's managing level)")
    rating: Rating | None = None

    @field_validator("result", mode="before")
    @classmethod
    def _result(cls, value: Any) -> Any:
        if isinstance(value, str):
            key = value.strip().lower()
            if key not in _RESULTS:
                raise ValueError("result is recognised or not_recognised")
            return _RESULTS[key]
        return value


class AwardRow(_Row):
    """An award held: by the unit, or by a person of the unit (`person_ref`, the province's own reference)."""

    record: Literal["award"]
    award_type: str = Field(min_length=1, max_length=64, description="a code of the awards catalogue")
    person_ref: str | None = Field(default=None, min_length=1, max_length=200)
    person_name: str | None = Field(default=None, min_length=1, max_length=500)

    @property
    def recipient_kind(self) -> Literal["unit", "person"]:
        return "person" if self.person_ref else "unit"


HistoryFields = RecognitionRow | AwardRow


class HistoryRow(BaseModel):
    """The outcome of validating one history record: the fields, or the reasons it is rejected."""

    model_config = ConfigDict(frozen=True)
    line: int
    fields: HistoryFields | None = None
    errors: tuple[RowError, ...] = ()


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    """CSV gives strings: blank cells are absent; column names are trimmed."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = str(key).strip()
        if not name or value is None or (isinstance(value, str) and not value.strip()):
            continue
        out[name] = value.strip() if isinstance(value, str) else value
    return out


def validate_history_row(row: Mapping[str, Any], *, line: int, current_year: int, today: date,
                         award_types: Mapping[str, Mapping[str, Any]]) -> HistoryRow:
    """Turn a CSV or JSON-lines record into history fields, or into a per-field error list. Never raises.

    A recognition is of a year before the current assessment year; an award held is of a year not after it, of a
    type of the awards catalogue given to that kind of recipient; no decision is dated after today."""
    data = _clean(row)
    kind = data.get("record")
    model: type[RecognitionRow] | type[AwardRow]
    if kind == "recognition":
        model = RecognitionRow
    elif kind == "award":
        model = AwardRow
    else:
        return HistoryRow(line=line, errors=(RowError(field="record", message="record is recognition or award"),))
    if data.get("unit_id") is None and data.get("external_key") is None:
        return HistoryRow(line=line, errors=(RowError(field="unit_id", message="give the unit: unit_id or "
                                                                               "external_key"),))
    try:
        fields = model.model_validate(data)
    except ValidationError as exc:
        return HistoryRow(line=line, errors=row_errors(exc))
    errors: list[RowError] = []
    if isinstance(fields, RecognitionRow) and fields.year >= current_year:
        errors.append(RowError(field="year", message=f"only years before {current_year} are imported; the current "
                                                     "year is decided in antq"))
    if isinstance(fields, AwardRow):
        if fields.year > current_year:
            errors.append(RowError(field="year", message=f"an award held is of {current_year} or before"))
        known = award_types.get(fields.award_type)
        if known is None:
            errors.append(RowError(field="award_type", message=f"unknown award type {fields.award_type!r}; one of "
                                                               f"{', '.join(sorted(award_types))}"))
        elif fields.recipient_kind not in known.get("recipient_kinds", ()):
            errors.append(RowError(field="award_type", message=f"{fields.award_type} is not given to a "
                                                               f"{fields.recipient_kind}"))
        if fields.person_ref and not fields.person_name:
            errors.append(RowError(field="person_name", message="a person's award needs the person's name"))
    if fields.decision_date is not None and fields.decision_date > today:
        errors.append(RowError(field="decision_date", message="a decision is not dated after today"))
    if errors:
        return HistoryRow(line=line, errors=tuple(errors))
    return HistoryRow(line=line, fields=fields)


def recognition_record(fields: RecognitionRow, unit: Unit) -> dict[str, Any]:
    """The stored fact of a past year's result (the `past_recognitions` columns besides who and when)."""
    return {"unit_id": unit.unit_id, "year": fields.year, "recognized": fields.result,
            "decision_no": fields.decision_no, "decided_on": fields.decision_date,
            "decided_by_level": fields.level or unit.managing_level,
            "rating": fields.rating if fields.result else None}


def award_record(fields: AwardRow, unit: Unit) -> dict[str, Any]:
    """The stored fact of an award held (the `past_awards` columns besides who and when)."""
    person = fields.recipient_kind == "person"
    return {"award_type": fields.award_type, "recipient_kind": fields.recipient_kind,
            "recipient_ref": fields.person_ref if person else unit.unit_id,
            "recipient_name": fields.person_name if person else unit.name, "unit_id": unit.unit_id,
            "area_code": unit.area_code, "year": fields.year, "decision_no": fields.decision_no,
            "decided_on": fields.decision_date}


RECOGNITION_FACTS: tuple[str, ...] = ("recognized", "decision_no", "decided_on", "decided_by_level", "rating")
AWARD_FACTS: tuple[str, ...] = ("decision_no", "decided_on")


def differences(stored: Mapping[str, Any], new: Mapping[str, Any], facts: tuple[str, ...]) -> list[str]:
    """The facts an earlier import recorded otherwise (a re-import of the same row has none)."""
    return [f for f in facts if stored.get(f) != new.get(f)]


def recognition_event(record: Mapping[str, Any], area_code: str) -> RecognitionImported:
    return RecognitionImported(unit_id=record["unit_id"], year=record["year"], recognized=record["recognized"],
                               decision_no=record["decision_no"], decided_on=record["decided_on"],
                               decided_by_level=record["decided_by_level"], rating=record["rating"],
                               area_code=area_code)


def award_event(record: Mapping[str, Any]) -> AwardHeldImported:
    return AwardHeldImported(award_type=record["award_type"], recipient_kind=record["recipient_kind"],
                             recipient_ref=record["recipient_ref"], recipient_name=record["recipient_name"],
                             unit_id=record["unit_id"], area_code=record["area_code"], year=record["year"],
                             decision_no=record["decision_no"], decided_on=record["decided_on"])
