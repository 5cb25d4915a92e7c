"""Syntactically valid sample requests generated from an OpenAPI document (small, deterministic).

Values are minimal but schema-valid; well-known field names get meaningful values (an area in province 79, the
ids created earlier in the run) when those still satisfy the schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st

YEAR = datetime.now(UTC).year
AREA = "79.26743"
SEMANTIC: dict[str, Any] = {
    "area_code": AREA, "area": AREA, "year": YEAR, "anonymous": True, "email": "can.bo@example.vn",
    "phone": "0912345678", "name": "Trường THPT Lê Quý Đôn", "description": "Có người lạ theo dõi cổng trường",
    "reason": "Kiểm tra theo yêu cầu nghiệp vụ", "decision_no": "123/QĐ-UBND", "text": "Xin cảm ơn",
    "category": "theft", "kind": "school", "channel": "inbox", "language": "vi", "note": "ghi chú",
    "org_name": "Công ty TNHH An Toàn", "target": "can.bo@example.vn",
    "province_code": "79", "commune_code": "26743",
}
_PATTERN_CACHE: dict[str, str] = {}


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 50:
        path = schema["$ref"].removeprefix("#/").split("/")
        node: Any = doc
        for part in path:
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def _from_pattern(pattern: str) -> str:
    if pattern not in _PATTERN_CACHE:
        _PATTERN_CACHE[pattern] = find(
            st.from_regex(pattern, fullmatch=True), lambda _: True,
            settings=settings(database=None, max_examples=50, phases=[Phase.generate, Phase.shrink],
                              suppress_health_check=list(HealthCheck)))
    return _PATTERN_CACHE[pattern]


def _fits(schema: dict[str, Any], value: Any) -> bool:
    t = schema.get("type")
    if "enum" in schema:
        return value in schema["enum"]
    if t == "string":
        if not isinstance(value, str):
            return False
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
            return False
        pattern = schema.get("pattern")
        return not pattern or re.search(pattern, value) is not None
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool) and schema.get("minimum", -10**12) <= value \
            <= schema.get("maximum", 10**12)
    if t == "boolean":
        return isinstance(value, bool)
    return False


def example(doc: dict[str, Any], schema: dict[str, Any], name: str = "", hints: dict[str, Any] | None = None,
            depth: int = 0) -> Any:
    schema = resolve(doc, schema)
    hints = hints or {}
    if "const" in schema:
        return schema["const"]
    if "properties" in schema and ("anyOf" in schema or "oneOf" in schema):
        schema = _constrained_object(doc, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _one_of(doc, schema[key], name, hints, depth)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(resolve(doc, part))
        merged.update({k: v for k, v in schema.items() if k != "allOf"})
        return example(doc, merged, name, hints, depth + 1)
    for source in (hints, SEMANTIC):
        if name in source and _fits(schema, source[name]):
            return source[name]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    if "properties" in schema:
        t = "object"
    make = _BY_TYPE.get(t or "string")
    return make(doc, schema, name, hints, depth) if make else None


def _constrained_object(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """An object whose anyOf/oneOf only constrains it (POST /units: province_code or area_code): the object, with
    the first option's required fields."""
    first = resolve(doc, (schema.get("anyOf") or schema.get("oneOf"))[0])
    return {**{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")},
            "required": sorted({*schema.get("required", []), *first.get("required", [])})}


def _one_of(doc: dict[str, Any], choices: list[dict[str, Any]], name: str, hints: dict[str, Any],
            depth: int) -> Any:
    options = [resolve(doc, o) for o in choices if resolve(doc, o).get("type") != "null"]
    if not options:
        return None
    for option in options:  # a meaningful value that fits one of the options wins
        for source in (hints, SEMANTIC):
            if name in source and _fits(option, source[name]):
                return source[name]
    return example(doc, options[0], name, hints, depth + 1)


def _object(doc: dict[str, Any], schema: dict[str, Any], name: str, hints: dict[str, Any], depth: int) -> Any:
    out: dict[str, Any] = {}
    required = set(schema.get("required", []))
    for prop, sub in schema.get("properties", {}).items():
        if prop in required or (depth < 3 and (prop in hints or prop in SEMANTIC)):
            value = example(doc, sub, prop, hints, depth + 1)
            if value is not None or prop in required:
                out[prop] = value
    return out


def _array(doc: dict[str, Any], schema: dict[str, Any], name: str, hints: dict[str, Any], depth: int) -> Any:
    count = max(1, schema.get("minItems", 0))
    if schema.get("maxItems") == 0:
        count = 0
    return [example(doc, schema.get("items", {}), name, hints, depth + 1) for _ in range(count)]


def _integer(doc: dict[str, Any], schema: dict[str, Any], name: str, hints: dict[str, Any], depth: int) -> Any:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in schema else 1)
    high = schema.get("maximum", 10**9)
    return max(int(low), min(1, int(high))) if low <= 1 <= high else int(low)


# String formats and the example each one gets.
_FORMATS: dict[str, Any] = {
    "date-time": f"{YEAR}-03-01T08:00:00Z",
    "date": f"{YEAR}-03-01",
    "email": "can.bo@example.vn",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://hooks.example.vn/antq",
    "url": "https://hooks.example.vn/antq",
    "binary": b"sample",
}


def _string(doc: dict[str, Any], schema: dict[str, Any], name: str, hints: dict[str, Any], depth: int) -> Any:
    fmt = schema.get("format")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    if schema.get("pattern"):
        return _from_pattern(schema["pattern"])
    length = max(1, schema.get("minLength", 1))
    return "x" * min(length, schema.get("maxLength", length))


_BY_TYPE: dict[str, Callable[[dict[str, Any], dict[str, Any], str, dict[str, Any], int], Any]] = {
    "object": _object,
    "array": _array,
    "integer": _integer,
    "number": lambda doc, schema, name, hints, depth: float(schema.get("minimum", 1)),
    "boolean": lambda doc, schema, name, hints, depth: False,
    "string": _string,
}


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                out.append((method.upper(), path, op))
    return out


def build_request(doc: dict[str, Any], path: str, op: dict[str, Any], hints: dict[str, Any]) -> dict[str, Any]:
    """httpx request kwargs (url, params, json/data/files) for one operation."""
    url = path
    params: dict[str, Any] = {}
    for param in op.get("parameters", []):
        param = resolve(doc, param)
        name, where = param["name"], param.get("in")
        schema = param.get("schema", {})
        if where == "path":
            value = hints.get(name)
            if value is None:
                value = example(doc, schema, name, hints)
            url = url.replace("{" + name + "}", str(value))
        elif where == "query" and (param.get("required") or name in ("area_code", "unit_id")):
            value = example(doc, schema, name, hints)
            if value is not None:
                params[name] = value
    kwargs: dict[str, Any] = {"url": url, "params": params}
    body = op.get("requestBody")
    if body:
        content = body.get("content", {})
        if "application/json" in content:
            kwargs["json"] = example(doc, content["application/json"].get("schema", {}), "", hints)
        elif "multipart/form-data" in content or "application/x-www-form-urlencoded" in content:
            media = "multipart/form-data" if "multipart/form-data" in content else "application/x-www-form-urlencoded"
            schema = resolve(doc, content[media].get("schema", {}))
            data: dict[str, Any] = {}
            files: dict[str, Any] = {}
            for prop, sub in schema.get("properties", {}).items():
                if prop not in schema.get("required", []):
                    continue
                value = example(doc, sub, prop, hints)
                if isinstance(value, bytes) or (isinstance(value, list) and value and isinstance(value[0], bytes)):
                    files[prop] = ("sample.txt", b"sample", "text/plain")
                else:
                    data[prop] = value if isinstance(value, str) else __import__("json").dumps(value)
            kwargs["data"] = data
            if files:
                kwargs["files"] = files
        elif content:
            media = next(iter(content))
            kwargs["content"] = b"{}" if "json" in media else b"sample"
            kwargs["headers"] = {"content-type": media}
    return kwargs
