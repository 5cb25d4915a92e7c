"""The channel-traits table (services/notify/domain/channels.py) is the one place a channel is described: the
names notify accepts, documents and counts, the target it checks, the message it renders and `GET /channels` all
follow it. A fake extra row is added to the table and found everywhere they are derived; a fake adapter module
dropped into services/notify/channels/ is wired by itself (no edit of app.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.notify import channels as adapters
from services.notify.app import build
from services.notify.channels import OutgoingMessage, wiring
from services.notify.domain import Recipient, Templates
from services.notify.domain import channels as table
from services.notify.domain.channels import ChannelTraits, channel_names, traits
from services.notify.metrics import NotifyMetrics
from shared.contracts.envelope import new_event
from shared.contracts.events import Channel, TipReceived
from shared.settings import Settings

PIGEON = ChannelTraits("pigeon", label_vi="Bồ câu đưa thư", label_en="Carrier pigeon", word_vi="bồ câu",
                       word_en="pigeon", target="phone", message="short_text", immediate=False)


# An adapter module as a new channel's author writes it: the channel and its factory, wired by its own decorator.
PIGEON_ADAPTER = '''
from services.notify.channels import ChannelAdapter, OutgoingMessage, SendResult, wires
from shared.settings import Settings


class PigeonChannel(ChannelAdapter):
    name = "pigeon"
    provider = "loft"

    async def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(channel=self.name, provider=self.provider, detail=f"flown to {message.target}")


@wires("pigeon")
def pigeon_channel(settings: Settings) -> ChannelAdapter | None:  # the SMTP port stands in for the loft's own setting
    return PigeonChannel() if settings.notify_smtp_port == 2525 else None
'''


@pytest.fixture
def with_pigeon(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(table, "CHANNELS", (*table.CHANNELS, PIGEON))
    yield


@pytest.fixture
def pigeon_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The module `pigeon.py` in (a second folder of) the channels package, unknown to every other module."""
    folder = tmp_path / "adapters"
    folder.mkdir()
    (folder / "pigeon.py").write_text(PIGEON_ADAPTER, encoding="utf-8")
    monkeypatch.setattr(adapters, "__path__", [*adapters.__path__, str(folder)])
    monkeypatch.setattr(wiring, "_FACTORIES", dict(wiring._FACTORIES))
    yield
    sys.modules.pop("services.notify.channels.pigeon", None)


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


def test_every_row_of_the_table_has_an_adapter_that_wires_it() -> None:
    assert list(wiring.factories()) != [] and set(wiring.factories()) == set(channel_names())
    # A deployment with nothing configured has the channels that need no settings; with SMTP and a gateway, all.
    assert wiring.build_channels(Settings()).names() == ["inbox", "webhook"]
    configured = Settings(notify_smtp_host="mail.example", notify_sms_gateway_url="http://sms.example/send",
                          notify_sms_backup_gateway_url="http://sms2.example/send")
    wired = wiring.build_channels(configured)
    assert wired.names() == ["email", "inbox", "sms", "webhook"]
    assert wired.get("sms").provider == "sms-gateway|sms-backup-gateway"


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


@pytest.mark.usefixtures("with_pigeon", "pigeon_adapter")
async def test_an_adapter_module_added_to_the_package_is_wired_without_touching_app(tmp_path: Path) -> None:
    """The new channel's module is found in the package and its factory decides from the settings."""
    assert "pigeon" not in wiring.build_channels(Settings(data_dir=tmp_path)).names()
    settings = Settings(data_dir=tmp_path, notify_smtp_port=2525)
    assert "pigeon" in wiring.build_channels(settings).names()
    assert build(settings).app is not None
    message = OutgoingMessage(notification_id="n1", channel="pigeon", recipient_id="unit:U1", target="+84900000001")
    result = await wiring.build_channels(settings).get("pigeon").send(message)
    assert (result.provider, result.detail) == ("loft", "flown to +84900000001")


@pytest.mark.usefixtures("pigeon_adapter")
def test_an_adapter_for_a_channel_outside_the_table_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pigeon"):
        wiring.build_channels(Settings(data_dir=tmp_path, notify_smtp_port=2525))
