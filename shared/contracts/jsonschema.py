"""JSON Schemas of every event (written by `make contracts`) and the check that a change stays compatible.

A published schema may only grow optional fields. Removing a field, changing its type, making an optional field
required or a required one optional, or dropping a type is a breaking change: publish a `.v2` type instead. The
one exception: a constant that every producer always wrote (it has a default) may become required.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.contracts.envelope import CloudEvent
from shared.contracts.events import CATALOGUE, INBOUND, OUTBOUND, EventData

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
_IGNORED_KEYS = {"title", "description", "default", "examples"}


def schema_for(model: type[EventData]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization")
    schema["$id"] = f"https://antq/schemas/{model.TYPE}.json"
    schema["x-event-type"] = model.TYPE
    return schema


def current_schemas() -> dict[str, dict[str, Any]]:
    out = {model.TYPE: schema_for(model) for model in (*CATALOGUE, *INBOUND, *OUTBOUND)}
    envelope = CloudEvent.model_json_schema(mode="serialization")
    envelope["x-event-type"] = "envelope"
    out["envelope"] = envelope
    return out


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in sorted(current_schemas().items()):
        path = directory / f"{name}.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        written.append(path)
    return written


def published(directory: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _IGNORED_KEYS}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _resolve(schema: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].split("/")[-1]
        return _resolve(schema, schema.get("$defs", {}).get(name, {}))
    if isinstance(node, dict):
        return {k: _resolve(schema, v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(schema, v) for v in node]
    return node


def always_written(field: Any) -> bool:
    """A field every producer has always written: a constant with a non-null default (serialisation writes
    defaults). Marking such a field required breaks no event already published (the envelope's `specversion`)."""
    return isinstance(field, dict) and "const" in field and field.get("default") == field["const"] is not None


def breaking_changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    for name, old_schema in old.items():
        if name not in new:
            problems.append(f"{name}: event type removed")
            continue
        new_schema = new[name]
        old_props = old_schema.get("properties", {})
        new_props = new_schema.get("properties", {})
        old_req, new_req = set(old_schema.get("required", [])), set(new_schema.get("required", []))
        for field, old_field in old_props.items():
            if field not in new_props:
                problems.append(f"{name}.{field}: field removed")
                continue
            before = _strip(_resolve(old_schema, old_field))
            after = _strip(_resolve(new_schema, new_props[field]))
            if before != after:
                problems.append(f"{name}.{field}: type changed from {json.dumps(before)} to {json.dumps(after)}")
        problems.extend(f"{name}.{field}: became required" if field in old_props
                        else f"{name}.{field}: new required field" for field in new_req - old_req
                        if not always_written(_resolve(old_schema, old_props.get(field))))
        problems.extend(f"{name}.{field}: no longer required" for field in old_req - new_req if field in new_props)
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"]:
        for path in write():
            print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
        return 0
    if argv[:1] == ["check"]:
        problems = breaking_changes(published(), current_schemas())
        for p in problems:
            print(p)
        return 1 if problems else 0
    print("usage: python -m shared.contracts.jsonschema write|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
