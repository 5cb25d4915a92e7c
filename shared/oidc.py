"""OIDC access-token verification for production: an external identity provider's signed JWTs.

The provider's public keys come from its JWKS document, fetched with httpx and cached. A token whose `kid` is not
in the cache triggers one refetch (at most once per `oidc_jwks_min_refetch_seconds`), which is how a key rotation
at the provider is picked up without a restart; a failed refetch keeps the keys already known. Accepted signature
algorithms are an allow-list (RS256, ES256, EdDSA): `none` and HMAC can never be used to forge a token with a
public key.

Claims are mapped to a `Principal` by settings: `oidc_role_claim` (a dotted path such as `realm_access.roles`;
a string or a list of strings), translated through `oidc_role_map` (provider value -> antq role), and
`oidc_area_claim` / `oidc_unit_claim`. See docs/security.md for the full table.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from shared.areas import is_area_code
from shared.auth import ROLES, Principal, TokenAuthority, scope_problem
from shared.errors import Unauthorized

log = logging.getLogger(__name__)

ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA", "Ed25519")
_KTY_FOR_ALG = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP", "Ed25519": "OKP"}
UNIT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")

PublicKey = RSAKey | ECKey | OKPKey


class TokenVerifier(Protocol):
    def verify(self, token: str, *, now: float | None = None) -> Principal: ...


def unverified_part(token: str, index: int) -> dict[str, Any]:
    """Decode the header (0) or claims (1) of a compact JWS without verifying it (routing only, never trust)."""
    try:
        segment = token.split(".")[index]
        raw = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Unauthorized("invalid bearer token") from exc
    if not isinstance(raw, dict):
        raise Unauthorized("invalid bearer token")
    return raw


class JWKSCache:
    """The provider's signing keys by `kid`, fetched over HTTPS and refreshed on expiry or on an unknown kid."""

    def __init__(self, url: str, *, ttl: float = 600.0, min_refetch: float = 30.0, timeout: float = 3.0,
                 client_factory: Callable[[], httpx.Client] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.ttl = ttl
        self.min_refetch = min_refetch
        self.timeout = timeout
        self.client_factory = client_factory or (lambda: httpx.Client(timeout=self.timeout, follow_redirects=False))
        self.clock = clock
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        self._attempted_at = self.clock()
        try:
            with self.client_factory() as client:
                response = client.get(self.url, headers={"Accept": "application/json"})
                response.raise_for_status()
                document = response.json()
            keys: dict[str, PublicKey] = {}
            for entry in document.get("keys", []):
                if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                    continue
                if entry.get("kty") not in ("RSA", "EC", "OKP"):
                    continue
                public = {k: v for k, v in entry.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "k")}
                try:
                    key = KeySet.import_key_set({"keys": [public]}).keys[0]
                except (JoseError, ValueError, TypeError, KeyError) as exc:
                    log.warning("JWKS %s: skipping an unusable key: %s", self.url, exc)
                    continue
                kid = str(entry.get("kid") or key.thumbprint())
                keys[kid] = key  # type: ignore[assignment]
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            # Keep the keys we have: a provider outage must not log everyone out at once.
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return
        self._keys = keys
        self._fetched_at = self._attempted_at

    def _may_refetch(self) -> bool:
        return self._attempted_at is None or self.clock() - self._attempted_at >= self.min_refetch

    def get(self, kid: str | None) -> PublicKey:
        with self._lock:
            now = self.clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self.ttl
            unknown = kid is not None and kid not in self._keys
            if (stale or unknown) and self._may_refetch():
                self._fetch()
            if kid is None:
                if len(self._keys) == 1:
                    return next(iter(self._keys.values()))
                raise Unauthorized("token has no key id (kid)")
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("token signed with an unknown key")
        return key


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """`a.b.c` looks up nested objects (Keycloak's `realm_access.roles`); a literal dotted key wins."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _single(value: Any, what: str) -> str | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list):
        if len(value) != 1 or not isinstance(value[0], str):
            raise Unauthorized(f"token's {what} claim must hold one value")
        value = value[0]
    if not isinstance(value, str):
        raise Unauthorized(f"token's {what} claim must be a string")
    return value


class OIDCVerifier:
    """Verifies one provider's access tokens and maps their claims to a Principal."""

    def __init__(self, *, issuer: str, audience: str, jwks: JWKSCache, role_claim: str = "role",
                 area_claim: str = "area", unit_claim: str = "unit", level_claim: str = "level",
                 role_map: Mapping[str, str] | None = None,
                 algorithms: tuple[str, ...] = ALGORITHMS, leeway: int = 30, officer_requires_area: bool = True):
        bad = [a for a in algorithms if a not in ALGORITHMS]
        if bad:
            raise ValueError(f"unsupported OIDC algorithms {bad}; allowed: {', '.join(ALGORITHMS)}")
        unknown_roles = sorted({r for r in (role_map or {}).values() if r not in ROLES})
        if unknown_roles:
            raise ValueError(f"oidc_role_map maps to unknown roles {unknown_roles}")
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.role_claim = role_claim
        self.area_claim = area_claim
        self.level_claim = level_claim
        self.unit_claim = unit_claim
        self.role_map = dict(role_map or {})
        self.algorithms = algorithms
        self.leeway = leeway
        self.officer_requires_area = officer_requires_area

    @classmethod
    def from_settings(cls, settings: Any, *, audience: str | None = None,
                      jwks_url: str | None = None) -> OIDCVerifier | None:
        """None unless `oidc_issuer` is set (the embedded default uses only local tokens). `audience` and
        `jwks_url` replace the settings' values (the console verifies ID tokens, whose audience is its client)."""
        issuer = getattr(settings, "oidc_issuer", None)
        if not issuer:
            return None
        audience = audience or settings.oidc_audience
        if not audience:
            raise ValueError("ANTQ_OIDC_AUDIENCE is required when ANTQ_OIDC_ISSUER is set")
        url = jwks_url or settings.oidc_jwks_url or discover_jwks_url(issuer, timeout=settings.oidc_http_timeout)
        jwks = JWKSCache(url, ttl=settings.oidc_jwks_cache_seconds, min_refetch=settings.oidc_jwks_min_refetch_seconds,
                         timeout=settings.oidc_http_timeout)
        return cls(issuer=issuer, audience=audience, jwks=jwks, role_claim=settings.oidc_role_claim,
                   area_claim=settings.oidc_area_claim, unit_claim=settings.oidc_unit_claim,
                   level_claim=settings.oidc_level_claim,
                   role_map=settings.oidc_role_map, algorithms=tuple(settings.oidc_algorithms),
                   leeway=settings.oidc_leeway_seconds, officer_requires_area=settings.oidc_officer_requires_area)

    def handles(self, issuer: Any) -> bool:
        return issuer == self.issuer

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        return self.principal_from(self.verified_claims(token, now=now))

    def verified_claims(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The claims of a token whose signature, issuer, audience, expiry and subject are valid."""
        header = unverified_part(token, 0)
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise Unauthorized("token algorithm is not accepted")
        kid = header.get("kid")
        key = self.jwks.get(str(kid) if kid is not None else None)
        if _KTY_FOR_ALG[str(alg)] != key.key_type:
            raise Unauthorized("token algorithm does not match its key")
        try:
            decoded = jwt.decode(token, key, algorithms=[str(alg)])
        except (JoseError, ValueError) as exc:
            raise Unauthorized("invalid bearer token") from exc
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=int(now) if now is not None else None, leeway=self.leeway,
            iss={"essential": True, "value": self.issuer}, aud={"essential": True, "value": self.audience},
            exp={"essential": True}, sub={"essential": True})
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise Unauthorized(f"token rejected: {exc.description or exc.error}") from exc
        return dict(claims)

    def principal_from(self, claims: Mapping[str, Any]) -> Principal:
        raw_roles = claim_at(claims, self.role_claim)
        values = [raw_roles] if isinstance(raw_roles, str) else raw_roles if isinstance(raw_roles, list) else []
        mapped = {self.role_map.get(v, v if not self.role_map else "") for v in values if isinstance(v, str)}
        roles = [r for r in ROLES if r in mapped]  # several values: the first in ROLES order (admin first)
        if not roles:
            raise Unauthorized("token carries no antq role")
        role = roles[0]
        area = _single(claim_at(claims, self.area_claim), "area")
        unit = _single(claim_at(claims, self.unit_claim), "unit")
        if area is not None and not is_area_code(area):
            raise Unauthorized("token's area claim is not an area code (PP or PP.CCCCC)")
        if unit is not None and not UNIT_PATTERN.match(unit):
            raise Unauthorized("token's unit claim is not a unit id")
        if role == "unit" and unit is None:
            raise Unauthorized("a unit token must carry a unit claim")
        if role == "officer" and area is None and self.officer_requires_area:
            # A provider that forgot the area claim must not hand out nationwide reach.
            raise Unauthorized("an officer token must carry an area claim")
        level = _single(claim_at(claims, self.level_claim), "level") if role == "leader" else None
        problem = scope_problem(role, area=area, unit=unit, level=level)
        if problem:
            raise Unauthorized(f"token's claims do not fit role {role}: {problem}")
        return Principal(sub=str(claims["sub"]), role=role, area=area, unit=unit, level=level,
                         token_id=str(claims["jti"]) if claims.get("jti") is not None else None)


def discover_jwks_url(issuer: str, *, timeout: float = 3.0) -> str:
    """`jwks_uri` from the issuer's `/.well-known/openid-configuration` (used when no JWKS URL is configured)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with httpx.Client(timeout=timeout) as client:
        response = client.get(url)
        response.raise_for_status()
        document = response.json()
    if document.get("issuer") != issuer or not isinstance(document.get("jwks_uri"), str):
        raise ValueError(f"{url} does not describe issuer {issuer!r}")
    return str(document["jwks_uri"])


class CompositeVerifier:
    """The token authority a service uses: local `antq token` tokens (issuer `antq`), then the OIDC provider.

    The issuer claim is read unverified only to pick the verifier; the chosen one verifies everything.
    """

    def __init__(self, local: TokenAuthority, oidc: OIDCVerifier | None = None):
        self.local = local
        self.oidc = oidc

    def issue(self, **kw: Any) -> str:
        return self.local.issue(**kw)

    @property
    def kid(self) -> str:
        return self.local.kid

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        if self.oidc is not None:
            issuer = unverified_part(token, 1).get("iss")
            if issuer != self.local.issuer and self.oidc.handles(issuer):
                return self.oidc.verify(token, now=now)
        return self.local.verify(token, now=now)
