"""`/docs` works on a network without internet access (Swagger UI's files come from the service itself), and
every service's OpenAPI document declares the bearer scheme: public operations need no token (`security: []`),
every other one a bearer token, exactly as the measured authorisation matrix says."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import httpx
import pytest

from shared.settings import SERVICES, Settings

MATRIX = Path(__file__).with_name("authz_matrix.txt")


def client(service: str, tmp_path: Path) -> httpx.AsyncClient:
    app = importlib.import_module(f"services.{service}.app").create_app(Settings(data_dir=tmp_path))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://antq.internal")


def measured_public_routes() -> dict[str, dict[tuple[str, str], bool]]:
    """service -> (METHOD, path) -> public, from the matrix that test_authz_matrix measures request by request."""
    routes: dict[str, dict[tuple[str, str], bool]] = {}
    service = ""
    for line in MATRIX.read_text().splitlines():
        if line.startswith("## "):
            service = line[3:].strip()
            routes[service] = {}
        elif re.match(r"^(GET|POST|PUT|PATCH|DELETE)\s", line):
            method, path, actions = line.split()[:3]
            routes[service][(method, path)] = actions == "public"
    return routes


@pytest.mark.parametrize("service", SERVICES)
async def test_docs_page_loads_only_files_the_service_serves(service: str, tmp_path: Path) -> None:
    async with client(service, tmp_path) as http:
        page = await http.get("/docs")
        assert page.status_code == 200 and "swagger" in page.text.lower()
        urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
        assert urls and not [u for u in urls if "//" in u], urls  # nothing from another host
        for url in urls:
            r = await http.get(url)
            assert r.status_code == 200, (url, r.status_code)
        bundle = await http.get("/docs/assets/swagger-ui-bundle.js")
        assert "javascript" in bundle.headers["content-type"] and len(bundle.content) > 500_000
        assert (await http.get("/docs/assets/LICENSE")).status_code == 200


@pytest.mark.parametrize("service", SERVICES)
async def test_openapi_declares_bearer_and_marks_exactly_the_public_operations(service: str,
                                                                                 tmp_path: Path) -> None:
    async with client(service, tmp_path) as http:
        document = (await http.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": pytest.approx(
            document["components"]["securitySchemes"]["bearer"]["description"])}
    measured = measured_public_routes()[service]
    declared = {(method.upper(), path): op["security"] == []
                for path, ops in document["paths"].items() for method, op in ops.items()}
    assert all(op["security"] in ([], [{"bearer": []}])
               for ops in document["paths"].values() for op in ops.values())
    assert declared == measured
