"""The tips-inbound consumer takes a batch of forwarded tips at once: each (agency, reference) is processed once,
within a batch and across batches, and each tip is stored as the public intake stores it. Real SQLite."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.tips import store
from services.tips.context import TipsContext
from services.tips.domain import InboundKeyring, seal
from services.tips.domain.secrecy import IdentityCipher
from services.tips.handlers import on_inbound_tips
from shared.blobs import DiskStorage
from shared.bus.consumer import Delivery, Reject
from shared.contracts.envelope import CloudEvent
from shared.contracts.events import TipSubmitted
from shared.db import Database, outbox
from tests.integration.batch_support import fresh_database

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def forwarded(agency: str, reference: str, **fields: Any) -> Delivery:
    data = {"category": "theft", "description": f"Tin chuyển về hành vi trộm cắp ({reference})",
            "area_code": "79.26743", "anonymous": True, "reference": reference} | fields
    env = CloudEvent(id=str(uuid.uuid4()), source=f"agency/{agency}", type="TipSubmitted.v1", time=NOW, data=data)
    return Delivery(envelope=env, data=TipSubmitted.model_validate(data), event_type=TipSubmitted.TYPE,
                    agency=agency, num_delivered=1)


KEYRING = InboundKeyring()
KEYRING.rotate()


def sealed(identity: dict[str, Any]) -> str:
    return seal(identity, KEYRING.jwks())


@pytest.fixture
async def ctx(tmp_path: Path) -> TipsContext:
    """A context on a fresh database (each test disposes of `ctx.db`)."""
    return TipsContext(db=await fresh_database(tmp_path / "tips.db", "tips"),
                       cipher=IdentityCipher([IdentityCipher.generate_key()]), storage=DiskStorage(tmp_path / "f"),
                       inbound_keys=lambda: KEYRING, clock=lambda: NOW)


async def stored(db: Database) -> tuple[dict[tuple[str, str], dict[str, Any]], list[str]]:
    async with db.read() as s:
        refs = {(r.agency, r.reference): r.tip_id for r in await s.execute(select(store.inbound_refs))}
        tips = {r["tip_id"]: dict(r) for r in (await s.execute(select(store.tips))).mappings()}
        events = [r[0] if r[0].startswith("antq.") else r[1]
                  for r in await s.execute(select(outbox.c.event_type, outbox.c.subject))]
    return {key: tips[tip_id] for key, tip_id in refs.items()}, events


async def test_a_batch_processes_each_reference_once_and_stores_each_tip(tmp_path: Path, ctx: TipsContext) -> None:
    db = ctx.db
    try:
        async with db.unit_of_work() as uow:
            await on_inbound_tips([
                forwarded("national-app", "R-1"),
                forwarded("national-app", "R-2", area_code="79.bad area", category="not_a_category"),
                forwarded("national-app", "R-1", description="Gửi lại lần hai"),  # the same reference again
                forwarded("school-registry", "R-1"),  # another agency's R-1 is another tip
                forwarded("national-app", "R-3",
                          reporter_jwe=sealed({"name": "Nguyễn Văn A", "phone": "0901234567"})),
            ], uow, ctx=ctx)
        async with db.unit_of_work() as uow:  # a later batch: R-2 again is known, R-4 is new
            await on_inbound_tips([forwarded("national-app", "R-2"), forwarded("national-app", "R-4")],
                                  uow, ctx=ctx)
        tips, events = await stored(db)
    finally:
        await db.dispose()
    assert sorted(tips) == [("national-app", "R-1"), ("national-app", "R-2"), ("national-app", "R-3"),
                            ("national-app", "R-4"), ("school-registry", "R-1")]
    # Each tip is received once, and answered once on its agency's reply subject.
    assert sorted(events) == sorted(["antq.tips.TipReceived.v1"] * 5 + ["antq.outbound.national-app.TipAccepted.v1"] * 4
                                    + ["antq.outbound.school-registry.TipAccepted.v1"])
    assert all(t["channel"] == "agency" for t in tips.values())
    assert "lần hai" not in tips[("national-app", "R-1")]["description"]  # the first one was kept
    odd = tips[("national-app", "R-2")]
    assert odd["area_code"] is None and odd["category"] == "other"  # unreadable area and category, not dropped
    named = tips[("national-app", "R-3")]
    assert named["confidentiality_requested"] and not named["anonymous"] and named["identity_enc"]
    assert tips[("national-app", "R-4")]["anonymous"] and tips[("national-app", "R-4")]["identity_enc"] is None


async def test_a_tip_that_fails_validation_refuses_the_batch_before_anything_is_prepared(
        tmp_path: Path, ctx: TipsContext) -> None:
    db = ctx.db
    try:
        with pytest.raises(Reject, match="intake validation") as refused:
            async with db.unit_of_work() as uow:
                await on_inbound_tips([forwarded("national-app", "R-1"), forwarded(  # a category intake refuses
                    "national-app", "R-2", anonymous=False,
                    reporter_jwe=sealed({"name": "Trần Thị B", "phone": "0909999999"}),
                    category="x" * 100)], uow, ctx=ctx)
        tips, events = await stored(db)
    finally:
        await db.dispose()
    assert "Trần" not in str(refused.value) and "0909" not in str(refused.value)  # field names, not values
    assert tips == {} and events == []  # the spine then runs each alone: only R-2 goes to the DLQ


async def test_a_sealed_identity_is_opened_and_stored_encrypted_at_rest(tmp_path: Path, ctx: TipsContext) -> None:
    db = ctx.db
    identity = {"name": "Lê Văn C", "email": "c@example.vn",
                "on_behalf_of": {"org_name": "Công ty TNHH Minh Long", "tax_code": "0301234567"}}
    try:
        async with db.unit_of_work() as uow:
            await on_inbound_tips([forwarded("national-app", "R-9", anonymous=False,
                                             reporter_jwe=sealed(identity))], uow, ctx=ctx)
        tips, _ = await stored(db)
    finally:
        await db.dispose()
    row = tips[("national-app", "R-9")]
    assert "Lê Văn" not in row["identity_enc"]
    assert ctx.cipher.decrypt(row["identity_enc"], context=row["tip_id"]) == {
        "reporter": {"name": "Lê Văn C", "phone": None, "email": "c@example.vn", "id_number": None},
        "on_behalf_of": {"org_name": "Công ty TNHH Minh Long", "tax_code": "0301234567"}}


async def test_an_identity_sealed_to_another_key_is_refused_as_undecryptable(tmp_path: Path,
                                                                            ctx: TipsContext) -> None:
    other = InboundKeyring()
    other.rotate()
    db = ctx.db
    try:
        for token in (seal({"name": "Phạm Thị D"}, other.jwks()), "not.a.jwe.at.all"):
            with pytest.raises(Reject, match="undecryptable_identity") as refused:
                async with db.unit_of_work() as uow:
                    await on_inbound_tips([forwarded("national-app", "R-5", anonymous=False, reporter_jwe=token)],
                                          uow, ctx=ctx)
            assert refused.value.kind == "undecryptable_identity"
            assert "Phạm" not in str(refused.value)
        tips, events = await stored(db)
    finally:
        await db.dispose()
    assert tips == {} and events == []


async def test_receipts_of_a_batch_are_sealed_to_the_agency_key_checked_once(
        tmp_path: Path, ctx: TipsContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each forwarded tip's receipt is sealed to its agency's registered key with an ephemeral key of its own (it
    opens with the agency's private key only); the agency's key set is checked and imported once per batch, not
    once per receipt. An agency whose registered set is unusable has every receipt withheld, the tips accepted."""
    from joserfc import jwe
    from joserfc.jwk import ECKey

    from services.tips.domain import sealed as sealed_module

    agency_key = ECKey.generate_key("P-256", private=True)
    registered = {"keys": [dict(agency_key.as_dict(private=False)) | {"kid": "agency-1"}]}
    checked: list[object] = []
    real_check = sealed_module.agency_jwks

    def counting(raw: Any) -> dict[str, list[dict[str, Any]]]:
        checked.append(raw)
        return real_check(raw)

    monkeypatch.setattr(sealed_module, "agency_jwks", counting)
    ctx.agency_keys = lambda agency: registered if agency == "national-app" else {"keys": [{"kty": "oct"}]}
    db = ctx.db
    try:
        async with db.unit_of_work() as uow:
            await on_inbound_tips([forwarded("national-app", f"R-{n}") for n in range(6)]
                                  + [forwarded("broken-app", "B-1"), forwarded("broken-app", "B-2")], uow, ctx=ctx)
            replies = [e.data for e in uow.events if e.type == "TipAccepted.v1"]
    finally:
        await db.dispose()
    assert len(checked) == 2  # one check per agency and batch, not eight
    by_ref = {r["reference"]: r for r in replies}
    assert sorted(by_ref) == ["B-1", "B-2", *(f"R-{n}" for n in range(6))]
    assert by_ref["B-1"]["receipt_withheld"] == by_ref["B-2"]["receipt_withheld"] == "no_agency_key"
    ephemeral = set()
    for n in range(6):
        reply = by_ref[f"R-{n}"]
        opened = jwe.decrypt_compact(reply["receipt_jwe"], agency_key, algorithms=["ECDH-ES", "A256GCM"])
        payload = json.loads(opened.plaintext or b"")
        assert payload["tip_id"] == reply["tip_id"] and payload["reference"] == f"R-{n}" and payload["receipt"]
        assert opened.protected["kid"] == "agency-1"
        ephemeral.add(json.dumps(opened.protected["epk"], sort_keys=True))
    assert len(ephemeral) == 6
