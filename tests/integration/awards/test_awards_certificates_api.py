"""Certificates over HTTP: signed on grant, verified valid / tampered / revoked / rotated key, offline with the JWKS,
printable with a QR code; and annulment when the recognition an award rests on is revoked."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from services.awards.cli import app as awards_cli
from services.awards.domain import Keyring
from shared.testing import eventually
from tests.integration.awards.awards_helpers import Awards, certified, drained, registered, revoked


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def _granted(awards: Awards, **overrides: Any) -> dict:
    admin = awards.token("admin")
    body = {"award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": f"p-{uuid.uuid4().hex[:6]}",
            "recipient_name": "Lê Thị Hoa", "year": 2026, "area_code": "01.00004", **overrides}
    award = (await awards.http.post("/awards", json=body, headers=admin)).json()
    for action, payload in (("review", None), ("approve", {"decision_no": "15/QĐ-CAT"}), ("grant", None)):
        r = await awards.http.post(f"/awards/{award['award_id']}/{action}", json=payload, headers=admin)
        assert r.status_code == 200, r.text
    return r.json()


async def _verify(awards: Awards, certificate: Any) -> dict:
    r = await awards.http.post("/certificates/verify", json={"certificate": certificate})
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_granted_certificate_is_public_signed_and_verifies_offline(awards: Awards) -> None:
    award = await _granted(awards)
    cert_id = award["certificate_id"]
    r = await awards.http.get(f"/certificates/{cert_id}")
    assert r.status_code == 200, r.text
    cert = r.json()
    assert (cert["status"], cert["award_id"]) == ("valid", award["award_id"])
    credential = cert["credential"]
    assert credential["id"] == f"urn:uuid:{cert_id}"
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["credentialSubject"]["name"] == "Lê Thị Hoa"
    assert credential["antq"]["decision_no"] == "15/QĐ-CAT"
    status = credential["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry" and status["statusPurpose"] == "revocation"
    assert status["statusListCredential"] == "https://awards.test/status/revocation/0"
    assert credential["issuer"]["id"] == "https://awards.test"

    assert (await _verify(awards, cert["jws"]))["status"] == "valid"
    assert (await _verify(awards, cert))["reason"] == "ok"  # the JSON document as served works too

    # Offline: only the published JWK set and an Ed25519 implementation.
    jwks = (await awards.http.get("/.well-known/jwks.json")).json()
    header_b64, payload_b64, signature_b64 = cert["jws"].split(".")
    header = json.loads(_unb64(header_b64))
    assert header["alg"] == "EdDSA" and header["typ"] == "JWT"
    jwks_url, kid = header["kid"].split("#")
    assert jwks_url == "https://awards.test/.well-known/jwks.json"
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and "d" not in jwk
    Ed25519PublicKey.from_public_bytes(_unb64(jwk["x"])).verify(
        _unb64(signature_b64), f"{header_b64}.{payload_b64}".encode())
    claims = json.loads(_unb64(payload_b64))
    assert {k: v for k, v in claims.items() if k not in ("iss", "sub", "jti", "nbf")} == credential

    page = await awards.http.get(f"/certificates/{cert_id}/print")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text and "Giấy khen" in page.text and "15/QĐ-CAT" in page.text
    assert "Còn hiệu lực" in page.text
    browser = await awards.http.get(f"/certificates/{cert_id}", headers={"Accept": "text/html"})
    assert "<svg" in browser.text
    assert (await awards.http.get(f"/certificates/{uuid.uuid4()}")).status_code == 404


async def test_tampered_foreign_and_malformed_certificates_are_invalid(awards: Awards) -> None:
    cert = (await awards.http.get(f"/certificates/{(await _granted(awards))['certificate_id']}")).json()
    header_b64, payload_b64, signature_b64 = cert["jws"].split(".")
    payload = json.loads(_unb64(payload_b64))
    payload["credentialSubject"]["name"] = "Kẻ Mạo Danh"
    forged = f"{header_b64}.{_b64(json.dumps(payload).encode())}.{signature_b64}"
    result = await _verify(awards, forged)
    assert (result["status"], result["reason"]) == ("invalid", "bad_signature")

    shown = {**cert, "credential": payload}
    assert (await _verify(awards, shown))["reason"] == "content_mismatch"

    stranger = Keyring.generate()
    signed_elsewhere = stranger.sign(_unb64(payload_b64))
    assert (await _verify(awards, signed_elsewhere))["reason"] == "unknown_key"
    assert (await _verify(awards, "not-a-certificate"))["reason"] == "malformed"
    assert (await _verify(awards, {"something": "else"}))["reason"] == "malformed"
    r = await awards.http.post("/certificates/verify", json={})
    assert r.status_code == 422


async def test_an_annulled_award_verifies_as_revoked(awards: Awards) -> None:
    award = await _granted(awards)
    cert = (await awards.http.get(f"/certificates/{award['certificate_id']}")).json()
    r = await awards.http.post(f"/awards/{award['award_id']}/annul", json={"reason": "khai man thành tích"},
                               headers=awards.token("admin"))
    assert r.status_code == 200
    result = await _verify(awards, cert["jws"])
    assert (result["status"], result["reason"]) == ("revoked", "revoked")
    again = (await awards.http.get(f"/certificates/{award['certificate_id']}")).json()
    assert again["status"] == "revoked" and again["revoked_at"]
    page = (await awards.http.get(f"/certificates/{award['certificate_id']}/print")).text
    assert "Đã thu hồi" in page and "khai man thành tích" in page


async def test_after_key_rotation_old_certificates_still_verify_and_new_ones_use_the_new_key(
        awards: Awards) -> None:
    old = (await awards.http.get(f"/certificates/{(await _granted(awards))['certificate_id']}")).json()
    key_dir = awards.service.settings.data_dir / "keys" / "awards"
    outcome = CliRunner().invoke(awards_cli, ["rotate-key", "--data-dir", str(awards.service.settings.data_dir)])
    assert outcome.exit_code == 0, outcome.output
    assert "new current signing key" in outcome.output
    assert len(list(key_dir.glob("*.pem"))) == 2

    jwks = (await awards.http.get("/.well-known/jwks.json")).json()
    assert len(jwks["keys"]) == 2 and jwks["keys"][1]["kid"] == old["kid"]
    new = (await awards.http.get(f"/certificates/{(await _granted(awards))['certificate_id']}")).json()
    assert new["kid"] == jwks["keys"][0]["kid"] != old["kid"]
    assert (await _verify(awards, old["jws"]))["status"] == "valid"
    assert (await _verify(awards, new["jws"]))["status"] == "valid"


async def test_revoking_a_recognition_annuls_the_awards_resting_on_it(awards: Awards) -> None:
    unit, pending_unit = f"u-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"
    for u in (unit, pending_unit):
        await awards.bus.publish(registered(u, "01.00004"))
        await awards.bus.publish(certified(u, 2024))
        await awards.bus.publish(certified(u, 2025))
    admin = awards.token("admin")

    async def proposals(u: str) -> list[dict]:
        return (await awards.http.get("/awards", params={"recipient_ref": u}, headers=admin)).json()["items"]

    award = (await eventually(lambda: proposals(unit), what="the proposal"))[0]
    await eventually(lambda: proposals(pending_unit), what="the second proposal")
    for action, body in (("review", None), ("approve", {"decision_no": "3/QĐ-UBND"}), ("grant", None)):
        assert (await awards.http.post(f"/awards/{award['award_id']}/{action}", json=body,
                                       headers=admin)).status_code == 200
    cert = (await awards.http.get(f"/awards/{award['award_id']}", headers=admin)).json()
    jws = (await awards.http.get(f"/certificates/{cert['certificate_id']}")).json()["jws"]
    assert (await _verify(awards, jws))["status"] == "valid"

    revocation = await awards.bus.publish(revoked(unit, 2024))
    await awards.bus.publish(revoked(pending_unit, 2025))
    await awards.bus.publish(revoked(unit, 2024))  # a second revocation changes nothing
    await drained(awards.service)

    annulled = (await awards.http.get(f"/awards/{award['award_id']}", headers=admin)).json()
    assert annulled["status"] == "annulled" and "2024" in annulled["reason"]
    assert annulled["audit"][-1]["actor"] == "system"
    assert annulled["audit"][-1]["details"]["cause"] == revocation.id
    assert (await _verify(awards, jws))["status"] == "revoked"
    assert [a["status"] for a in await proposals(pending_unit)] == ["rejected"]

    async def annulments() -> list[dict]:
        return [e for e in await awards.bus.events(type_suffix="AwardAnnulled.v1")
                if e["data"]["award_id"] == award["award_id"]]

    await eventually(annulments, what="AwardAnnulled published by the relay")
    await drained(awards.service)
    assert len(await annulments()) == 1
