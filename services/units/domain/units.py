"""The unit registry's rules: a unit's identity, creating it, patching it, and validating an import row."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.areas import (
    COMMUNE_MAX_LENGTH,
    COMMUNE_PATTERN,
    PROVINCE_MAX_LENGTH,
    PROVINCE_PATTERN,
    UnknownArea,
    check_known_area,
    is_area_code,
)
from shared.contracts.events import Level, UnitKind, UnitRegistered, UnitUpdated
from shared.errors import Invalid, problems

from .scope import ScopeRules, decide_scope

UnitStatus = Literal["active", "dissolved"]
EnterpriseSize = Literal["micro", "small", "medium", "large"]
SchoolLevel = Literal[
    "nursery", "kindergarten", "primary", "lower_secondary", "upper_secondary", "multi_level",
    "continuing", "vocational", "college", "university",
]

Code = Field(default=None, min_length=1, max_length=50)
# Administrative codes are single tokens (shared/areas.py): the "." separates province from commune in an area code.


def make_area_code(province_code: str, commune_code: str | None) -> str:
    """ "79" for a provincial unit, "79.26743" for a unit of commune 26743 in province 79."""
    return f"{province_code}.{commune_code}" if commune_code else province_code


def split_area_code(area_code: str) -> tuple[str, str | None]:
    """The inverse of `make_area_code`: ("79", "26743") for "79.26743", ("79", None) for "79"."""
    area_code = area_code.strip()
    if not is_area_code(area_code):
        raise Invalid(f"area code {area_code!r} is not PP or PP.CCCCC", details={"field": "area_code"})
    province, _, commune = area_code.partition(".")
    return province, commune or None


class Contact(BaseModel):
    """A named person of the unit (head, security focal person). Never published in events."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=320)


def kind_attribute_rules(schema: dict[str, Any]) -> None:
    """`UnitFields._kind_attributes` in JSON Schema: size, school_level and armed_forces belong to one kind each."""
    schema["allOf"] = [
        {"if": {"properties": {"kind": {"const": "enterprise"}}, "required": ["kind"]},
         "else": {"properties": {"size": {"type": "null"}}}},
        {"if": {"properties": {"kind": {"const": "school"}}, "required": ["kind"]},
         "else": {"properties": {"school_level": {"type": "null"}}}},
        {"if": {"properties": {"kind": {"const": "agency"}}, "required": ["kind"]},
         "else": {"properties": {"armed_forces": {"not": {"const": True}}}}},
    ]


class UnitFields(BaseModel):
    """The editable identity of a unit: what `POST /units`, an import row or `UnitUpserted` may give."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True,
                              json_schema_extra=kind_attribute_rules)

    name: str = Field(min_length=1, max_length=500)
    kind: UnitKind
    province_code: str = Field(min_length=1, max_length=PROVINCE_MAX_LENGTH, pattern=PROVINCE_PATTERN)
    commune_code: str | None = Field(default=None, min_length=1, max_length=COMMUNE_MAX_LENGTH, pattern=COMMUNE_PATTERN)
    # Districts were abolished in 2025; kept only as history and never required.
    district_code: str | None = Code
    address: str | None = Field(default=None, max_length=1000)
    tax_code: str | None = Code
    school_code: str | None = Code
    external_key: str | None = Field(default=None, min_length=1, max_length=200)
    managing_level: Level | None = None
    head_of_unit: Contact | None = None
    security_focal: Contact | None = None
    security_force_full_time: int = Field(default=0, ge=0, le=100_000)
    security_force_part_time: int = Field(default=0, ge=0, le=100_000)
    models: tuple[str, ...] = ()
    status: UnitStatus = "active"
    # Attributes the scope rules read.
    armed_forces: bool = False
    size: EnterpriseSize | None = None
    school_level: SchoolLevel | None = None
    # An officer's decision that overrides the derived scope (None: follow the rules).
    in_scope_override: bool | None = None
    in_scope_reason: str | None = Field(default=None, max_length=2000)

    @field_validator("models")
    @classmethod
    def _clean_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(dict.fromkeys(m.strip() for m in value if m and m.strip()))
        if any(len(m) > 200 for m in cleaned):
            raise ValueError("a model name is at most 200 characters")
        return cleaned

    @model_validator(mode="after")
    def _kind_attributes(self) -> UnitFields:
        if self.size is not None and self.kind != "enterprise":
            raise ValueError("size applies to enterprises only")
        if self.school_level is not None and self.kind != "school":
            raise ValueError("school_level applies to schools only")
        if self.armed_forces and self.kind != "agency":
            raise ValueError("armed_forces applies to agencies only")
        return self


class Unit(UnitFields):
    """A registered unit with its derived fields. JSON-serialisable through `to_dict()`."""

    unit_id: str = Field(min_length=1, max_length=200)
    managing_level: Level = "commune"
    in_scope: bool = True
    # Code of the out-of-scope rule that matched, if any (kept so a report can say why a unit is out of scope).
    out_of_scope_rule: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def area_code(self) -> str:
        """The unit's area in the project's hierarchical form: "PP" (province) or "PP.CCCCC" (commune)."""
        return make_area_code(self.province_code, self.commune_code)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Unit:
        return cls.model_validate(dict(data))


# Fields a PATCH may not change: identity that other services and past events refer to.
IMMUTABLE = frozenset({"unit_id", "kind", "created_at", "updated_at", "in_scope", "out_of_scope_rule"})
PATCHABLE = frozenset(UnitFields.model_fields) - IMMUTABLE


def _derive(fields: UnitFields, *, rules: ScopeRules | None) -> dict[str, Any]:
    scope = decide_scope(
        fields.kind,
        {"armed_forces": fields.armed_forces, "size": fields.size, "school_level": fields.school_level},
        override=fields.in_scope_override,
        override_reason=fields.in_scope_reason,
        rules=rules,
    )
    return {
        # The commune manages units that have a commune; a unit registered at province level only is provincial.
        "managing_level": fields.managing_level or ("commune" if fields.commune_code else "province"),
        # Without an explicit key, the enterprise tax code or the school code identifies the unit on re-import.
        "external_key": fields.external_key or fields.tax_code or fields.school_code,
        "in_scope": scope.in_scope,
        "out_of_scope_rule": scope.rule,
        "in_scope_reason": scope.override_reason,
    }


def create_unit(
    fields: UnitFields, *, unit_id: str, now: datetime, rules: ScopeRules | None = None
) -> tuple[Unit, list[UnitRegistered]]:
    """A new unit with its scope derived, plus the `UnitRegistered` event to emit. Its area must be a place of
    the national list or a local area (422 unknown_area)."""
    check_known_area(make_area_code(fields.province_code, fields.commune_code))
    data = fields.model_dump()
    data.update(_derive(fields, rules=rules))
    unit = Unit.model_validate({**data, "unit_id": unit_id, "created_at": now, "updated_at": now})
    event = UnitRegistered(
        unit_id=unit.unit_id, name=unit.name, kind=unit.kind, area_code=unit.area_code,
        in_scope=unit.in_scope, external_key=unit.external_key,
    )
    return unit, [event]


def apply_patch(
    unit: Unit, patch: Mapping[str, Any], *, now: datetime, rules: ScopeRules | None = None
) -> tuple[Unit, dict[str, Any], list[UnitUpdated]]:
    """Apply a partial update. Returns the new unit, the `changed` dict (JSON values) and the event, if any.

    `in_scope` in a patch is accepted as the override (with `in_scope_reason`); `in_scope: null` removes it.
    """
    patch = dict(patch)
    if "in_scope" in patch:
        patch["in_scope_override"] = patch.pop("in_scope")
        if patch["in_scope_override"] is None:
            patch.setdefault("in_scope_reason", None)
    refused = sorted(set(patch) - PATCHABLE)
    if refused:
        raise Invalid(f"these fields cannot be changed: {', '.join(refused)}", details={"fields": refused})
    current = unit.model_dump(include=set(UnitFields.model_fields))
    try:
        fields = UnitFields.model_validate({**current, **patch})
    except ValidationError as exc:
        raise Invalid("invalid unit fields", details=[e.model_dump() for e in row_errors(exc)]) from exc
    data = fields.model_dump()
    data.update(_derive(fields, rules=rules))
    updated = Unit.model_validate({**unit.model_dump(), **data, "updated_at": now})
    before, after = unit.model_dump(mode="json"), updated.model_dump(mode="json")
    changed = {k: after[k] for k in after if k != "updated_at" and after[k] != before.get(k)}
    if not changed:
        return unit, {}, []
    if updated.area_code != unit.area_code:
        check_known_area(updated.area_code)  # a unit already registered keeps its area even if the list changes
        changed["area_code"] = updated.area_code
    return updated, changed, [UnitUpdated(unit_id=unit.unit_id, changed=event_changes(changed))]


# Contacts are people's names and phone numbers: the event says that they changed, never what they are now.
PERSONAL_FIELDS = frozenset({"head_of_unit", "security_focal"})
REDACTED = "<changed>"


def event_changes(changed: Mapping[str, Any]) -> dict[str, Any]:
    """The `changed` map as `UnitUpdated` carries it: personal contact values replaced by a marker."""
    return {k: (REDACTED if k in PERSONAL_FIELDS else v) for k, v in changed.items()}


# --- import rows ---------------------------------------------------------------------------------------------
class RowError(BaseModel):
    model_config = ConfigDict(frozen=True)
    field: str
    message: str


class ImportRow(BaseModel):
    """The outcome of validating one import record: the unit fields, or the reasons it is rejected."""

    model_config = ConfigDict(frozen=True)
    line: int
    fields: UnitFields | None = None
    errors: tuple[RowError, ...] = ()

    @property
    def ok(self) -> bool:
        return self.fields is not None


_TRUE = {"true", "1", "yes", "y", "x", "có", "co"}
_FALSE = {"false", "0", "no", "n", "không", "khong"}
_LIST_FIELDS = {"models"}
_BOOL_FIELDS = {"armed_forces", "in_scope", "in_scope_override"}


def _normalise_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """CSV gives strings: blank means absent, `a.b` columns nest, lists are `;`-separated, booleans are words."""
    out: dict[str, Any] = {}
    for raw_key, value in row.items():
        key = str(raw_key).strip()
        if not key:
            continue
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                continue
            if key in _LIST_FIELDS:
                value = [v for v in (p.strip() for p in value.replace("|", ";").split(";")) if v]
            elif key in _BOOL_FIELDS and value.lower() in _TRUE | _FALSE:
                value = value.lower() in _TRUE
        if value is None:
            continue
        if "." in key:
            head, _, tail = key.partition(".")
            nested = out.setdefault(head, {})
            if isinstance(nested, dict):
                nested[tail] = value
            continue
        out[key] = value
    return out


def validate_import_row(
    row: Mapping[str, Any], *, line: int, commune_province: Mapping[str, str] | None = None
) -> ImportRow:
    """Turn a CSV or JSON-lines record into unit fields, or into a per-field error list. Never raises.

    `area_code` (the contract's name, used by `UnitUpserted`) is "PP" or "PP.CCCCC"; a bare commune code is also
    accepted when `commune_province` tells its province.
    `in_scope` from a source registry becomes an override with a default reason.
    """
    data = _normalise_row(row)
    errors = _place_row(data, commune_province or {})
    if "in_scope" in data:
        data["in_scope_override"] = data.pop("in_scope")
        if data["in_scope_override"] is not None:
            data.setdefault("in_scope_reason", "stated by the source registry")
    errors.extend(
        RowError(field=key, message="codes must be strings (leading zeros matter)")
        for key in ("province_code", "commune_code", "district_code", "tax_code", "school_code", "external_key")
        if isinstance(data.get(key), int)
    )
    if errors:
        return ImportRow(line=line, errors=tuple(errors))
    return _checked_row(data, line=line)


def _place_row(data: dict[str, Any], commune_province: Mapping[str, str]) -> list[RowError]:
    """Replace the row's `area_code` by province_code/commune_code; the errors of a code that does not fit."""
    errors: list[RowError] = []
    area = data.pop("area_code", None)
    if area is not None and not isinstance(area, str):
        errors.append(RowError(field="area_code", message="codes must be strings (leading zeros matter)"))
    elif isinstance(area, str) and "." in area:
        errors += _place_full_area(data, area)
    elif area is not None:
        errors += _place_short_area(data, area, commune_province)
    if commune_province and "province_code" not in data and data.get("commune_code") in commune_province:
        data["province_code"] = commune_province[str(data["commune_code"])]
    return errors


def _place_full_area(data: dict[str, Any], area: str) -> list[RowError]:
    """A "PP.CCCCC" area code: its province and commune, which stated codes must not contradict."""
    try:
        province, commune = split_area_code(area)
    except Invalid as exc:
        return [RowError(field="area_code", message=exc.message)]
    errors: list[RowError] = []
    for key, value in (("province_code", province), ("commune_code", commune)):
        if key in data and data[key] != value:
            errors.append(RowError(field=key, message=f"{data[key]} contradicts area_code {area}"))
        data[key] = value
    return errors


def _place_short_area(data: dict[str, Any], area: str, commune_province: Mapping[str, str]) -> list[RowError]:
    """A code without a dot: a commune of `commune_province`, a province, or the commune of a stated province."""
    if area in commune_province:
        data.setdefault("commune_code", area)
        data.setdefault("province_code", commune_province[area])
    elif "province_code" not in data and "commune_code" not in data and len(area) <= 2:
        data["province_code"] = area
    elif "province_code" in data and area != data["province_code"]:
        data.setdefault("commune_code", area)
    elif "province_code" not in data:
        return [RowError(field="province_code", message=f"cannot tell the province of area {area}")]
    return []


def _checked_row(data: dict[str, Any], *, line: int) -> ImportRow:
    """The unit fields of a placed row, checked as a new unit's are: valid fields, a scope override with its
    reason, a known area and a key a re-import finds the unit by."""
    try:
        fields = UnitFields.model_validate(data)
        decide_scope(fields.kind, {}, override=fields.in_scope_override, override_reason=fields.in_scope_reason)
    except ValidationError as exc:
        return ImportRow(line=line, errors=row_errors(exc))
    except Invalid as exc:
        return ImportRow(line=line, errors=(RowError(field="in_scope_reason", message=exc.message),))
    try:
        check_known_area(make_area_code(fields.province_code, fields.commune_code))
    except UnknownArea as exc:
        near = ", ".join(f"{m['code']} {m['name']}" for m in exc.details["close_matches"])
        return ImportRow(line=line, errors=(RowError(field="area_code", message=f"{exc.message}; near: {near}"),))
    if fields.external_key is None and fields.tax_code is None and fields.school_code is None:
        # Without a key a re-import would create a duplicate, so the row is refused rather than guessed.
        return ImportRow(
            line=line, errors=(RowError(field="external_key", message="external_key, tax_code or school_code needed"),)
        )
    return ImportRow(line=line, fields=fields)


def row_errors(exc: ValidationError) -> tuple[RowError, ...]:
    """An import row's errors: each invalid field (or the row) with pydantic's message, never the value."""
    return tuple(RowError(field=p.field if p.loc else "row", message=p.message) for p in problems(exc))
