"""`/docs` works on a network without internet access (Swagger UI's files come from the service itself), and
every service's OpenAPI document declares its scheme and marks each operation from the policy: public operations
need no token (`security: []`), every other one a bearer token (the console: its session cookie), exactly as the
service's policy and the measured authorisation matrix say."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from services.console.web.pages import SESSION_COOKIE
from shared.apidocs import install_api_docs
from shared.policy import Policy, Rule
from shared.service import DLQ_POLICY
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


SCHEMES = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
           "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE}}


def measured_actions() -> dict[str, dict[tuple[str, str], set[str]]]:
    """service -> (METHOD, path) -> the policy actions the route consulted when the matrix was measured."""
    routes: dict[str, dict[tuple[str, str], set[str]]] = {}
    service = ""
    for line in MATRIX.read_text().splitlines():
        if line.startswith("## "):
            service = line[3:].strip()
            routes[service] = {}
        elif re.match(r"^(GET|POST|PUT|PATCH|DELETE)\s", line):
            method, path, actions = line.split()[:3]
            routes[service][(method, path)] = set() if actions in ("public", "-") else set(actions.split(","))
    return routes


@pytest.mark.parametrize("service", [*SERVICES, "console"])
async def test_openapi_marks_every_operation_as_the_policy_says(service: str, tmp_path: Path) -> None:
    """Each operation's `security` agrees with the service's policy rules and with the measured matrix: public
    routes (as an anonymous caller reached them) have no requirement or an optional one, every other one
    requires the service's scheme (a bearer token; the console's session cookie), and the actions it consulted
    are non-public rules of the service's POLICY."""
    policy: Policy = importlib.import_module(f"services.{service}.policy").POLICY
    async with client(service, tmp_path) as http:
        document = (await http.get("/openapi.json")).json()
    scheme = "session" if service == "console" else "bearer"
    declared_schemes = document["components"]["securitySchemes"]
    assert set(declared_schemes) == {scheme}
    assert {k: v for k, v in declared_schemes[scheme].items() if k != "description"} == SCHEMES[scheme]
    required, optional = [{scheme: []}], [{}, {scheme: []}]
    measured = measured_public_routes()[service]
    consulted = measured_actions()[service]
    declared: dict[tuple[str, str], bool] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            key = (method.upper(), path)
            assert operation["security"] in ([], required, optional), (key, operation["security"])
            declared[key] = operation["security"] != required
            if not declared[key]:
                assert consulted[key] and all(not rule_of(policy, a).public for a in consulted[key]), key
    assert declared == measured
    if service == "tips":  # public, but a staff token changes the limit that applies: the token is optional
        assert document["paths"]["/tips"]["post"]["security"] == optional
        assert policy.rule("tips.submit").public and not policy.rule("tips.submit_for_reporter").public


def rule_of(policy: Policy, action: str) -> Rule:
    """The service's rule for `action`, or the rule every service shares for its read-only DLQ view."""
    return DLQ_POLICY.rule(action) if action in DLQ_POLICY.rules else policy.rule(action)


def test_security_follows_the_policy_not_the_summary() -> None:
    """A route added later is marked from the rules it consults, whatever its summary says."""
    rules = Policy([Rule("things.read", public=True), Rule("things.write", {"admin": "any"})])
    router = APIRouter()

    @router.get("/things", summary="Read things")
    async def read() -> dict[str, str]:
        rules.authorize(None, "things.read")
        return {}

    @router.post("/things", summary="Write a thing (public)")
    async def write() -> dict[str, str]:
        rules.require(None, "things.write")
        return {}

    @router.get("/plain")
    async def plain() -> dict[str, str]:
        return {}

    app = FastAPI(docs_url=None, redoc_url=None)
    install_api_docs(app)
    app.include_router(router, prefix="/v1")
    paths = app.openapi()["paths"]
    assert paths["/v1/things"]["get"]["security"] == []
    assert paths["/v1/things"]["post"]["security"] == [{"bearer": []}]
    assert paths["/v1/plain"]["get"]["security"] == []
