"""No endpoint or dependency of any service runs in FastAPI's thread pool.

FastAPI runs a plain `def` endpoint or dependency in a worker thread: a thread hand-off on every request (it
cost the public tip intake about a tenth of its CPU) and, for in-memory state such as a rate limiter's buckets,
concurrent mutation from several threads. Every route's endpoint and dependencies are coroutine functions.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from shared.settings import SERVICES, Settings


def _calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also those of included routers (which newer FastAPI keeps as router objects)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(list(inner.routes))


def _runs_in_thread(call: Callable[..., Any]) -> bool:
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else getattr(call, "__call__", call)  # noqa: B004
    return not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target))


@pytest.mark.parametrize("service_name", SERVICES)
def test_every_endpoint_and_dependency_is_a_coroutine(service_name: str, settings_factory: Callable[..., Settings],
                                                       database_url: Callable[[str], str]) -> None:
    settings = settings_factory(**{f"{s}_database_url": database_url(s) for s in SERVICES})
    service = importlib.import_module(f"services.{service_name}.app").build(settings)
    routes = list(_api_routes(service.app.routes))
    assert len(routes) > 8, [r.path for r in routes]  # the service's own routes, not only health and metrics
    sync = sorted({f"{sorted(r.methods)} {r.path}: {getattr(c, '__qualname__', c)}"
                   for r in routes for c in _calls(r.dependant) if _runs_in_thread(c)})
    assert not sync, "these run in FastAPI's thread pool:\n" + "\n".join(sync)
