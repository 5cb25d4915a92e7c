"""Last-line check that an outgoing payload (event, log line, metric, notification) holds none of a reporter's data.

Values are compared after folding case and Vietnamese diacritics and collapsing whitespace, so "Nguyễn Văn An"
is found as "NGUYEN VAN AN"; phone numbers are compared on their last 9 digits, so 0912 345 678 is found as
+84912345678. Values shorter than MIN_LENGTH are skipped: a two-letter given name would match everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .duplicates import fold

MIN_LENGTH = 4
PHONE_DIGITS = 9
_SPACES = re.compile(r"\s+")
_NON_DIGIT = re.compile(r"\D")
# A run of digits with the separators people type in phone and ID numbers; letters end a run, so the digits
# scattered through a UUID never join into a false match.
_DIGIT_RUN = re.compile(r"\d[\d\s.()+-]*\d")


@dataclass(frozen=True)
class Leak:
    """Where a reporter value was found (`path` like `data.reporter.name`) and which field it came from."""

    path: str
    field: str


def _norm(text: str) -> str:
    return _SPACES.sub(" ", fold(text)).strip()


def _digits(text: str) -> str:
    return _NON_DIGIT.sub("", text)


def identity_values(identity: Any) -> dict[str, str]:
    """The reporter's values by field name, from a ReporterIdentity/OnBehalfOf model, a mapping or strings."""
    if identity is None:
        return {}
    if isinstance(identity, BaseModel):
        identity = identity.model_dump()
    if isinstance(identity, Mapping):
        out: dict[str, str] = {}
        for key, value in identity.items():
            if isinstance(value, Mapping | BaseModel):
                out.update({f"{key}.{k}": v for k, v in identity_values(value).items()})
            elif value is not None and str(value).strip():
                out[str(key)] = str(value)
        return out
    if isinstance(identity, str):
        return {"value": identity}
    return {f"value{i}": str(v) for i, v in enumerate(identity) if v is not None and str(v).strip()}


def _strings(payload: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    if isinstance(payload, bytes | bytearray):
        payload = bytes(payload).decode("utf-8", errors="replace")
    if isinstance(payload, str):
        yield path, payload
    elif isinstance(payload, Mapping):
        for key, value in payload.items():
            child = f"{path}.{key}" if path else str(key)
            yield child, str(key)
            yield from _strings(value, child)
    elif isinstance(payload, list | tuple | set | frozenset):
        for i, value in enumerate(payload):
            yield from _strings(value, f"{path}[{i}]")
    elif payload is not None:
        yield path, str(payload)


def find_personal_data(payload: Any, identity: Any) -> list[Leak]:
    """Every place in `payload` where one of the reporter's values appears (empty list when clean)."""
    values = identity_values(identity)
    needles: list[tuple[str, str, bool]] = []
    for field, value in values.items():
        digits = _digits(value)
        is_phone = field.endswith("phone") or (len(digits) >= PHONE_DIGITS and len(digits) >= len(value.strip()) - 4)
        if is_phone and len(digits) >= PHONE_DIGITS:
            needles.append((field, digits[-PHONE_DIGITS:], True))
        norm = _norm(value)
        if len(norm) >= MIN_LENGTH:
            needles.append((field, norm, False))
    leaks: list[Leak] = []
    for path, text in _strings(payload, ""):
        norm = _norm(text)
        runs = [_digits(run) for run in _DIGIT_RUN.findall(text)]
        for field, needle, digit_match in needles:
            if any(needle in run for run in runs) if digit_match else (needle in norm):
                leaks.append(Leak(path=path or "$", field=field))
    return list(dict.fromkeys(leaks))


def contains_personal_data(payload: Any, identity: Any) -> bool:
    """Whether any of the reporter's values appears anywhere in `payload`."""
    return bool(find_personal_data(payload, identity))
