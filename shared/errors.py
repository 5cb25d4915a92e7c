"""Domain errors that every layer understands; the HTTP layer maps them to the contract's JSON error body."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import ValidationError


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


def problems(exc: ValidationError) -> list[Problem]:
    return [Problem(tuple(e["loc"]), str(e["msg"]), str(e["type"]))
            for e in exc.errors(include_input=False, include_url=False, include_context=False)]


def safe_details(exc: ValidationError, *, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """An HTTP error's `details`: `[{"loc": [...], "msg": ..., "type": ...}]`."""
    return [{"loc": [*prefix, *p.loc], "msg": p.message, "type": p.type} for p in problems(exc)]


def field_names(exc: ValidationError) -> list[str]:
    """The invalid fields' dotted paths, sorted, each once: for reasons that must name fields and nothing else."""
    return sorted({p.field for p in problems(exc)})


def reason(exc: ValidationError, limit: int = 1000) -> str:
    """One line naming each invalid field with pydantic's message: `a.b: Field required; c: ...`."""
    return "; ".join(f"{p.field}: {p.message}" for p in problems(exc))[:limit]
