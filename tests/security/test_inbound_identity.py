"""Tips forwarded by other agencies never put a reporter's identity in clear on the bus: the identity arrives
sealed to the tips service's key (JWE, ECDH-ES + A256GCM), an identity in clear is refused without being kept,
and the forwarded message is gone from its work-queue stream once processed. Real NATS and SQLite."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from services.tips import store
from services.tips.cli import app as tips_cli
from services.tips.domain import seal
from shared.bus.dlq import list_dead_letters, replay
from shared.contracts.subjects import STREAMS
from shared.settings import Settings
from shared.testing import eventually
from tests.integration.spine.helpers import stream_messages
from tests.integration.tips.tips_support import Clock, Tips, tips_running, tips_settings

AGENCY = "national-app"
REPORTER = {"name": "Võ Thị Hồng Nhung", "phone": "0938 111 222", "email": "nhung.vo@example.vn",
            "id_number": "079188001122"}
SECRETS = ("Võ Thị Hồng Nhung", "0938 111 222", "nhung.vo@example.vn", "079188001122")


@pytest.fixture
async def tips(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
               namespace: str) -> AsyncIterator[Tips]:
    async with tips_running(tips_settings(settings_factory, database_url), Clock(), nats_url, namespace) as harness:
        yield harness


def forwarded(reference: str, **fields: Any) -> dict[str, Any]:
    return {"category": "theft", "description": "Mất trộm xe máy trước chợ Bến Thành", "area_code": "79",
            "anonymous": False, "reference": reference} | fields


async def every_stream(tips: Tips) -> dict[str, list[dict[str, Any]]]:
    """Every message of every stream of this test's world, read with the raw client."""
    # By name from the registry: listing a shared server's streams is paginated and may stop before ours.
    names = [f"{tips.namespace}_{spec.name}" for spec in STREAMS]
    return {name: await stream_messages(tips.nats_url, name) for name in names}


def text_of(message: dict[str, Any]) -> str:
    return (message["data"] or b"").decode(errors="replace") + json.dumps(message["headers"], ensure_ascii=False)


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


async def dead_letters(tips: Tips, n: int) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]]:
        found = await stream_messages(tips.nats_url, f"{tips.namespace}_DLQ")
        return found if len(found) >= n else []

    return await eventually(enough, timeout=15, what=f"{n} dead letters")


async def test_an_identity_in_clear_is_refused_and_its_dead_letter_keeps_neither_body_nor_identity(
        tips: Tips, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await tips.publish_inbound(AGENCY, forwarded("REF-CLEAR-1", reporter=REPORTER), str(uuid.uuid4()))
    # Identity fields put at the top level are identity in clear too (they must not be silently dropped).
    await tips.publish_inbound(AGENCY, forwarded("REF-CLEAR-2", name=REPORTER["name"], phone=REPORTER["phone"]),
                               str(uuid.uuid4()))

    letters = await dead_letters(tips, 2)
    assert len(letters) == 2
    for letter, reference in zip(letters, ("REF-CLEAR-1", "REF-CLEAR-2"), strict=True):
        headers = letter["headers"]
        assert not letter["data"], "the refused message's bytes are not kept"
        assert headers["Antq-Dlq-Kind"] == "plaintext_identity"
        assert "plaintext_identity" in headers["Antq-Dlq-Reason"]
        assert headers["Antq-Dlq-Body"] == "dropped"
        assert (headers["Antq-Dlq-Agency"], headers["Antq-Dlq-Reference"]) == (AGENCY, reference)
        assert headers["Antq-Dlq-Original-Subject"] == f"antq.inbound.{AGENCY}.TipSubmitted.v1"
        assert not leaks(json.dumps(headers, ensure_ascii=False))
    # Nothing to replay: the agency sends the message again, sealed.
    seqs = [d.seq for d in await list_dead_letters(tips.settings)]
    assert [outcome for _, outcome in await replay(tips.settings, seqs, delete=False)] == [
        "not replayable: the message's body was not kept; the agency sends it again"] * 2

    streams = await every_stream(tips)
    assert streams[f"{tips.namespace}_INBOUND_TIPS"] == [], "the refused message is removed from its stream"
    for name, messages in streams.items():
        assert not leaks(" ".join(text_of(m) for m in messages)), name
    assert not leaks("\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records))
    async with tips.service.db.read() as session:
        assert (await session.execute(select(func.count()).select_from(store.tips))).scalar() == 0


async def test_a_sealed_identity_is_stored_revealable_and_its_message_removed_from_the_bus(
        tips: Tips, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await tips.publish_inbound(AGENCY, forwarded("REF-SEALED-1", reporter_jwe=await tips.seal(REPORTER)),
                               str(uuid.uuid4()))
    received = await eventually(lambda: tips.events("TipReceived.v1"), timeout=15, what="the forwarded tip")
    tip_id = received[0]["body"]["data"]["tip_id"]

    async def processed_and_removed() -> bool:
        streams = await every_stream(tips)
        return streams[f"{tips.namespace}_INBOUND_TIPS"] == []

    await eventually(processed_and_removed, timeout=15, what="the forwarded message removed once processed")
    streams = await every_stream(tips)
    assert set(streams) >= {f"{tips.namespace}_{n}" for n in ("TIPS", "INBOUND_TIPS", "DLQ")}
    for name, messages in streams.items():
        assert not leaks(" ".join(text_of(m) for m in messages)), name
    assert streams[f"{tips.namespace}_DLQ"] == []

    r = await tips.http.post(f"/tips/{tip_id}/reporter", headers=tips.auth("officer", "79"),
                             json={"reason": "Cần liên hệ người báo tin để xác minh thêm"})
    assert r.status_code == 200, r.text
    assert r.json()["reporter"] == REPORTER
    logs = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert not leaks(logs)


async def test_an_identity_that_cannot_be_opened_is_refused_without_its_body(tips: Tips) -> None:
    other_world = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "not-ours",
                             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}
    await tips.publish_inbound(AGENCY, forwarded("REF-BAD-1", reporter_jwe=seal(REPORTER, other_world)),
                               str(uuid.uuid4()))
    [letter] = await dead_letters(tips, 1)
    assert not letter["data"]
    assert letter["headers"]["Antq-Dlq-Kind"] == "undecryptable_identity"
    assert letter["headers"]["Antq-Dlq-Reference"] == "REF-BAD-1"
    assert not leaks(json.dumps(letter["headers"], ensure_ascii=False))


async def test_the_jwk_set_publishes_public_keys_only_and_a_rotation_keeps_the_old_key_opening(
        tips: Tips) -> None:
    first = (await tips.http.get("/.well-known/jwks.json")).json()
    [key] = first["keys"]
    assert {"kty": key["kty"], "crv": key["crv"], "use": key["use"], "alg": key["alg"]} == {
        "kty": "EC", "crv": "P-256", "use": "enc", "alg": "ECDH-ES"}
    assert "d" not in key and key["kid"]
    sealed_before = seal(REPORTER, first)

    result = CliRunner().invoke(tips_cli, ["rotate-inbound-key", "--data-dir", str(tips.settings.data_dir)])
    assert result.exit_code == 0, result.output
    rotated = (await tips.http.get("/.well-known/jwks.json")).json()["keys"]
    assert len(rotated) == 2 and rotated[1]["kid"] == key["kid"] and rotated[0]["kid"] != key["kid"]
    assert all("d" not in k for k in rotated)

    # Sealed to the old key before the agency fetched the new set: still opened.
    await tips.publish_inbound(AGENCY, forwarded("REF-ROT-1", reporter_jwe=sealed_before), str(uuid.uuid4()))
    await tips.publish_inbound(AGENCY, forwarded("REF-ROT-2", reporter_jwe=await tips.seal(REPORTER)),
                               str(uuid.uuid4()))

    async def both() -> list[dict[str, Any]]:
        found = await tips.events("TipReceived.v1")
        return found if len(found) >= 2 else []

    await eventually(both, timeout=15, what="both forwarded tips")
    assert await stream_messages(tips.nats_url, f"{tips.namespace}_DLQ") == []


async def test_the_asyncapi_document_names_the_key_agencies_seal_identities_to(tips: Tips) -> None:
    doc = json.dumps((await tips.http.get("/asyncapi.json")).json())
    assert "/.well-known/jwks.json" in doc and "reporter_jwe" in doc and "ECDH-ES" in doc
