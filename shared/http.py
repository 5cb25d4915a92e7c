"""HTTP conventions shared by every service: the JSON error body, bearer auth, pagination cursors."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.auth import Principal
from shared.contracts.instants import bounded_instant
from shared.db import is_infrastructure_error
from shared.errors import DomainError, Invalid, safe_details
from shared.oidc import TokenVerifier

log = logging.getLogger(__name__)

T = TypeVar("T")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 422, 429)
}


def error_json(status: int, code: str, message: str, details: Any = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status,
                        headers=headers)


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                 422: "invalid", 429: "rate_limited"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        headers = None
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        if exc.status == 429 and isinstance(exc.details, dict) and "retry_after" in exc.details:
            headers = {"Retry-After": str(int(exc.details["retry_after"]))}
        return error_json(exc.status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Input values are left out: a rejected tip's fields may hold a reporter's personal data.
        return error_json(422, "invalid", "the request does not match the schema", safe_details(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # The router names only the methods of the first route whose path matched; a resource served by
            # several routes (GET /follow-up and POST /follow-up) allows them all.
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return error_json(exc.status_code, code, message, None, headers or None)

    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        if not is_infrastructure_error(exc):
            return await _unexpected(request, exc)
        # The database is locked past its busy timeout, unreachable or not migrated yet (the consumers' one
        # classification, `shared.db.is_infrastructure_error`): nothing was stored, the client may retry.
        orig = getattr(exc, "orig", None)
        log.warning("database unavailable: %s", type(orig or exc).__name__)
        return error_json(503, "unavailable", "the service's database is busy or unreachable; retry shortly",
                          None, {"Retry-After": "5"})

    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(SQLAlchemyTimeout, _database_error)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
        return error_json(500, "internal", "internal error; the operator's logs have the details")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods of the resource at `path` (the `Allow` header of a 405): those of every route with the path
    template that names it most precisely (`/tips/follow-up` rather than `/tips/{tip_id}`), as documented."""
    by_template: dict[str, set[str]] = {}
    for route in iter_route_contexts(app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and route.methods and regex.match(path):
            by_template.setdefault(str(route.path_format), set()).update(route.methods)
    if not by_template:
        return []
    template = min(by_template, key=lambda t: t.count("{"))  # the first of the most precise (dicts keep order)
    return sorted(by_template[template])


def bearer_principal(request: Request) -> Principal | None:
    """The caller's principal from `Authorization: Bearer`, or None when the header is absent. Verified once per
    request (kept in `request.state`), however many checks of the request ask for it."""
    if hasattr(request.state, "principal"):
        known: Principal | None = request.state.principal
        return known
    request.state.principal = principal = _verify_bearer(request)
    return principal


def _verify_bearer(request: Request) -> Principal | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        from shared.errors import Unauthorized

        raise Unauthorized("use Authorization: Bearer <token>")
    # Local `antq token` tokens, then the OIDC provider when configured (shared.oidc.CompositeVerifier).
    authority: TokenVerifier = request.app.state.tokens
    return authority.verify(token.strip())


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("cursor is not valid", code="invalid_cursor") from exc


def decode_time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """A keyset cursor `[instant, id]` of a list ordered by a timestamp (as `encode_cursor([at.isoformat(), id])`
    wrote it), with the instant in UTC. Anything else, a time without a zone or out of range included, is 422
    `invalid_cursor`: such a time would otherwise fail only when the database compares it."""
    after = decode_cursor(cursor)
    if after is None:
        return None
    if not (isinstance(after, list) and len(after) == 2 and all(isinstance(v, str) for v in after)):
        raise Invalid("cursor is not valid", code="invalid_cursor")
    try:
        return bounded_instant(datetime.fromisoformat(after[0])), after[1]
    except ValueError:
        raise Invalid("cursor is not valid", code="invalid_cursor") from None


DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# A list's `limit` query parameter: its minimum is in the document (below 1 is 422 `invalid_limit`, clamp_limit).
LIMIT_SCHEMA: dict[str, Any] = {"minimum": 1}


def clamp_limit(limit: int | None) -> int:
    """A list's page size: 50 by default, at most 500 (a larger `limit` gets 500 items and a cursor for the
    rest); below 1 is 422 `invalid_limit`."""
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1:
        raise Invalid("limit must be at least 1", code="invalid_limit")
    return min(limit, MAX_LIMIT)
