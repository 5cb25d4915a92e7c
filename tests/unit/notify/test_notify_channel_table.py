"""The channel-traits table (services/notify/domain/channels.py) is the one place a channel is described: the
names notify accepts, documents and counts, the target it checks, the message it renders and `GET /channels` all
follow it. A fake extra row is added to the table and found everywhere they are derived."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.notify.app import build
from services.notify.domain import Recipient, Templates
from services.notify.domain import channels as table
from services.notify.domain.channels import ChannelTraits, channel_names, traits
from services.notify.metrics import NotifyMetrics
from shared.contracts.envelope import new_event
from shared.contracts.events import Channel, TipReceived
from shared.settings import Settings

PIGEON = ChannelTraits("pigeon", label_vi="Bồ câu đưa thư", label_en="Carrier pigeon", word_vi="bồ câu",
                       word_en="pigeon", target="phone", message="short_text", immediate=False)


@pytest.fixture
def with_pigeon(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(table, "CHANNELS", (*table.CHANNELS, PIGEON))
    yield


def _labels(registry: CollectorRegistry, metric: str) -> set[str]:
    return {sample.labels["channel"] for family in registry.collect() for sample in family.samples
            if sample.name == metric}


def _client(tmp_path: Path) -> tuple[Any, httpx.AsyncClient]:
    service = build(Settings(data_dir=tmp_path))
    return service, httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://notify")


def _enums(document: dict[str, Any]) -> dict[str, list[str]]:
    """The enums the API documents for channel names: the bodies' fields and the delivery log's query."""
    schemas = document["components"]["schemas"]

    def enum(schema: dict[str, Any]) -> list[str]:
        for option in schema.get("anyOf", [schema]):
            if "enum" in option:
                return list(option["enum"])
            if "items" in option:
                return enum(option["items"])
        raise AssertionError(f"no enum in {schema}")

    query = next(p for p in document["paths"]["/deliveries"]["get"]["parameters"] if p["name"] == "channel")
    return {"SubscriptionIn.channel": enum(schemas["SubscriptionIn"]["properties"]["channel"]),
            "PreferencesBody.channels": enum(schemas["PreferencesBody"]["properties"]["channels"]),
            "ChannelTestIn.channel": enum(schemas["ChannelTestIn"]["properties"]["channel"]),
            "GET /deliveries?channel": enum(query["schema"])}


def test_the_event_contract_names_the_channels_of_the_table() -> None:
    """`NotificationDelivered`/`NotificationFailed` carry the channel: a row needs its name in the contract too."""
    assert set(get_args(Channel)) == set(channel_names())


async def test_the_api_and_the_metrics_name_the_channels_of_the_table(tmp_path: Path) -> None:
    service, client = _client(tmp_path)
    names = list(channel_names())
    assert names == ["inbox", "email", "webhook", "sms"]
    assert all(documented == names for documented in _enums(service.app.openapi()).values())
    registry = CollectorRegistry()
    NotifyMetrics(registry)
    assert _labels(registry, "antq_notify_queue_depth") == set(names)
    token = service.tokens.issue(role="unit", unit="U1", sub="u1")
    async with client:
        answer = await client.get("/channels", headers={"Authorization": f"Bearer {token}"})
        anonymous = await client.get("/channels")
    assert anonymous.status_code == 401
    assert answer.status_code == 200
    assert answer.json() == {"channels": [
        {"name": "inbox", "label_vi": "Hộp thông báo", "label_en": "Inbox", "target": None},
        {"name": "email", "label_vi": "Thư điện tử", "label_en": "Email", "target": "email"},
        {"name": "webhook", "label_vi": "Webhook", "label_en": "Webhook", "target": "url"},
        {"name": "sms", "label_vi": "Tin nhắn SMS", "label_en": "SMS", "target": "phone"},
    ]}


@pytest.mark.usefixtures("with_pigeon")
async def test_a_row_added_to_the_table_is_known_everywhere(tmp_path: Path) -> None:
    # The metrics count it from the start.
    registry = CollectorRegistry()
    NotifyMetrics(registry)
    assert "pigeon" in _labels(registry, "antq_notify_queue_depth")
    assert "pigeon" in _labels(registry, "antq_notify_retries_total")
    # The API documents it wherever a channel is named, and accepts it: a deployment without the channel refuses
    # it as not configured (not as an unknown name), while a name outside the table is still invalid.
    service, client = _client(tmp_path)
    assert all(names[-1] == "pigeon" for names in _enums(service.app.openapi()).values())
    admin = {"Authorization": f"Bearer {service.tokens.issue(role='admin', sub='root')}"}
    body = {"event_types": ["antq.tips.TipReceived.v1"], "target": "+84900000001"}
    async with client:
        pigeon = await client.post("/subscriptions", json={**body, "channel": "pigeon"}, headers=admin)
        owl = await client.post("/subscriptions", json={**body, "channel": "owl"}, headers=admin)
        listed = await client.get("/channels", headers=admin)
        log = await client.get("/deliveries", params={"channel": "owl"}, headers=admin)
    assert pigeon.status_code == 422 and pigeon.json()["error"]["code"] == "channel_unavailable", pigeon.text
    assert owl.status_code == 422 and owl.json()["error"]["code"] == "invalid", owl.text
    assert "'pigeon'" in str(owl.json())
    assert log.status_code == 422
    assert listed.json()["channels"][-1] == {"name": "pigeon", "label_vi": "Bồ câu đưa thư",
                                             "label_en": "Carrier pigeon", "target": "phone"}
    # The domain addresses it by its target and renders it by its kind of message (here: as an SMS is).
    recipient = Recipient(recipient_id="unit:U1", kind="unit_contact", unit_id="U1", phone="+84900000002")
    assert recipient.address_for("pigeon") == "+84900000002"
    assert traits("pigeon").templated and traits("pigeon").digest
    event = new_event(TipReceived(tip_id="00000000-0000-0000-0000-000000000001", area_code="79",
                                  category="theft", priority="urgent", channel="web", anonymous=True,
                                  received_at=datetime(2026, 11, 22, 3, tzinfo=UTC)), source="antq/tips")
    templates = Templates()
    for lang in ("vi", "en"):
        assert templates.render(TipReceived.TYPE, "pigeon", lang, event).text == \
            templates.render(TipReceived.TYPE, "sms", lang, event).text
