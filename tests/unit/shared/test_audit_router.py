"""`GET /audit`, made once by `shared.audit.audit_router` for every service that keeps an audit trail: the OpenAPI
document marks it bearer-protected through the factory (the policy it closes over, in another module than the
service's routes), with the service's own words for its filters. Its answers are the services' integration tests'
(tests/integration/awards/test_awards_workflow_api.py, the authorisation matrix)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import MetaData

from shared.apidocs import install_api_docs
from shared.audit import audit_router, audit_table
from shared.db import Database
from shared.policy import Policy, Rule

POLICY = Policy([Rule("audit.read", {"admin": "any"}, description="the audit trail"),
                 Rule("things.read", public=True, description="things")])


def _app(tmp_path: Path) -> FastAPI:
    metadata = MetaData()
    table = audit_table(metadata)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}", source="test")
    app = FastAPI(docs_url=None, redoc_url=None)
    install_api_docs(app)
    app.include_router(audit_router(POLICY, table, db, action_example="thing.change", target_description="a thing"))
    return app


def test_the_factory_route_is_marked_bearer_protected_with_the_services_words(tmp_path: Path) -> None:
    app = _app(tmp_path)
    operation = app.openapi()["paths"]["/audit"]["get"]
    assert operation["security"] == [{"bearer": []}]
    assert operation["tags"] == ["audit"]
    assert operation["summary"] == "The hash-chained audit trail, newest first (administrators; read-only)"
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert list(parameters) == ["action", "target", "limit", "cursor"]
    assert parameters["action"]["description"] == "e.g. thing.change"
    assert parameters["target"]["description"] == "a thing"
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "Page_AuditEntryOut_")
