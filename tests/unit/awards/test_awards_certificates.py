"""Certificates: Open Badges 3.0 credentials signed with Ed25519, verified offline, rotated keys, revocation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jws
from joserfc.jwk import OKPKey

from services.awards.domain import (
    Issuer,
    Keyring,
    RuleSet,
    build_credential,
    certificate_id_of,
    qr_svg,
    sign_certificate,
    status_list,
    verify_certificate,
)
from shared.errors import Invalid, NotFound

from .awards_builders import NOW, make_award

ISSUER = Issuer(id="https://awards.antq.example/issuer", name="Công an tỉnh (demo)")
Credential = dict[str, Any]
CERT_ID = "0b9c2f4e-1111-4a2b-9c3d-5e6f7a8b9c0d"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


@pytest.fixture
def credential(national: RuleSet) -> Credential:
    award = make_award(national, status="granted", basis=("ev-2023", "ev-2024"))
    return build_credential(award, national, certificate_id=CERT_ID, issuer=ISSUER, issued_at=NOW,
                            recipient_name="Trường THPT Demo",
                            status=status_list.entry(f"{ISSUER.id}/status/revocation/0", 7))


def test_credential_follows_the_open_badges_shape(credential: Credential) -> None:
    assert credential["id"] == f"urn:uuid:{CERT_ID}"
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert credential["issuer"]["id"] == ISSUER.id
    assert credential["validFrom"] == "2025-08-19T09:00:00Z"
    assert "validUntil" not in credential
    subject = credential["credentialSubject"]
    assert subject["id"] == "urn:antq:unit:u-1"
    assert subject["achievement"]["name"] == "Giấy khen" and subject["achievement"]["type"] == ["Achievement"]
    assert [e["id"] for e in credential["evidence"]] == ["urn:antq:event:ev-2023", "urn:antq:event:ev-2024"]
    assert credential["antq"]["decision_no"] == "QD-1"
    assert certificate_id_of(credential) == CERT_ID


def test_no_certificate_for_an_award_not_yet_approved(national: RuleSet) -> None:
    with pytest.raises(Invalid):
        build_credential(make_award(national, status="reviewed"), national, certificate_id=CERT_ID, issuer=ISSUER,
                         issued_at=NOW)


def test_signed_certificate_verifies(keyring: Keyring, credential: Credential) -> None:
    token = sign_certificate(credential, keyring)
    result = verify_certificate(token, keyring.jwks(), set(), now=NOW + timedelta(days=1))
    assert (result.status, result.reason) == ("valid", "ok")
    assert result.certificate_id == CERT_ID and result.kid == keyring.current_kid
    assert result.credential == credential


def test_jws_header_names_the_algorithm_and_the_key(keyring: Keyring, credential: Credential) -> None:
    header = json.loads(_unb64(sign_certificate(credential, keyring).split(".")[0]))
    assert header == {"alg": "EdDSA", "kid": keyring.current_kid, "typ": "JWT"}
    jwks_url = f"{ISSUER.id}/.well-known/jwks.json"
    header = json.loads(_unb64(sign_certificate(credential, keyring, jwks_url=jwks_url).split(".")[0]))
    assert header == {"alg": "EdDSA", "kid": f"{jwks_url}#{keyring.current_kid}", "typ": "JWT"}


def test_jwt_payload_carries_the_claims_open_badges_requires(keyring: Keyring, credential: Credential) -> None:
    payload = json.loads(_unb64(sign_certificate(credential, keyring).split(".")[1]))
    assert (payload["iss"], payload["sub"], payload["jti"]) == (ISSUER.id, "urn:antq:unit:u-1", f"urn:uuid:{CERT_ID}")
    assert payload["nbf"] == int(NOW.timestamp()) and "exp" not in payload
    expiring = {**credential, "validUntil": "2030-08-19T09:00:00Z"}
    payload = json.loads(_unb64(sign_certificate(expiring, keyring).split(".")[1]))
    assert payload["exp"] == int(datetime(2030, 8, 19, 9, tzinfo=UTC).timestamp())
    assert {k: v for k, v in payload.items() if k not in ("iss", "sub", "jti", "nbf", "exp")} == expiring


def test_certificate_signed_in_the_earlier_format_still_verifies(keyring: Keyring, credential: Credential) -> None:
    """Before the OB 3.0 JWT claims: header typ vc+jwt with cty vc, a bare thumbprint kid, the credential alone."""
    legacy = {k: v for k, v in credential.items() if k != "credentialStatus"}
    key = OKPKey.import_key(keyring.export_pem(keyring.current_kid))
    token = jws.serialize_compact({"alg": "EdDSA", "kid": keyring.current_kid, "typ": "vc+jwt", "cty": "vc"},
                                  json.dumps(legacy).encode(), key, algorithms=["EdDSA"])
    result = verify_certificate(token, keyring.jwks(), set(), now=NOW + timedelta(days=1))
    assert (result.status, result.reason, result.credential) == ("valid", "ok", legacy)
    assert verify_certificate(token, keyring.jwks(), {CERT_ID}, now=NOW).status == "revoked"


def test_outside_verifier_checks_the_signature_with_only_the_published_jwk(
    keyring: Keyring, credential: Credential
) -> None:
    token = sign_certificate(credential, keyring)
    published = json.loads(json.dumps(keyring.jwks()))  # what a verifier downloads
    header_b64, payload_b64, signature_b64 = token.split(".")
    kid = json.loads(_unb64(header_b64))["kid"].rsplit("#", 1)[-1]
    jwk = next(k for k in published["keys"] if k["kid"] == kid)
    public = Ed25519PublicKey.from_public_bytes(_unb64(jwk["x"]))
    public.verify(_unb64(signature_b64), f"{header_b64}.{payload_b64}".encode("ascii"))  # raises if wrong
    assert json.loads(_unb64(payload_b64))["id"] == f"urn:uuid:{CERT_ID}"


def test_tampered_payload_is_invalid(keyring: Keyring, credential: Credential) -> None:
    header_b64, _, signature_b64 = sign_certificate(credential, keyring).split(".")
    forged = {**credential, "name": "Bằng khen 2024"}
    token = f"{header_b64}.{_b64(json.dumps(forged).encode())}.{signature_b64}"
    result = verify_certificate(token, keyring.jwks(), set(), now=NOW)
    assert (result.status, result.reason) == ("invalid", "bad_signature")


def test_shown_credential_that_differs_from_the_signed_one_is_invalid(
    keyring: Keyring, credential: Credential
) -> None:
    token = sign_certificate(credential, keyring)
    doc = {"jws": token, "credential": {**credential, "name": "something else"}}
    assert verify_certificate(doc, keyring.jwks(), set(), now=NOW).reason == "content_mismatch"
    assert verify_certificate({"jws": token, "credential": credential}, keyring.jwks(), set(), now=NOW).status \
        == "valid"


def test_certificate_signed_by_an_unknown_key_is_invalid(credential: Credential) -> None:
    token = sign_certificate(credential, Keyring.generate())
    result = verify_certificate(token, Keyring.generate().jwks(), set(), now=NOW)
    assert (result.status, result.reason) == ("invalid", "unknown_key")


def test_key_swapped_under_a_known_kid_fails_the_signature(keyring: Keyring, credential: Credential) -> None:
    other = Keyring.generate()
    token = sign_certificate(credential, other)
    jwks = other.jwks()
    jwks["keys"][0]["x"] = keyring.jwks()["keys"][0]["x"]
    assert verify_certificate(token, jwks, set(), now=NOW).reason == "bad_signature"


def test_certificate_from_before_a_rotation_still_verifies(keyring: Keyring, credential: Credential) -> None:
    old_token = sign_certificate(credential, keyring)
    old_kid = keyring.current_kid
    new_kid = keyring.rotate()
    assert new_kid != old_kid and keyring.current_kid == new_kid
    new_token = sign_certificate(credential, keyring)
    jwks = keyring.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]
    assert verify_certificate(old_token, jwks, set(), now=NOW).kid == old_kid
    assert verify_certificate(old_token, jwks, set(), now=NOW).status == "valid"
    assert verify_certificate(new_token, jwks, set(), now=NOW).kid == new_kid


def test_keyring_round_trips_through_pem(keyring: Keyring, credential: Credential) -> None:
    first = keyring.current_kid
    keyring.rotate()
    pems = keyring.export_pems()
    assert all(pem.startswith(b"-----BEGIN PRIVATE KEY-----") for pem in pems.values())
    restored = Keyring(pems.values(), current_kid=first)
    assert restored.current_kid == first and set(restored.kids) == set(keyring.kids)
    token = sign_certificate(credential, restored)
    assert verify_certificate(token, keyring.jwks(), set(), now=NOW).status == "valid"


def test_jwks_never_contains_private_material(keyring: Keyring) -> None:
    for key in keyring.jwks()["keys"]:
        assert "d" not in key and key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["use"] == "sig"


def test_keyring_refuses_non_ed25519_or_garbage_keys() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(Invalid):
        Keyring([ec_pem])
    with pytest.raises(Invalid):
        Keyring([b"not a key"])
    with pytest.raises(NotFound):
        _ = Keyring().current_kid


def test_annulled_award_certificate_verifies_as_revoked(keyring: Keyring, credential: Credential) -> None:
    token = sign_certificate(credential, keyring)
    result = verify_certificate(token, keyring.jwks(), {CERT_ID}, now=NOW)
    assert (result.status, result.reason, result.certificate_id) == ("revoked", "revoked", CERT_ID)


def test_expired_and_not_yet_valid_certificates_are_invalid(
    keyring: Keyring, credential: Credential
) -> None:
    limited = {**credential, "validUntil": "2026-08-19T09:00:00Z"}
    token = sign_certificate(limited, keyring)
    assert verify_certificate(token, keyring.jwks(), set(), now=datetime(2026, 8, 19, 9, tzinfo=UTC)).reason \
        == "expired"
    assert verify_certificate(token, keyring.jwks(), set(), now=NOW - timedelta(seconds=1)).reason == "not_yet_valid"
    assert verify_certificate(token, keyring.jwks(), set(), now=datetime(2026, 1, 1, tzinfo=UTC)).status == "valid"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.sig", {"nothing": 1}])
def test_garbage_is_invalid_never_an_error(keyring: Keyring, garbage: object) -> None:
    result = verify_certificate(garbage, keyring.jwks(), set(), now=NOW)  # type: ignore[arg-type]
    assert result.status == "invalid" and result.reason in {"malformed", "unsupported_algorithm"}


def test_hmac_token_is_refused_even_with_a_matching_kid(keyring: Keyring) -> None:
    header = _b64(json.dumps({"alg": "HS256", "kid": keyring.current_kid}).encode())
    token = f"{header}.{_b64(b'{}')}.{_b64(b'x' * 32)}"
    assert verify_certificate(token, keyring.jwks(), set(), now=NOW).reason == "unsupported_algorithm"


def test_verification_result_is_json_ready(keyring: Keyring, credential: Credential) -> None:
    result = verify_certificate(sign_certificate(credential, keyring), keyring.jwks(), set(), now=NOW)
    assert json.loads(json.dumps(result.to_public()))["status"] == "valid"


def test_qr_code_is_an_svg_of_the_verification_url() -> None:
    svg = qr_svg(f"https://awards.example/v/{CERT_ID}")
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg and "</svg>" in svg
    assert qr_svg("https://a.example/1") != qr_svg("https://a.example/2")
    with pytest.raises(Invalid):
        qr_svg("")


def test_status_list_sets_exactly_the_revoked_bits_and_places_indexes_in_lists() -> None:
    encoded = status_list.encode([0, 9, status_list.LIST_SIZE - 1])
    assert encoded.startswith("u") and "=" not in encoded
    bits = status_list.decode(encoded)
    assert len(bits) * 8 == status_list.LIST_SIZE == 131_072
    assert bits[0] == 0x80 and bits[1] == 0x40 and bits[-1] == 0x01  # most significant bit first
    assert [i for i in range(0, 64) if status_list.is_set(bits, i)] == [0, 9]
    assert status_list.position(status_list.LIST_SIZE + 5) == (1, 5)
    entry = status_list.entry("https://a.example/status/revocation/1", status_list.LIST_SIZE + 5)
    assert (entry["statusListIndex"], entry["statusPurpose"], entry["type"]) == (
        "5", "revocation", "BitstringStatusListEntry")
    with pytest.raises(Invalid):
        status_list.encode([status_list.LIST_SIZE])


def test_a_signed_status_list_is_not_accepted_as_a_certificate(keyring: Keyring) -> None:
    url = f"{ISSUER.id}/status/revocation/0"
    listed = status_list.list_credential(url, {"id": ISSUER.id}, [], valid_from=NOW,
                                         vc_context="https://www.w3.org/ns/credentials/v2")
    result = verify_certificate(sign_certificate(listed, keyring), keyring.jwks(), set(), now=NOW)
    assert (result.status, result.reason) == ("invalid", "malformed")
