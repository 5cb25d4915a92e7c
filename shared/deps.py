"""The HTTP dependencies every service's routes use, in one place.

- The service context: `app.py` installs it once with `install_context(app, ctx)`; routes take it as a typed
  parameter, `ctx: Ctx` with `Ctx = Annotated[TipsContext, Depends(context)]` declared once in the service's
  `api.py`. There is no other accessor and no other `app.state` key for it.
- The caller: `Caller` is the verified bearer principal (401 when absent or invalid). Authorisation stays a
  literal `POLICY.require(...)` call in the route, which the OpenAPI document derives its security from.
- Keyset pagination: `Paging` is the `cursor` and `limit` query parameters, validated once; `paging.after(*shape)`
  decodes the cursor into the shape a list sorts by (`str`, `int`, `datetime`), or 422 `invalid_cursor`;
  `paging.page(items, key)` builds the page with the next cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Query, Request

from shared.auth import Principal
from shared.contracts.instants import bounded_instant
from shared.errors import Invalid, Unauthorized
from shared.http import LIMIT_SCHEMA, Page, bearer_principal, clamp_limit, decode_cursor, encode_cursor

T = TypeVar("T")

CONTEXT_KEY = "ctx"


def install_context(app: FastAPI, ctx: Any) -> None:
    """The composition root's one way of handing the service context to the routes."""
    setattr(app.state, CONTEXT_KEY, ctx)


# The dependencies are coroutines: FastAPI runs a plain `def` dependency in a worker thread, a hop per request
# that the intake path cannot afford.
async def context(request: Request) -> Any:
    """The service context `app.py` installed (typed by each service's `Ctx` alias)."""
    return getattr(request.app.state, CONTEXT_KEY)


async def caller(request: Request) -> Principal:
    """The verified bearer principal; 401 when there is none."""
    principal = bearer_principal(request)
    if principal is None:
        raise Unauthorized("use Authorization: Bearer <token>")
    return principal


async def maybe_caller(request: Request) -> Principal | None:
    """The verified bearer principal, or None without an Authorization header (an invalid token is 401)."""
    return bearer_principal(request)


Caller = Annotated[Principal, Depends(caller)]
MaybeCaller = Annotated[Principal | None, Depends(maybe_caller)]


def _invalid() -> Invalid:
    return Invalid("cursor is not valid", code="invalid_cursor")


def _decode_part(value: Any, kind: type) -> Any:
    if kind is datetime:
        if not isinstance(value, str):
            raise _invalid()
        try:
            return bounded_instant(datetime.fromisoformat(value))
        except ValueError:
            raise _invalid() from None
    if kind is int:  # a database integer: 0 <= n < 2**63, anything else would fail only in the query
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
            raise _invalid()
        return value
    if not isinstance(value, kind):
        raise _invalid()
    return value


def _encode_part(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class Paging:
    """A list's `cursor` and `limit`: the limit already clamped (50 by default, at most 500, below 1 → 422)."""

    cursor: str | None
    limit: int

    def after(self, *shape: type) -> tuple[Any, ...] | None:
        """The cursor as a tuple of `shape` (one type per sort key), None on the first page. A cursor of any other
        shape, a time without a zone or out of range included, is 422 `invalid_cursor`."""
        raw = decode_cursor(self.cursor)
        if raw is None:
            return None
        values = raw if isinstance(raw, list) else [raw]
        if len(values) != len(shape):
            raise _invalid()
        return tuple(_decode_part(v, k) for v, k in zip(values, shape, strict=True))

    @property
    def probe(self) -> int:
        """How many rows to fetch to know whether there is a next page: one more than the page."""
        return self.limit + 1

    def page(self, items: Sequence[T], key: Callable[[T], tuple[Any, ...]], *, probed: bool = False) -> Page[T]:
        """The page of `items`, with a next cursor from the last item's sort key when there may be more: when the
        query fetched `probe` rows (`probed=True`), only if the extra row came; otherwise whenever the page is
        full."""
        shown = list(items[: self.limit])
        more = len(items) > self.limit if probed else len(shown) == self.limit
        next_cursor = encode_cursor([_encode_part(v) for v in key(shown[-1])]) if more and shown else None
        return Page(items=shown, next_cursor=next_cursor)


async def paging(cursor: Annotated[str | None, Query(description="From the previous page's `next_cursor`")] = None,
           limit: Annotated[int | None, Query(json_schema_extra=LIMIT_SCHEMA,
                                              description="Page size: 50 by default, at most 500")] = None,
           ) -> Paging:
    return Paging(cursor=cursor, limit=clamp_limit(limit))


PageQuery = Annotated[Paging, Depends(paging)]
