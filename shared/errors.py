"""Domain errors that every layer understands; the HTTP layer maps them to the contract's JSON error body."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, get_args

from pydantic_core.core_schema import ErrorType


class DomainError(Exception):
    """A rule of the domain refused a command. Carries the HTTP status the API answers with."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    """A state machine refused a step; `details.allowed` lists the steps that are allowed from here."""

    code = "illegal_transition"

    def __init__(self, message: str, *, state: str, allowed: list[str], details: dict[str, Any] | None = None):
        merged: dict[str, Any] = {"state": state, "allowed": sorted(allowed)}
        if details:
            merged.update(details)
        super().__init__(message, details=merged)
        self.state = state
        self.allowed = sorted(allowed)


class Invalid(DomainError):
    status = 422
    code = "invalid"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class TooManyRequests(DomainError):
    status = 429
    code = "rate_limited"


# --- the one sanitiser of validation errors -----------------------------------------------------------------------
# Every layer that turns a pydantic ValidationError into words (an HTTP 422's details, a DLQ reason, an import
# row's errors, a page's messages) goes through these: field paths, pydantic's message and error type, never the
# input value (it may hold a reporter's identity), never a URL or the error's context objects.


class Problem(NamedTuple):
    loc: tuple[str | int, ...]
    message: str
    type: str

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.loc) or "<root>"


class HasErrors(Protocol):
    """A pydantic `ValidationError` or FastAPI's `RequestValidationError`: both list their errors as dicts."""

    def errors(self) -> Sequence[Any]: ...


# A path part that names a field (or a header, `x-request-id`). Any other string in a path is a key the client
# chose (a dict key, an unexpected field): it may be an e-mail address or a name, so it becomes `*`.
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# Messages pydantic writes from its own templates, which never quote the input. The rest (a validator's
# `ValueError`, an assertion, a custom error) are written by code that may quote it.
_CODE_WRITTEN = frozenset({"value_error", "assertion_error"})
_TEMPLATED: frozenset[str] = frozenset(get_args(ErrorType)) - _CODE_WRITTEN
_WITHHELD = "invalid value"


def _safe_part(part: Any) -> str | int:
    if isinstance(part, int) and not isinstance(part, bool):
        return part
    text = str(part)
    return text if _FIELD_NAME.match(text) else "*"


def _leaves(value: Any, depth: int = 0) -> Iterator[str]:
    """The input's scalar values as text (depth-bounded), to look for in a code-written message."""
    if depth > 8:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            # A key that names a field is the schema's word, not the client's data ("reporter" in "the reporter's
            # identity must be sealed"); any other key may be data.
            if not (isinstance(key, str) and _FIELD_NAME.match(key)):
                yield from _leaves(key, depth + 1)
            yield from _leaves(item, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _leaves(item, depth + 1)
    elif isinstance(value, (str, int, float, bytes)) and not isinstance(value, bool):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if len(text) >= 3:
            yield text


def _safe_message(error: Mapping[str, Any]) -> str:
    message, kind = str(error.get("msg", "")), str(error.get("type", ""))
    if kind in _TEMPLATED:
        return message
    if any(leaf in message for leaf in _leaves(error.get("input"))):
        return _WITHHELD
    return message


def problems(exc: HasErrors) -> list[Problem]:
    """Each error's path, message and type. Paths keep field names and list indexes only; a message written by a
    validator that quotes the input is withheld; the input, the URL and the context objects never leave."""
    return [Problem(tuple(_safe_part(p) for p in e.get("loc", ())), _safe_message(e), str(e.get("type", "")))
            for e in exc.errors()]


def safe_details(exc: HasErrors, *, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """An HTTP error's `details`: `[{"loc": [...], "msg": ..., "type": ...}]`."""
    return [{"loc": [*prefix, *p.loc], "msg": p.message, "type": p.type} for p in problems(exc)]


def field_names(exc: HasErrors) -> list[str]:
    """The invalid fields' dotted paths, sorted, each once: for reasons that must name fields and nothing else."""
    return sorted({p.field for p in problems(exc)})


def reason(exc: HasErrors, limit: int = 1000) -> str:
    """One line naming each invalid field with pydantic's message: `a.b: Field required; c: ...`."""
    return "; ".join(f"{p.field}: {p.message}" for p in problems(exc))[:limit]
