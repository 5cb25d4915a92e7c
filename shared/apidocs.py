"""Every service's API documentation: the OpenAPI document declares how a caller authenticates and marks each
operation from the authorisation policy, and `/docs` (Swagger UI) is served entirely by the service itself, so it
works on a network without internet access.

An operation's `security` is derived from the policy rules its route consults (`shared.policy`): the action names
(string literals such as `"tips.list"`) that its endpoint and its dependencies name, looked up in the `Policy` of
the service's route modules. Only public rules (or none at all): `security: []`. Only non-public rules: the
service's scheme is required. Both (e.g. tip submission, public but a staff token changes its limit): the
scheme is optional, `[{}, {scheme: []}]`. A route added later is marked the same way without any edit here;
tests/security/test_docs_offline.py compares every operation with the policy and the measured matrix.

Swagger UI is vendored from the npm package swagger-ui-dist (Apache-2.0; shared/static/swagger_ui/ holds its
LICENSE and NOTICE; the version is in the README's dependency notes).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles

from shared.policy import Policy

ASSETS = Path(__file__).with_name("static") / "swagger_ui"
ASSETS_URL = "/docs/assets"
BEARER = "bearer"
SESSION = "session"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def bearer_scheme() -> dict[str, Any]:
    return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "`antq token` or the site's OIDC provider: Authorization: Bearer <token>"}


def session_scheme(cookie: str) -> dict[str, Any]:
    return {"type": "apiKey", "in": "cookie", "name": cookie,
            "description": "The console's session cookie, set by signing in (POST /login or the OIDC provider)"}


def install_api_docs(app: FastAPI, *, session_cookie: str | None = None) -> None:
    """Give `app` (made with docs_url=None, redoc_url=None) its offline /docs and a policy-derived OpenAPI.
    Callers authenticate with a bearer token, or with the session cookie `session_cookie` (the console)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API",
                                   swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            name, scheme = (SESSION, session_scheme(session_cookie)) if session_cookie else (BEARER, bearer_scheme())
            document = with_security(document, operation_security(app, name), name, scheme)
            app.openapi_schema = with_json_errors(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_security(document: dict[str, Any], security: dict[tuple[str, str], list[dict[str, list[str]]]],
                  name: str, scheme: dict[str, Any]) -> dict[str, Any]:
    """Declare the scheme and set each operation's `security` from `security` ((METHOD, path) -> requirement)."""
    document.setdefault("components", {}).setdefault("securitySchemes", {})[name] = scheme
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method in METHODS:
                operation["security"] = security.get((method.upper(), path), [])
    return document


def with_json_errors(document: dict[str, Any]) -> dict[str, Any]:
    """An error answer is the JSON error body (shared.http) even where the operation's success is a page; FastAPI
    gives every documented answer the route's media type, so move the error body's schema to application/json."""
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            for status, answer in operation.get("responses", {}).items():
                content = answer.get("content", {})
                schema = content.get("text/html", {}).get("schema", {})
                if status[:1] in "45" and schema.get("$ref", "").endswith("/ErrorResponse"):
                    content["application/json"] = content.pop("text/html")
    return document


def operation_security(app: FastAPI, scheme: str) -> dict[tuple[str, str], list[dict[str, list[str]]]]:
    """(METHOD, path) -> the operation's security requirement, from the policy rules its route consults."""
    routes = api_routes(app)
    rules = {action: rule.public for policy in app_policies(routes) for action, rule in policy.rules.items()}
    security: dict[tuple[str, str], list[dict[str, list[str]]]] = {}
    for route in routes:
        public = {rules[action] for action in consulted_actions(route, set(rules))}
        requirement: list[dict[str, list[str]]] = []
        if False in public:
            requirement = [{}, {scheme: []}] if True in public else [{scheme: []}]
        for method in route.methods or ():
            security[(method, route.path_format)] = requirement
    return security


def api_routes(app: FastAPI) -> list[Any]:
    """The app's documented API routes as they are served (included routers' prefixes and dependencies applied)."""
    return [r for r in iter_route_contexts(app.routes)
            if isinstance(r.original_route, APIRoute) and r.include_in_schema]


def app_policies(routes: list[Any]) -> list[Policy]:
    """The `Policy` objects that the app's routes (and their dependencies) see: their modules' globals or the
    variables they close over."""
    found: dict[int, Policy] = {}
    for route in routes:
        for call in route_callables(route):
            cells = [cell.cell_contents for cell in getattr(call, "__closure__", None) or ()
                     if cell.cell_contents is not None]
            for value in [*getattr(call, "__globals__", {}).values(), *cells]:
                if isinstance(value, Policy):
                    found[id(value)] = value
    return list(found.values())


def route_callables(route: Any) -> Iterator[Callable[..., Any]]:
    def walk(dependant: Dependant) -> Iterator[Callable[..., Any]]:
        if dependant.call is not None:
            yield inspect.unwrap(dependant.call)
        for sub in dependant.dependencies:
            yield from walk(sub)

    yield inspect.unwrap(route.endpoint)
    yield from walk(route.dependant)


def consulted_actions(route: Any, actions: set[str]) -> set[str]:
    """The policy actions that the route's endpoint and dependencies name, or the helpers of their own module that
    they call (an endpoint that hands its request to `_export(request, "xlsx")` consults what `_export` names)."""
    return {name for call in route_callables(route) for helper in module_helpers(call)
            for name in string_literals(helper) if name in actions}


def module_helpers(call: Callable[..., Any], seen: set[Callable[..., Any]] | None = None) -> list[Callable[..., Any]]:
    """`call` and the functions of its own module that it names, transitively."""
    seen = set() if seen is None else seen
    if call in seen:
        return []
    seen.add(call)
    found = [call]
    module = getattr(call, "__module__", None)
    for name in names_used(call):
        value = getattr(call, "__globals__", {}).get(name)
        if inspect.isfunction(value) and value.__module__ == module:
            found += module_helpers(inspect.unwrap(value), seen)
    return found


@cache
def _nodes(call: Callable[..., Any]) -> tuple[ast.AST, ...]:
    """The syntax nodes of a function's source, read and parsed once (none when its source cannot be read)."""
    try:
        source = textwrap.dedent(inspect.getsource(call))
    except (OSError, TypeError):
        return ()
    return tuple(ast.walk(ast.parse(source)))


@cache
def names_used(call: Callable[..., Any]) -> frozenset[str]:
    return frozenset(node.id for node in _nodes(call) if isinstance(node, ast.Name))


@cache
def string_literals(call: Callable[..., Any]) -> frozenset[str]:
    return frozenset(node.value for node in _nodes(call)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str))
