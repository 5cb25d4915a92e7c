"""Every service's API documentation: the OpenAPI document declares the bearer scheme on each operation, and
`/docs` (Swagger UI) is served entirely by the service itself, so it works on a network without internet access.

Swagger UI is vendored from the npm package swagger-ui-dist (Apache-2.0; shared/static/swagger_ui/ holds its
LICENSE and NOTICE; the version is in the README's dependency notes).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).with_name("static") / "swagger_ui"
ASSETS_URL = "/docs/assets"
BEARER = "bearer"
# A public route says so in its summary, "(public)" or "(public; ...)", as the contract marks them; every other
# one needs a token. tests/security/test_docs_offline.py checks this against the measured authorisation matrix.
PUBLIC_MARK = re.compile(r"\(public\b")
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def install_api_docs(app: FastAPI) -> None:
    """Give `app` (made with docs_url=None, redoc_url=None) its offline /docs and a bearer-aware OpenAPI."""
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
            app.openapi_schema = with_bearer_security(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_bearer_security(document: dict[str, Any]) -> dict[str, Any]:
    """Declare the HTTP bearer scheme and mark each operation: `[]` (no token) when public, else bearer."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "`antq token` or the site's OIDC provider: Authorization: Bearer <token>"}
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method in METHODS:
                public = PUBLIC_MARK.search(operation.get("summary") or "") is not None
                operation["security"] = [] if public else [{BEARER: []}]
    return document
