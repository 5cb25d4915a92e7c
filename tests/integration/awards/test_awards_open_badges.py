"""Certificates as an outside Open Badges 3.0 verifier sees them, over real HTTP (uvicorn) from the running service:
the official 1EdTech JSON Schema, the JWT claims and header OB 3.0 requires, the signature checked with a JOSE
library that fetches the key by the header's `kid` URL, the W3C Bitstring Status List read after an annulment
and after a restoration, and the `antq` block kept by JSON-LD processing through its published context."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from joserfc import jws
from joserfc.jwk import KeySet

from services.awards.app import build
from shared.contracts.events import CertificationRestored
from shared.service import Service
from shared.settings import Settings
from shared.testing import eventually, free_port
from tests.console_world import over_http
from tests.integration.awards.awards_helpers import Bus, certified, connect_bus, drained, registered, revoked

VENDOR = Path(__file__).resolve().parents[2] / "vendor" / "ob_v3p0"
SCHEMA = json.loads((VENDOR / "ob_v3p0_achievementcredential_schema.json").read_text())
CONTEXTS = {
    "https://www.w3.org/ns/credentials/v2": json.loads((VENDOR / "credentials-v2.jsonld").read_text()),
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": json.loads(
        (VENDOR / "context-3.0.3.json").read_text()),
}


@dataclass
class Live:
    service: Service
    base: str
    http: httpx.AsyncClient
    bus: Bus

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.service.tokens.issue(role='admin')}"}


@pytest.fixture
async def live(settings_factory: Callable[..., Settings], database_url: Callable[[str], str], nats_url: str,
               namespace: str) -> AsyncIterator[Live]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = settings_factory(awards_database_url=database_url("awards"), awards_public_base_url=base)
    service = build(settings)
    bus = await connect_bus(nats_url, namespace)
    try:
        async with over_http(service, port) as url, httpx.AsyncClient(base_url=url) as http:
            yield Live(service, url, http, bus)
    finally:
        with contextlib.suppress(Exception):
            await bus.nc.close()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header_b64, payload_b64, _ = token.split(".")
    return json.loads(_unb64(header_b64)), json.loads(_unb64(payload_b64))


async def _verified_by_kid(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """What any verifier does: dereference the header's kid (JWK set URL + fragment), verify with joserfc."""
    kid_url = jws.extract_compact(token.encode()).headers()["kid"]
    jwks_url, _, kid = kid_url.partition("#")
    r = await http.get(jwks_url)  # an absolute URL: the service's own public base
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text
    key = KeySet.import_key_set(r.json()).get_by_kid(kid)
    verified = jws.deserialize_compact(token, key, algorithms=["EdDSA", "Ed25519"])
    return json.loads(verified.payload)  # type: ignore[no-any-return]


async def _revoked_in_list(http: httpx.AsyncClient, status: dict[str, Any]) -> bool:
    """W3C Bitstring Status List validation: fetch and verify the list credential, expand, read the bit."""
    assert status["type"] == "BitstringStatusListEntry" and status["statusPurpose"] == "revocation"
    r = await http.get(status["statusListCredential"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vc+jwt"), r.text
    assert r.headers["cache-control"] == "no-cache"
    header, _ = _parts(r.text)
    assert header["typ"] == "JWT" and "cty" not in header
    listed = await _verified_by_kid(http, r.text)
    assert "BitstringStatusListCredential" in listed["type"] and listed["id"] == status["statusListCredential"]
    subject = listed["credentialSubject"]
    assert (subject["type"], subject["statusPurpose"]) == ("BitstringStatusList", "revocation")
    assert subject["encodedList"].startswith("u")
    bits = gzip.decompress(_unb64(subject["encodedList"][1:]))
    assert len(bits) * 8 >= 131_072  # the specification's minimum list length
    index = int(status["statusListIndex"])
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


async def _grant(live: Live, award_id: str) -> dict[str, Any]:
    for action, body in (("approve", {"decision_no": "45/QĐ-UBND"}), ("grant", None)):
        r = await live.http.post(f"/awards/{award_id}/{action}", json=body, headers=live.admin())
        assert r.status_code == 200, (action, r.text)
    r = await live.http.get(f"/certificates/{r.json()['certificate_id']}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _verdict(live: Live, token: str) -> str:
    r = await live.http.post("/certificates/verify", json={"certificate": token})
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def test_a_granted_certificate_passes_open_badges_checks_and_its_status_list_follows_annulment(
        live: Live) -> None:
    body = {"award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": f"p-{uuid.uuid4().hex[:6]}",
            "recipient_name": "Lê Thị Hoa", "year": 2026, "area_code": "01.00004"}
    r = await live.http.post("/awards", json=body, headers=live.admin())
    assert r.status_code == 201, r.text
    award_id = r.json()["award_id"]
    cert = await _grant(live, award_id)
    token, credential = cert["jws"], cert["credential"]

    # The official 1EdTech schema, for the credential as served and for the JWT payload.
    validator = jsonschema.Draft201909Validator(SCHEMA, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)
    header, payload = _parts(token)
    for document in (credential, payload):
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]

    # OB 3.0 section 8.2: JOSE header and JWT claims.
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": header["kid"]}
    assert header["kid"].startswith(f"{live.base}/.well-known/jwks.json#")
    assert payload["iss"] == credential["issuer"]["id"] == live.base
    assert payload["sub"] == credential["credentialSubject"]["id"]
    assert payload["jti"] == credential["id"] == f"urn:uuid:{cert['certificate_id']}"
    assert payload["nbf"] == int(datetime.fromisoformat(credential["validFrom"]).timestamp())
    assert "exp" not in payload and "validUntil" not in credential  # a Giấy khen does not expire

    # The signature, with the key found by dereferencing the kid over HTTP.
    assert await _verified_by_kid(live.http, token) == payload

    # The status list: not revoked; revoked once the award is annulled; the verify endpoint agrees.
    status = credential["credentialStatus"]
    assert status["statusListCredential"] == f"{live.base}/status/revocation/0"
    assert await _revoked_in_list(live.http, status) is False
    r = await live.http.post(f"/awards/{award_id}/annul", json={"reason": "khai man thành tích"},
                             headers=live.admin())
    assert r.status_code == 200, r.text
    assert await _revoked_in_list(live.http, status) is True
    assert await _verdict(live, token) == "revoked"
    assert (await live.http.get("/status/revocation/-1")).status_code == 422


async def test_the_verification_guide_snippet_works_against_the_running_service(live: Live, tmp_path: Path) -> None:
    """The Python of docs/awards.md "Verifying as a third party", run as a separate process over HTTP."""
    guide = (Path(__file__).resolve().parents[3] / "docs" / "awards.md").read_text()
    (snippet,) = [block for block in re.findall(r"```python\n(.*?)```", guide, re.S) if "def verified" in block]
    script = tmp_path / "verify.py"
    script.write_text(snippet)
    body = {"award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": f"p-{uuid.uuid4().hex[:6]}",
            "recipient_name": "Phạm Văn Đồng", "year": 2026, "area_code": "01.00004"}
    award_id = (await live.http.post("/awards", json=body, headers=live.admin())).json()["award_id"]
    (tmp_path / "certificate.jws").write_text((await _grant(live, award_id))["jws"])

    async def run() -> str:
        process = await asyncio.create_subprocess_exec(sys.executable, str(script), str(tmp_path / "certificate.jws"),
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        return out.decode().strip()

    assert await run() == "Giấy khen 2026 Phạm Văn Đồng valid"
    r = await live.http.post(f"/awards/{award_id}/annul", json={"reason": "khai man thành tích"}, headers=live.admin())
    assert r.status_code == 200, r.text
    assert await run() == "Giấy khen 2026 Phạm Văn Đồng REVOKED"


async def test_the_status_list_clears_the_bit_when_a_withdrawn_incident_restores_the_award(live: Live) -> None:
    unit_id = f"u-{uuid.uuid4().hex[:8]}"
    await live.bus.publish(registered(unit_id, "01.00004"))
    for year in (2025, 2026):
        await live.bus.publish(certified(unit_id, year))

    async def proposals() -> list[dict[str, Any]]:
        r = await live.http.get("/awards", params={"recipient_ref": unit_id}, headers=live.admin())
        return r.json()["items"]  # type: ignore[no-any-return]

    (award,) = await eventually(proposals, timeout=20, what="the proposal")
    cert = await _grant(live, award["award_id"])
    status, token = cert["credential"]["credentialStatus"], cert["jws"]
    assert await _revoked_in_list(live.http, status) is False

    revocation = revoked(unit_id, 2026)
    await live.bus.publish(revocation)
    await drained(live.service)
    assert await _revoked_in_list(live.http, status) is True
    assert await _verdict(live, token) == "revoked"

    await live.bus.publish(CertificationRestored(unit_id=unit_id, year=2026, incident_id=revocation.incident_id,
                                                 reason="incident withdrawn", restored_at=datetime.now(UTC)))
    await drained(live.service)
    assert (await live.http.get(f"/awards/{award['award_id']}", headers=live.admin())).json()["status"] == "granted"
    assert await _revoked_in_list(live.http, status) is False
    assert await _verdict(live, token) == "valid"


async def test_json_ld_processing_keeps_the_antq_block_through_its_published_context(live: Live) -> None:
    from pyld import jsonld  # type: ignore[import-untyped]

    body = {"award_type": "giay_khen", "recipient_kind": "person", "recipient_ref": f"p-{uuid.uuid4().hex[:6]}",
            "recipient_name": "Trần Văn Bình", "year": 2026, "area_code": "01.00004"}
    award_id = (await live.http.post("/awards", json=body, headers=live.admin())).json()["award_id"]
    credential = (await _grant(live, award_id))["credential"]
    antq_url = credential["@context"][2]
    assert antq_url == f"{live.base}/contexts/antq-v1.jsonld"
    r = await live.http.get(antq_url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json"), r.text
    contexts = {**CONTEXTS, antq_url: r.json()}

    def loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url,
                "document": contexts[url]}  # anything else is a KeyError: nothing is fetched from the network

    (expanded,) = jsonld.expand(credential, {"documentLoader": loader})
    (block,) = expanded["urn:antq:terms:awardRecord"]
    assert block["urn:antq:terms:decisionNumber"] == [{"@value": "45/QĐ-UBND"}]
    assert block["urn:antq:terms:awardId"] == [{"@value": award_id}]
    assert block["urn:antq:terms:year"][0]["@value"] in (2026, "2026")
    authority = block["urn:antq:terms:approvingAuthority"][0]
    assert authority["@type"] == "@json" and authority["@value"] == credential["antq"]["approving_authority"]
