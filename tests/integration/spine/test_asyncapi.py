"""GET /asyncapi.json of every running service: what it consumes (receive) and every catalogue event it
publishes (send), each with the CloudEvents envelope and the event's own data schema."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest

from shared.contracts.events import EVENT_TYPES
from shared.settings import SERVICES, Settings
from shared.testing import running


@pytest.mark.parametrize("service_name", SERVICES)
async def test_asyncapi_lists_what_the_service_consumes_and_publishes(
        service_name: str, settings_factory: Callable[..., Settings], database_url: Callable[[str], str],
        namespace: str) -> None:
    settings = settings_factory(**{f"{s}_database_url": database_url(s) for s in SERVICES})
    service = importlib.import_module(f"services.{service_name}.app").build(settings)
    async with running(service) as http:
        r = await http.get("/asyncapi.json")
        assert r.status_code == 200
        doc = r.json()
    assert doc["asyncapi"].startswith("3.")
    operations = doc["operations"].values()
    channels = doc["channels"]
    schemas = doc["components"]["schemas"]

    published = sorted(t for t in EVENT_TYPES if t.startswith(f"antq.{service_name}."))
    assert published, "every service publishes catalogue events"
    sends = {op["channel"]["$ref"].rsplit("/", 1)[-1] for op in operations if op["action"] == "send"}
    for event_type in published:
        assert event_type in sends, f"{event_type} is not documented as sent"
        channel = channels[event_type]
        assert channel["address"] == f"{namespace}.{event_type}"
        model = EVENT_TYPES[event_type]
        envelope = schemas[f"{model.__name__}Event"]
        assert {"id", "source", "type", "time", "data"} <= set(envelope["properties"])
        assert envelope["properties"]["type"].get("const") == event_type
        data = schemas[model.__name__]
        assert set(model.model_fields) <= set(data["properties"]), event_type

    receives = [op for op in operations if op["action"] == "receive"]
    assert len(receives) >= len(service.consumers)
