"""Domain errors that every layer understands; the HTTP layer maps them to the contract's JSON error body."""

from __future__ import annotations

from typing import Any


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
