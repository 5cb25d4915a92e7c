"""The published event schemas: every catalogue event is there, and changes stay compatible."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from jsonschema import Draft202012Validator

from shared.contracts.envelope import CloudEvent
from shared.contracts.events import CATALOGUE, EVENT_TYPES, INBOUND
from shared.contracts.jsonschema import breaking_changes, current_schemas, published

CONTRACT = Path(__file__).resolve().parents[4] / "shared" / "brief" / "contract.md"


def test_published_schemas_match_the_code_without_breaking_changes() -> None:
    problems = breaking_changes(published(), current_schemas())
    assert problems == [], "breaking event-schema changes (publish a .v2 instead):\n" + "\n".join(problems)


def test_every_schema_is_published_run_make_contracts_after_adding_events() -> None:
    assert set(current_schemas()) <= set(published())


# Catalogue events added after the contract was written (documented in docs/*.md and the AsyncAPI documents).


def test_every_catalogue_event_of_the_contract_has_a_model() -> None:
    assert len(CATALOGUE) == 33 and len(INBOUND) == 3
    if CONTRACT.exists():  # the brief sits beside the repository
        named = set(re.findall(r"`(antq\.(?:units|tips|awards|notify)\.[A-Za-z]+\.v1)`", CONTRACT.read_text()))
        # The contract may be extended with new events (DossierSubmitted, TipEscalated); none it names may go.
        assert named <= set(EVENT_TYPES)


def test_removing_a_field_is_detected_as_breaking() -> None:
    old = current_schemas()
    new = copy.deepcopy(old)
    del new["antq.tips.TipReceived.v1"]["properties"]["priority"]
    assert any("priority: field removed" in p for p in breaking_changes(old, new))


def test_new_required_field_and_type_change_are_breaking_but_new_optional_field_is_not() -> None:
    old = current_schemas()
    new = copy.deepcopy(old)
    schema = new["antq.units.UnitCertified.v1"]
    schema["properties"]["province"] = {"type": "string"}
    assert breaking_changes(old, new) == []
    schema["required"].append("province")
    schema["properties"]["year"] = {"type": "string"}
    problems = breaking_changes(old, new)
    assert any("province: new required field" in p for p in problems)
    assert any("year: type changed" in p for p in problems)


def test_the_envelope_requires_what_cloudevents_requires_and_every_event_written_passes() -> None:
    """CloudEvents 1.0 requires `specversion`, `id`, `source` and `type`: the published envelope schema says so,
    an event as the relay writes it validates, and one without any of them does not."""
    envelope = published()["envelope"]
    assert {"specversion", "id", "source", "type"} <= set(envelope["required"])
    assert envelope["properties"]["specversion"]["const"] == "1.0"
    validator = Draft202012Validator(envelope, format_checker=Draft202012Validator.FORMAT_CHECKER)
    data = {"name": "Bến Thành"}
    event = json.loads(CloudEvent(id="e-1", source="antq/units", type="antq.units.Example.v1",
                                  time=datetime(2026, 1, 2, tzinfo=UTC), data=data).to_bytes())
    assert event["specversion"] == "1.0"
    validator.validate(event)
    for attribute in ("specversion", "id", "source", "type"):
        assert not validator.is_valid({k: v for k, v in event.items() if k != attribute}), attribute


def test_a_constant_every_producer_wrote_may_become_required_but_no_other_field() -> None:
    old = current_schemas()
    new = copy.deepcopy(old)
    old["envelope"]["required"].remove("specversion")
    assert breaking_changes(old, new) == []
    old["envelope"]["required"].remove("source")
    assert breaking_changes(old, new) == ["envelope.source: became required"]
