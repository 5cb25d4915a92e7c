"""OIDC access tokens against a real JWKS HTTP server on 127.0.0.1: algorithms, rotation, audience, issuer, expiry;
and local-token revocation."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Request
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from shared.auth import RevocationList, TokenAuthority, revocation_path, revoke_token, token_id
from shared.errors import Unauthorized
from shared.http import bearer_principal
from shared.oidc import CompositeVerifier, JWKSCache, OIDCVerifier
from shared.settings import Settings

ISSUER = "https://sso.example.gov.vn/realms/antq"
AUDIENCE = "antq-api"


@dataclass
class Provider:
    """A tiny identity provider: signing keys and a JWKS document served over HTTP."""

    keys: dict[str, Any] = field(default_factory=dict)
    requests: int = 0
    url: str = ""

    def add(self, kid: str, kind: str) -> tuple[str, Any]:
        if kind == "RS256":
            key: Any = RSAKey.generate_key(2048, parameters={"kid": kid})
        elif kind == "ES256":
            key = ECKey.generate_key("P-256", parameters={"kid": kid})
        else:
            key = OKPKey.generate_key("Ed25519", parameters={"kid": kid})
        self.keys[kid] = (kind, key)
        return kid, key

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**key.as_dict(private=False), "kid": kid, "use": "sig"}
                         for kid, (_, key) in self.keys.items()]}

    def token(self, kid: str, **claims: Any) -> str:
        alg, key = self.keys[kid]
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-123", "iat": now, "exp": now + 300,
                "jti": f"j-{kid}-{now}", "realm_access": {"roles": ["offline_access", "antq-officer"]},
                "antq_area": "79", **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode({"alg": alg, "kid": kid}, body, key, algorithms=[alg])


@pytest.fixture
def provider() -> Iterator[Provider]:
    prov = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            prov.requests += 1
            if self.path != "/jwks.json":
                self.send_error(404)
                return
            body = json.dumps(prov.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    prov.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    try:
        yield prov
    finally:
        server.shutdown()
        server.server_close()


def verifier(provider: Provider, **kw: Any) -> OIDCVerifier:
    clock = kw.pop("clock", time.monotonic)
    jwks = JWKSCache(provider.url, ttl=600, min_refetch=kw.pop("min_refetch", 0), clock=clock)
    return OIDCVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=jwks, role_claim="realm_access.roles",
                        area_claim="antq_area", unit_claim="antq_unit",
                        role_map={"antq-admin": "admin", "antq-officer": "officer", "antq-unit": "unit",
                                  "antq-agency": "agency"}, **kw)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_each_algorithm_verifies_and_maps_claims(provider: Provider, alg: str) -> None:
    kid, _ = provider.add("k1", alg)
    principal = verifier(provider).verify(provider.token(kid))
    assert (principal.sub, principal.role, principal.area, principal.unit) == ("u-123", "officer", "79", None)


def test_role_map_unit_and_admin(provider: Provider) -> None:
    kid, _ = provider.add("k1", "ES256")
    v = verifier(provider)
    unit = v.verify(provider.token(kid, realm_access={"roles": ["antq-unit"]}, antq_unit="u-42", antq_area=None))
    assert (unit.role, unit.unit) == ("unit", "u-42")
    both = v.verify(provider.token(kid, realm_access={"roles": ["antq-officer", "antq-admin"]}))
    assert both.role == "admin"
    with pytest.raises(Unauthorized, match="no antq role"):
        v.verify(provider.token(kid, realm_access={"roles": ["officer"]}))  # unmapped values are not roles
    with pytest.raises(Unauthorized, match="unit claim"):
        v.verify(provider.token(kid, realm_access={"roles": ["antq-unit"]}))
    with pytest.raises(Unauthorized, match="area claim"):
        v.verify(provider.token(kid, antq_area=None))  # no accidental nationwide officer
    with pytest.raises(Unauthorized, match="area code"):
        v.verify(provider.token(kid, antq_area="79; drop"))


def test_key_rotation_picks_up_a_new_kid_with_a_bounded_refetch(provider: Provider) -> None:
    old, old_key = provider.add("2025-a", "RS256")
    now = [1000.0]
    v = verifier(provider, min_refetch=30, clock=lambda: now[0])
    assert v.verify(provider.token(old)).role == "officer"
    assert provider.requests == 1
    assert v.verify(provider.token(old)).role == "officer"
    assert provider.requests == 1  # cached
    new, _ = provider.add("2026-b", "ES256")
    del provider.keys[old]
    now[0] += 31
    assert v.verify(provider.token(new)).area == "79"  # unknown kid -> one refetch
    assert provider.requests == 2
    # Tokens with made-up kids cannot make us hammer the provider: one refetch per min_refetch window.
    forged_alg, forged_key = "ES256", ECKey.generate_key("P-256")
    for i in range(5):
        bogus = jwt.encode({"alg": forged_alg, "kid": f"nope-{i}"}, {"iss": ISSUER}, forged_key, algorithms=["ES256"])
        with pytest.raises(Unauthorized, match="unknown key"):
            v.verify(bogus)
    assert provider.requests == 2
    # The rotated-out key is gone after the refetch: its tokens no longer verify.
    stale = jwt.encode({"alg": "RS256", "kid": old}, {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1",
                                                      "exp": int(time.time()) + 60}, old_key, algorithms=["RS256"])
    with pytest.raises(Unauthorized, match="unknown key"):
        v.verify(stale)


def _signed_with_removed_key(provider: Provider, kid: str) -> str:
    key = RSAKey.generate_key(2048, parameters={"kid": kid})
    return jwt.encode({"alg": "RS256", "kid": kid}, {"iss": ISSUER, "aud": AUDIENCE, "sub": "x",
                                                     "exp": int(time.time()) + 60}, key, algorithms=["RS256"])


def test_wrong_audience_issuer_expiry_and_signature_are_refused(provider: Provider) -> None:
    kid, _ = provider.add("k1", "RS256")
    v = verifier(provider)
    with pytest.raises(Unauthorized, match="aud"):
        v.verify(provider.token(kid, aud="another-app"))
    assert v.verify(provider.token(kid, aud=["another-app", AUDIENCE])).role == "officer"
    with pytest.raises(Unauthorized, match="iss"):
        v.verify(provider.token(kid, iss="https://evil.example/realms/antq"))
    with pytest.raises(Unauthorized, match="exp"):
        v.verify(provider.token(kid, exp=int(time.time()) - 120))
    with pytest.raises(Unauthorized, match="exp"):
        v.verify(provider.token(kid, exp=None))
    # The same kid signed by another key (an attacker's) does not verify.
    with pytest.raises(Unauthorized):
        v.verify(_signed_with_removed_key(provider, kid))
    # Algorithm confusion: HS256 with the public key as secret, or alg=none, is never accepted.
    token = provider.token(kid)
    header, payload, _ = token.split(".")
    import base64

    none_header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"k1"}').decode().rstrip("=")
    with pytest.raises(Unauthorized, match="algorithm"):
        v.verify(f"{none_header}.{payload}.")
    hs_header = base64.urlsafe_b64encode(b'{"alg":"HS256","kid":"k1"}').decode().rstrip("=")
    with pytest.raises(Unauthorized, match="algorithm"):
        v.verify(f"{hs_header}.{payload}.abc")
    # An RS256 header pointing to an EC key is refused before verification.
    ec_kid, _ = provider.add("ec", "ES256")
    with pytest.raises(Unauthorized):
        v.verify(provider.token(kid).replace(header, base64.urlsafe_b64encode(
            json.dumps({"alg": "RS256", "kid": ec_kid}).encode()).decode().rstrip("=")))


def test_provider_outage_keeps_known_keys(provider: Provider) -> None:
    kid, _ = provider.add("k1", "EdDSA")
    now = [0.0]
    v = verifier(provider, min_refetch=0, clock=lambda: now[0])
    v.verify(provider.token(kid))
    v.jwks.url = provider.url.replace("/jwks.json", "/gone")  # the provider now answers 404
    now[0] += 10_000  # cache expired: a refetch is attempted and fails
    assert v.verify(provider.token(kid)).role == "officer"


def test_composite_routes_local_and_oidc_tokens_through_the_service_app(
        provider: Provider, tmp_path: Path) -> None:
    kid, _ = provider.add("k1", "ES256")
    settings = Settings(data_dir=tmp_path, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=provider.url,
                        oidc_role_claim="realm_access.roles", oidc_area_claim="antq_area",
                        oidc_role_map={"antq-officer": "officer"})
    from services.notify.app import build

    service = build(settings)
    assert isinstance(service.tokens, CompositeVerifier) and service.tokens.oidc is not None
    app = service.app

    @app.get("/_whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        p = bearer_principal(request)
        return {"role": p.role if p else None, "area": p.area if p else None}

    import asyncio

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            r = await http.get("/_whoami", headers={"Authorization": f"Bearer {provider.token(kid)}"})
            assert r.json() == {"role": "officer", "area": "79"}
            local = service.tokens.issue(role="admin")
            r = await http.get("/_whoami", headers={"Authorization": f"Bearer {local}"})
            assert r.json() == {"role": "admin", "area": None}
            r = await http.get("/_whoami", headers={"Authorization": f"Bearer {provider.token(kid, aud='x')}"})
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
            # A token claiming the local issuer but signed by the provider's key is refused by the local check.
            r = await http.get("/_whoami", headers={"Authorization": f"Bearer {provider.token(kid, iss='antq')}"})
            assert r.status_code == 401
            # Revocation of a local token takes effect on the next request.
            assert revoke_token(settings, token_id(local) or "")
            r = await http.get("/_whoami", headers={"Authorization": f"Bearer {local}"})
            assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]

    asyncio.run(run())


def test_local_token_expiry_and_revocation(tmp_path: Path) -> None:
    revocations = RevocationList(tmp_path / "revoked_tokens.txt")
    authority = TokenAuthority.from_file(tmp_path / "k.pem", revocations=revocations)
    token = authority.issue(role="officer", area="79", ttl=60, now=time.time() - 3600)
    with pytest.raises(Unauthorized, match="exp"):
        authority.verify(token)
    live = authority.issue(role="officer", area="79")
    other = authority.issue(role="officer", area="79")
    assert authority.verify(live).role == "officer"
    jti = token_id(live)
    assert jti and revocations.revoke(jti, note="lost laptop")
    assert not revocations.revoke(jti)  # idempotent
    with pytest.raises(Unauthorized, match="revoked"):
        authority.verify(live)
    assert authority.verify(other).role == "officer"
    with pytest.raises(ValueError):
        revocations.revoke("two words")
    assert revocation_path(Settings(data_dir=tmp_path)) == tmp_path / "revoked_tokens.txt"
