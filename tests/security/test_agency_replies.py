"""Replies to the agencies (issue 19, item 4): a forwarded tip is answered with `TipAccepted.v1` on the agency's
own reply subject, its receipt encrypted to the agency's registered key (only that key opens it, and the receipt
then follows the tip up); a refused inbound message is answered with `InboundRejected.v1` carrying the agency's
reference and the reason, never the body. Real NATS, SQLite/PostgreSQL, the operator's CLI."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from typer.testing import CliRunner

from services.tips.cli import app as tips_cli
from shared.settings import Settings
from shared.testing import eventually
from tests.integration.spine.helpers import publish_raw, stream_messages
from tests.integration.tips.tips_support import Clock, Tips, tips_running, tips_settings
from tests.integration.units.units_support import Harness, units_harness

AGENCY = "national-app"
REPORTER = {"name": "Võ Thị Hồng Nhung", "phone": "0938 111 222", "email": "nhung.vo@example.vn",
            "id_number": "079188001122"}
SECRETS = ("Võ Thị Hồng Nhung", "0938 111 222", "nhung.vo@example.vn", "079188001122")
DESCRIPTION = "Mất trộm xe máy trước chợ Bến Thành"
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def agency_key_dir(tmp_path: Path) -> Path:
    return tmp_path / "agency-keys"


@pytest.fixture
async def tips(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
               namespace: str, agency_key_dir: Path) -> AsyncIterator[Tips]:
    settings = tips_settings(settings_factory, database_url, tips_agency_key_dir=agency_key_dir)
    async with tips_running(settings, Clock(), nats_url, namespace) as harness:
        yield harness


def register_key(agency_key_dir: Path, tmp_path: Path, agency: str) -> ECKey:
    """The operator registers the agency's public key with the CLI; the agency keeps the private key."""
    private = ECKey.generate_key("P-256")
    jwks_file = tmp_path / f"{agency}.public.json"
    jwks_file.write_text(json.dumps({"keys": [dict(private.as_dict(private=False)) | {"kid": f"{agency}-2026"}]}))
    result = CliRunner().invoke(tips_cli, ["agency-key", "--agency", agency, "--jwks", str(jwks_file),
                                           "--key-dir", str(agency_key_dir)])
    assert result.exit_code == 0, result.output
    assert f"{agency}-2026" in result.output
    return private


def forwarded(reference: str, **fields: Any) -> dict[str, Any]:
    return {"category": "theft", "description": DESCRIPTION, "area_code": "79", "anonymous": False,
            "reference": reference} | fields


async def replies(tips_or_ns: str, nats_url: str, agency: str, reply_type: str, n: int) -> list[dict[str, Any]]:
    subject = f"{tips_or_ns}.antq.outbound.{agency}.{reply_type}"

    async def enough() -> list[dict[str, Any]]:
        found = [m for m in await stream_messages(nats_url, f"{tips_or_ns}_OUTBOUND") if m["subject"] == subject]
        return found if len(found) >= n else []

    return await eventually(enough, timeout=20, what=f"{n} {reply_type} on {subject}")


def guide_receipt_of() -> Callable[[dict[str, Any], ECKey], str]:
    """`receipt_of` as the README's agency consumer gives it (its imports and the function, not the network part)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    [block] = [b for b in blocks if "def receipt_of(" in b]
    namespace: dict[str, Any] = {}
    exec(block.split("async def main")[0], namespace)  # the documentation's own code
    return namespace["receipt_of"]  # type: ignore[no-any-return]


def open_receipt(token: str, key: ECKey) -> dict[str, Any]:
    return dict(json.loads(jwe.decrypt_compact(token, key, algorithms=["ECDH-ES", "A256GCM"]).plaintext or b""))


async def test_a_forwarded_tip_is_answered_with_a_receipt_only_the_agency_opens_and_it_follows_the_tip_up(
        tips: Tips, agency_key_dir: Path, tmp_path: Path) -> None:
    private = register_key(agency_key_dir, tmp_path, AGENCY)
    sealed = await tips.seal(REPORTER)
    await tips.publish_inbound(AGENCY, forwarded("NA-2026-0001", reporter_jwe=sealed), str(uuid.uuid4()))

    [reply] = await replies(tips.namespace, tips.nats_url, AGENCY, "TipAccepted.v1", 1)
    event = reply["body"]
    assert event["type"] == "TipAccepted.v1" and event["source"] == "antq/tips"
    assert reply["headers"]["Nats-Msg-Id"] == event["id"]
    data = event["data"]
    assert data["reference"] == "NA-2026-0001" and "receipt_withheld" not in data
    header = json.loads(base64.urlsafe_b64decode(data["receipt_jwe"].split(".")[0] + "=="))
    assert header == {"alg": "ECDH-ES", "enc": "A256GCM", "kid": f"{AGENCY}-2026", "epk": header["epk"]}
    opened = open_receipt(data["receipt_jwe"], private)
    assert opened["tip_id"] == data["tip_id"] and opened["reference"] == "NA-2026-0001"
    # Nothing of the reporter, the tip's text or the receipt in clear on the reply subject.
    text = reply["data"].decode()
    assert opened["receipt"] not in text and DESCRIPTION not in text
    assert not [s for s in SECRETS if s in text]
    # Another key (another agency's, or one guessed) does not open it.
    with pytest.raises((JoseError, ValueError)):
        open_receipt(data["receipt_jwe"], ECKey.generate_key("P-256"))

    # The README's consumer opens it the same way, and the receipt is the reporter's: it follows the tip up.
    assert guide_receipt_of()(data, private) == opened["receipt"]
    r = await tips.http.post("/tips/follow-up", json={"receipt": opened["receipt"]})
    assert r.status_code == 200, r.text
    assert r.json()["tip_id"] == data["tip_id"]


async def test_exactly_one_reply_per_tip_when_the_message_comes_again(
        tips: Tips, agency_key_dir: Path, tmp_path: Path) -> None:
    register_key(agency_key_dir, tmp_path, AGENCY)
    event_id = str(uuid.uuid4())
    await tips.publish_inbound(AGENCY, forwarded("NA-2026-0002"), event_id)
    await replies(tips.namespace, tips.nats_url, AGENCY, "TipAccepted.v1", 1)
    # The same event delivered again (past JetStream's duplicate window: a new Nats-Msg-Id), and the agency
    # re-sending the tip under a new event id with the same reference.
    envelope = {"specversion": "1.0", "id": event_id, "source": f"agency/{AGENCY}", "type": "TipSubmitted.v1",
                "time": "2026-03-02T01:00:00Z", "data": forwarded("NA-2026-0002")}
    await publish_raw(tips.nats_url, f"{tips.namespace}.antq.inbound.{AGENCY}.TipSubmitted.v1",
                      json.dumps(envelope).encode(), msg_id=f"{event_id}-again")
    await tips.publish_inbound(AGENCY, forwarded("NA-2026-0002"), str(uuid.uuid4()))
    # A later tip is the marker that the two before it were processed (one work-queue consumer, in order).
    await tips.publish_inbound(AGENCY, forwarded("NA-2026-0003"), str(uuid.uuid4()))

    await replies(tips.namespace, tips.nats_url, AGENCY, "TipAccepted.v1", 2)
    await tips_outbox_drained(tips)
    found = await replies(tips.namespace, tips.nats_url, AGENCY, "TipAccepted.v1", 2)
    assert sorted(m["body"]["data"]["reference"] for m in found) == ["NA-2026-0002", "NA-2026-0003"]


async def tips_outbox_drained(tips: Tips) -> None:
    from sqlalchemy import func, select

    from shared.db import outbox

    async def empty() -> bool:
        async with tips.service.db.read() as session:
            return (await session.execute(select(func.count()).select_from(outbox)
                                          .where(outbox.c.state != "sent"))).scalar_one() == 0

    await eventually(empty, timeout=15, what="outbox drained")


async def test_without_a_registered_key_the_tip_is_accepted_and_the_reply_says_the_receipt_was_withheld(
        tips: Tips) -> None:
    await tips.publish_inbound("no-key-agency", forwarded("NK-1"), str(uuid.uuid4()))
    [reply] = await replies(tips.namespace, tips.nats_url, "no-key-agency", "TipAccepted.v1", 1)
    data = reply["body"]["data"]
    assert data["reference"] == "NK-1" and data["receipt_withheld"] == "no_agency_key"
    assert "receipt_jwe" not in data
    r = await tips.http.get(f"/tips/{data['tip_id']}", headers=tips.auth("officer", "79"))
    assert r.status_code == 200, r.text  # the tip itself was accepted
    metrics = (await tips.http.get("/metrics")).text
    assert 'antq_tips_receipts_withheld_total{agency="no-key-agency"} 1.0' in metrics
    # Both replies are in the service's AsyncAPI document, with their schema.
    channels = (await tips.http.get("/asyncapi.json")).json()["channels"]
    assert {f"{tips.namespace}.antq.outbound.*.TipAccepted.v1",
            f"{tips.namespace}.antq.outbound.*.InboundRejected.v1"} <= set(channels)


async def test_a_refused_tip_is_answered_with_its_reference_and_reason_and_never_its_body(
        tips: Tips, agency_key_dir: Path, tmp_path: Path) -> None:
    register_key(agency_key_dir, tmp_path, AGENCY)
    clear_id = str(uuid.uuid4())
    await tips.publish_inbound(AGENCY, forwarded("NA-CLEAR", reporter=REPORTER), clear_id)
    await tips.publish_inbound(AGENCY, forwarded("NA-NOTEXT", description=""), str(uuid.uuid4()))
    await tips.publish_inbound(AGENCY, forwarded("NA-SEALED-WRONG", reporter_jwe="not.a.jwe.at.all"),
                               str(uuid.uuid4()))
    # Not even JSON: no reference to give back, the reason still goes back.
    await publish_raw(tips.nats_url, f"{tips.namespace}.antq.inbound.{AGENCY}.TipSubmitted.v1", b"{oops",
                      msg_id=str(uuid.uuid4()))

    found = await replies(tips.namespace, tips.nats_url, AGENCY, "InboundRejected.v1", 4)
    by_reference = {m["body"]["data"].get("reference"): m["body"]["data"] for m in found}
    assert set(by_reference) == {"NA-CLEAR", "NA-NOTEXT", "NA-SEALED-WRONG", None}
    assert by_reference["NA-CLEAR"]["reason_code"] == "plaintext_identity"
    assert by_reference["NA-CLEAR"]["message_id"] == clear_id
    assert by_reference["NA-CLEAR"]["message_type"] == "TipSubmitted.v1"
    assert by_reference["NA-NOTEXT"]["reason_code"] == "invalid"
    assert "description" in by_reference["NA-NOTEXT"]["reason"]
    assert by_reference["NA-SEALED-WRONG"]["reason_code"] == "undecryptable_identity"
    assert by_reference[None]["reason_code"] == "undecodable"
    for message in found:
        text = message["data"].decode()
        assert not [s for s in SECRETS if s in text] and DESCRIPTION not in text
    # The operator still has each in the DLQ, without its body.
    letters = await stream_messages(tips.nats_url, f"{tips.namespace}_DLQ")
    assert len(letters) == 4 and not [m for m in letters if m["data"]]
    # Nothing went to the tip's own subject space, and no TipAccepted for a refused tip.
    accepted = [m for m in await stream_messages(tips.nats_url, f"{tips.namespace}_OUTBOUND")
                if m["subject"].endswith("TipAccepted.v1")]
    assert accepted == []


@pytest.fixture
async def units(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
                namespace: str) -> AsyncIterator[Harness]:
    async with units_harness(settings_factory, database_url, nats_url, namespace) as harness:
        yield harness


async def test_a_refused_incident_or_unit_is_answered_to_the_agency_that_sent_it(units: Harness) -> None:
    await units.publish_inbound("labour-dept", "IncidentReported.v1", {
        "unit_id": "no-such-unit", "category": "illegal_strike", "occurred_at": "2026-01-20T08:30:00+07:00",
        "reference": "LD-2026-003"})
    await units.publish_inbound("business-registry", "UnitUpserted.v1", {
        "external_key": "0312345678", "name": "Công ty Hoàng Long", "kind": "spaceship", "area_code": "79",
        "reference": "BR-17"})

    [incident] = await replies(units.namespace, units.nats_url, "labour-dept", "InboundRejected.v1", 1)
    data = incident["body"]["data"]
    assert data["reference"] == "LD-2026-003" and data["message_type"] == "IncidentReported.v1"
    assert data["reason_code"] == "rejected" and "unknown unit" in data["reason"]
    assert incident["body"]["source"] == "antq/units"
    [unit] = await replies(units.namespace, units.nats_url, "business-registry", "InboundRejected.v1", 1)
    assert unit["body"]["data"]["message_type"] == "UnitUpserted.v1"
    assert unit["body"]["data"]["reference"] == "BR-17"
    assert unit["body"]["data"]["reason_code"] == "invalid" and "kind" in unit["body"]["data"]["reason"]
    assert "Hoàng Long" not in unit["data"].decode()
    # Each agency's reply is on its own subject only.
    everything = await stream_messages(units.nats_url, f"{units.namespace}_OUTBOUND")
    assert sorted(m["subject"].removeprefix(f"{units.namespace}.") for m in everything) == [
        "antq.outbound.business-registry.InboundRejected.v1", "antq.outbound.labour-dept.InboundRejected.v1"]
