"""What the OpenAPI documents promise about requests, checked against the services themselves (fast, in process):

- every time and date a request carries is bounded in its schema as the events bound it (2000-2199): a date before
  2000 was schema-valid and its event could not be built;
- the rules between a tip's fields that JSON Schema can state are in the document (`anonymous: false` needs a
  reporter, an anonymous tip carries none; a location or "I don't remember", not both), and agree with the model;
- a 405 names every method of the resource in `Allow` (OPTIONS /tips named GET only).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from services.tips.handlers import SubmitTip
from services.units.domain.activities import ActivityFields
from shared.settings import SERVICES, Settings

# Dates that are not bounded on purpose: a person's first day of service (commemorative medals count decades),
# and the day whose award rules are asked for (any day; the rules in force then, or the first ones).
UNBOUNDED = {"service_started_on", "on"}


def document(service: str, tmp_path: Path) -> dict[str, Any]:
    app = importlib.import_module(f"services.{service}.app").create_app(Settings(data_dir=tmp_path))
    return app.openapi()  # type: ignore[no-any-return]


def request_schemas(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, schema) of every parameter and request body, and of every component schema they use."""
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                yield f"{method.upper()} {path} {parameter['name']}", parameter.get("schema", {})
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                yield f"{method.upper()} {path} body {media}", content.get("schema", {})


def dated_fields(where: str, node: Any, doc: dict[str, Any], seen: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            yield from dated_fields(where, doc["components"]["schemas"][ref.split("/")[-1]], doc, seen)
        if node.get("format") in ("date", "date-time"):
            yield where, node
        for key, value in node.items():
            yield from dated_fields(f"{where}.{key}" if key not in ("properties", "anyOf", "items") else where,
                                    value, doc, seen)
    elif isinstance(node, list):
        for value in node:
            yield from dated_fields(where, value, doc, seen)


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_time_and_date_is_bounded_in_the_schema(service: str, tmp_path: Path) -> None:
    doc = document(service, tmp_path)
    unbounded = [where for name, schema in request_schemas(doc)
                 for where, field in dated_fields(name, schema, doc, set())
                 if "pattern" not in field and where.rsplit(".", 1)[-1].split(" ")[-1] not in UNBOUNDED]
    assert unbounded == []


def test_the_bounds_in_the_schema_are_the_models() -> None:
    doc_schema = ActivityFields.model_json_schema()["properties"]["held_on"]
    pattern = Draft202012Validator({"type": "string", "pattern": doc_schema["pattern"]})
    assert not pattern.is_valid("1999-12-31") and pattern.is_valid("2026-05-01")
    with pytest.raises(ValidationError):  # its event's year would be 1999: refused as input, not a 500
        ActivityFields(kind="training", held_on="1999-12-31")  # type: ignore[arg-type]


TIPS = [
    ({"anonymous": False, "reporter": None}, False),
    ({"anonymous": False}, False),
    ({"anonymous": True, "reporter": {"name": "Nguyễn Văn An"}}, False),
    ({"reporter": {"name": "Nguyễn Văn An"}}, False),
    ({"anonymous": False, "reporter": {"name": "Nguyễn Văn An"}}, True),
    ({"anonymous": True, "reporter": None}, True),
    ({}, True),
    ({"location": "Chợ Bến Thành", "location_unknown": True}, False),
    ({"location": "", "location_unknown": True}, True),
    ({"location": "Chợ Bến Thành", "location_unknown": False}, True),
]


@pytest.mark.parametrize(("fields", "valid"), TIPS)
def test_a_tips_rules_are_in_the_document_as_in_the_model(fields: dict[str, Any], valid: bool,
                                                           tmp_path: Path) -> None:
    doc = document("tips", tmp_path)
    tip = {"category": "ongoing_crime", "description": "Có người lạ cạy cửa kho", **fields}
    validator = Draft202012Validator({**doc["components"], "$defs": doc["components"]["schemas"],
                                      **SubmitTip.model_json_schema()})
    assert validator.is_valid(tip) is valid
    try:
        SubmitTip.model_validate(tip)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is valid


@pytest.mark.parametrize(("path", "allowed"), [("/tips", "GET, POST"), ("/follow-up", "GET, POST"),
                                               ("/tips/follow-up", "POST"), ("/tips/abc/triage", "POST")])
async def test_a_405_names_every_method_of_the_resource(path: str, allowed: str, tmp_path: Path) -> None:
    app = importlib.import_module("services.tips.app").create_app(Settings(data_dir=tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://antq.internal") as http:
        response = await http.request("OPTIONS", path)
    assert response.status_code == 405 and response.headers["allow"] == allowed
    assert response.json()["error"]["code"] == "method_not_allowed"
