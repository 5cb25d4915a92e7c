"""Verifiable award certificates: Open Badges 3.0 credentials signed as compact JWS with rotating Ed25519 keys.

Format (what an outside verifier needs to know), Open Badges 3.0 section 8.2 "JSON Web Token Proof Format":
- The certificate is a compact JWS (RFC 7515) whose payload is the credential JSON plus the JWT claims OB 3.0
  asks for: `iss` (issuer id), `sub` (credentialSubject id), `jti` (credential id), `nbf` (validFrom) and `exp`
  (validUntil, when the award expires). Protected header `{"alg": "EdDSA", "typ": "JWT", "kid": <key URL>}`,
  no `cty`.
- `alg` EdDSA with an Ed25519 key (RFC 8037). The verifier also accepts the fully specified name "Ed25519"
  (RFC 9864); the signature bytes are the same.
- `kid` is `<public base>/.well-known/jwks.json#<thumbprint>`: the JWK set URL and, as fragment, the RFC 7638
  thumbprint that is the key's `kid` in that set. The set holds every public key the deployment has ever signed
  with; old keys stay in it after rotation so earlier certificates keep verifying. Certificates signed before
  this format carry the bare thumbprint as `kid` (header `typ: vc+jwt, cty: vc`, no JWT claims) and still verify.
- Offline check: split the token, pick the JWK whose `kid` is the header kid's fragment, verify the Ed25519
  signature over `base64url(header) + "." + base64url(payload)`, then read `nbf`/`exp` (or `validFrom` /
  `validUntil`). Revocation is read from the W3C Bitstring Status List the credential's `credentialStatus` points
  at (see `status_list`), or asked of `POST /certificates/verify`.
We chose JWS over a detached Data-Integrity proof because a JWS needs no JSON-LD canonicalisation: any JOSE
library can check it with nothing but the JWK set.
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import segno
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import (
    BadSignatureError,
    DecodeError,
    JoseError,
    UnsupportedAlgorithmError,
)
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry

from shared.errors import Invalid, NotFound

from . import status_list
from .rules import RuleSet
from .workflow import Award

SIGNING_ALG = "EdDSA"
ACCEPTED_ALGS: tuple[str, ...] = ("EdDSA", "Ed25519")
CREDENTIAL_TYP = "JWT"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
JWKS_PATH = "/.well-known/jwks.json"
ANTQ_CONTEXT_PATH = "/contexts/antq-v1.jsonld"
# The registered JWT claims OB 3.0 puts next to the credential's own properties in the payload.
JWT_CLAIMS = ("iss", "sub", "jti", "nbf", "exp", "iat")
ANTQ_VOCAB = "urn:antq:terms:"
# The JSON-LD context of the `antq` block (served at ANTQ_CONTEXT_PATH, listed in every credential's @context), so
# JSON-LD processing keeps the block instead of dropping it. The approving authority's names stay a JSON literal.
ANTQ_CONTEXT: dict[str, Any] = {"@context": {
    "@version": 1.1,
    "@protected": True,
    "antq": {"@id": f"{ANTQ_VOCAB}awardRecord", "@context": {
        "@protected": True,
        "award_id": f"{ANTQ_VOCAB}awardId",
        "award_type": f"{ANTQ_VOCAB}awardType",
        "year": {"@id": f"{ANTQ_VOCAB}year", "@type": "http://www.w3.org/2001/XMLSchema#integer"},
        "decision_no": f"{ANTQ_VOCAB}decisionNumber",
        "approved_by_level": f"{ANTQ_VOCAB}approvedByLevel",
        "approving_authority": {"@id": f"{ANTQ_VOCAB}approvingAuthority", "@type": "@json"},
    }},
}}


class _Ed25519Registry(JWSRegistry):
    """A JWS registry that allows only Ed25519 signatures.

    joserfc warns that the name "EdDSA" is deprecated by RFC 9864; we keep signing with it on purpose because most
    verifiers in the field do not know "Ed25519" yet, so the warning carries no information for us.
    """

    def get_alg(self, name: str) -> JWSAlgModel:
        if name not in ACCEPTED_ALGS or name not in self.algorithms:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


_REGISTRY = _Ed25519Registry()


# --- keys ----------------------------------------------------------------------------------------------------
def _okp_from_private_pem(pem: bytes) -> OKPKey:
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise Invalid("signing key is not an unencrypted PEM private key") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise Invalid("signing key is not an Ed25519 key")
    return OKPKey.import_key(private)


class Keyring:
    """The deployment's Ed25519 signing keys: one current key signs; every key stays published for verification.

    Rotation: `rotate()` adds a fresh key and makes it current. Store `export_pems()` (private, keep secret) and
    publish `jwks()`; never drop an old key from the JWK set while certificates it signed are still in circulation.
    """

    def __init__(self, pems: Iterable[bytes] = (), *, current_kid: str | None = None) -> None:
        self._keys: dict[str, OKPKey] = {}
        self._current: str | None = None
        for pem in pems:
            self.add_pem(pem)
        if current_kid is not None:
            self.use(current_kid)

    @classmethod
    def generate(cls) -> Keyring:
        keyring = cls()
        keyring.rotate()
        return keyring

    @staticmethod
    def kid_of(key: OKPKey) -> str:
        return key.thumbprint()

    def add_pem(self, pem: bytes, *, make_current: bool = True) -> str:
        """Load one private key (PEM); the last one added is current unless told otherwise. Returns its kid."""
        key = _okp_from_private_pem(pem)
        kid = self.kid_of(key)
        self._keys[kid] = key
        if make_current or self._current is None:
            self._current = kid
        return kid

    def rotate(self) -> str:
        """Generate a new key, make it current, keep the old ones; returns the new kid."""
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return self.add_pem(pem)

    def use(self, kid: str) -> None:
        if kid not in self._keys:
            raise NotFound(f"no signing key {kid!r}", details={"kid": kid})
        self._current = kid

    @property
    def current_kid(self) -> str:
        if self._current is None:
            raise NotFound("the keyring holds no signing key")
        return self._current

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def export_pem(self, kid: str) -> bytes:
        if kid not in self._keys:
            raise NotFound(f"no signing key {kid!r}", details={"kid": kid})
        return self._keys[kid].as_pem(private=True)

    def export_pems(self) -> dict[str, bytes]:
        """Every private key as PEM, by kid (to persist the keyring; treat as a secret)."""
        return {kid: self.export_pem(kid) for kid in self._keys}

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWK set to publish: every key, current one first."""
        order = [self.current_kid] + [k for k in self._keys if k != self._current] if self._keys else []
        keys = []
        for kid in order:
            public = dict(self._keys[kid].as_dict(private=False))
            public.update({"kid": kid, "alg": SIGNING_ALG, "use": "sig"})
            keys.append(public)
        return {"keys": keys}

    def sign(self, payload: bytes, *, jwks_url: str | None = None) -> str:
        """Compact JWS of `payload` with the current key; the header's kid is `<jwks_url>#<thumbprint>` (the
        bare thumbprint without a URL), `typ` JWT."""
        kid = self.current_kid
        header = {"alg": SIGNING_ALG, "kid": f"{jwks_url}#{kid}" if jwks_url else kid, "typ": CREDENTIAL_TYP}
        return jws.serialize_compact(header, payload, self._keys[kid], registry=_REGISTRY)


# --- credential ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Issuer:
    """The issuing deployment as it appears in certificates (OB 3.0 Profile)."""

    id: str
    name: str
    url: str | None = None


_iso = status_list.iso_z


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def certificate_urn(certificate_id: str) -> str:
    return f"urn:uuid:{certificate_id}"


def build_credential(
    award: Award,
    rules: RuleSet,
    *,
    certificate_id: str,
    issuer: Issuer,
    issued_at: datetime,
    recipient_name: str | None = None,
    status: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Open Badges 3.0 credential for an approved award (unsigned JSON); `status` is its
    `credentialStatus` (a `status_list.entry`)."""
    if award.status not in {"approved", "granted"}:
        raise Invalid(f"no certificate for an award that is {award.status}", details={"status": award.status})
    award_type = rules.award_type(award.award_type)
    level_names = rules.levels.get(award.approved_by_level or award.level)
    valid_until = None
    if award_type.validity_years:
        valid_until = issued_at.replace(year=issued_at.year + award_type.validity_years)
    subject: dict[str, Any] = {
        "id": f"urn:antq:{award.recipient_kind}:{award.recipient_ref}",
        "type": ["AchievementSubject"],
        "achievement": {
            "id": f"urn:antq:achievement:{award.award_type}",
            "type": ["Achievement"],
            "achievementType": "Award",
            "name": award_type.name.vi,
            "description": award_type.name.en,
            "criteria": {"narrative": f"{award_type.name.en} {award.year} (rules {award.rule_version})"},
        },
    }
    if recipient_name:
        subject["name"] = recipient_name
    issuer_profile: dict[str, Any] = {"id": issuer.id, "type": ["Profile"], "name": issuer.name}
    if issuer.url:
        issuer_profile["url"] = issuer.url
    credential: dict[str, Any] = {
        "@context": [VC_CONTEXT, OB_CONTEXT, f"{issuer.id.rstrip('/')}{ANTQ_CONTEXT_PATH}"],
        "id": certificate_urn(certificate_id),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": issuer_profile,
        "name": f"{award_type.name.vi} {award.year}",
        "validFrom": _iso(issued_at),
        "credentialSubject": subject,
        "evidence": [
            {"id": f"urn:antq:event:{event_id}", "type": ["Evidence"], "name": "basis event"}
            for event_id in award.basis
        ],
        "antq": {
            "award_id": award.award_id,
            "award_type": award.award_type,
            "year": award.year,
            "decision_no": award.decision_no,
            "approved_by_level": award.approved_by_level,
            "approving_authority": level_names.model_dump() if level_names else None,
        },
    }
    if valid_until is not None:
        credential["validUntil"] = _iso(valid_until)
    if status is not None:
        credential["credentialStatus"] = dict(status)
    return credential


def canonical_bytes(credential: Mapping[str, Any]) -> bytes:
    return json.dumps(credential, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _epoch(value: Any) -> int | None:
    moment = _parse_iso(value)
    return int(moment.timestamp()) if moment is not None else None


def jwt_claims(credential: Mapping[str, Any]) -> dict[str, Any]:
    """The JWT claims OB 3.0 requires next to the credential: iss, sub, jti, nbf, and exp when it expires."""
    issuer = credential.get("issuer")
    claims: dict[str, Any] = {
        "iss": issuer.get("id") if isinstance(issuer, Mapping) else issuer,
        "sub": credential.get("credentialSubject", {}).get("id"),
        "jti": credential.get("id"),
        "nbf": _epoch(credential.get("validFrom")),
    }
    if credential.get("validUntil") is not None:
        claims["exp"] = _epoch(credential["validUntil"])
    return {name: value for name, value in claims.items() if value is not None}


def credential_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The credential inside a JWT payload (its properties without the registered JWT claims)."""
    return {name: value for name, value in payload.items() if name not in JWT_CLAIMS}


def sign_certificate(credential: Mapping[str, Any], keyring: Keyring, *, jwks_url: str | None = None) -> str:
    """The compact JWS (a JWT: credential + OB 3.0 claims) of the credential, signed with the current key."""
    overlap = set(credential) & set(JWT_CLAIMS)
    if overlap:
        raise Invalid("a credential must not carry JWT claim names", details={"names": sorted(overlap)})
    return keyring.sign(canonical_bytes({**credential, **jwt_claims(credential)}), jwks_url=jwks_url)


def key_id(kid: Any) -> Any:
    """The JWK set's kid named by a header kid: the fragment of `<jwks url>#<kid>`, else the kid itself."""
    if isinstance(kid, str) and "#" in kid:
        return kid.rsplit("#", 1)[1]
    return kid


# --- verification --------------------------------------------------------------------------------------------
Status = Literal["valid", "revoked", "invalid"]


@dataclass(frozen=True)
class VerificationResult:
    status: Status
    reason: str
    message: str
    certificate_id: str | None = None
    kid: str | None = None
    credential: dict[str, Any] | None = field(default=None, compare=False)

    def to_public(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "message": self.message,
                "certificate_id": self.certificate_id, "kid": self.kid, "credential": self.credential}


def _invalid(reason: str, message: str, **extra: Any) -> VerificationResult:
    return VerificationResult("invalid", reason, message, **extra)


def certificate_id_of(credential: Mapping[str, Any]) -> str | None:
    value = credential.get("id")
    if isinstance(value, str) and value.startswith("urn:uuid:"):
        return value.removeprefix("urn:uuid:")
    return None


def _token_of(token_or_doc: str | Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any] | None]:
    """Accepts the bare JWS or the JSON served for a certificate ({"jws": ..., "credential": ...})."""
    if isinstance(token_or_doc, str):
        return token_or_doc.strip(), None
    for name in ("jws", "certificate", "token"):
        value = token_or_doc.get(name)
        if isinstance(value, str):
            claimed = token_or_doc.get("credential")
            return value.strip(), claimed if isinstance(claimed, Mapping) else None
    return None, None


def verify_certificate(
    token_or_doc: str | Mapping[str, Any],
    jwks: Mapping[str, Any],
    revoked_ids: Collection[str],
    *,
    now: datetime,
) -> VerificationResult:
    """Check a certificate with only the published JWK set and the list of revoked certificate ids.

    Reasons: malformed, unsupported_algorithm, unknown_key, bad_signature (also a tampered payload), content_mismatch
    (the JSON shown next to the token differs from what was signed), revoked, not_yet_valid, expired, ok.
    """
    token, claimed = _token_of(token_or_doc)
    if not token:
        return _invalid("malformed", "no signed certificate (compact JWS) was given")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        return _invalid("malformed", "the certificate is not a compact JWS")
    kid = key_id(header.get("kid"))
    if header.get("alg") not in ACCEPTED_ALGS:
        return _invalid("unsupported_algorithm", f"algorithm {header.get('alg')!r} is not accepted", kid=kid)
    entry = next((k for k in jwks.get("keys", []) if isinstance(k, Mapping) and k.get("kid") == kid), None)
    if entry is None:
        return _invalid("unknown_key", f"no published key with kid {kid!r}", kid=kid)
    try:
        public = OKPKey.import_key(dict(entry))
        payload = jws.deserialize_compact(token, public, registry=_REGISTRY).payload
    except BadSignatureError:
        return _invalid("bad_signature", "the signature does not match the content (tampered or wrong key)", kid=kid)
    except (JoseError, DecodeError, ValueError) as exc:
        return _invalid("malformed", f"the certificate cannot be checked: {exc}", kid=kid)
    try:
        claims = json.loads(payload)
    except ValueError:
        return _invalid("malformed", "the signed payload is not JSON", kid=kid)
    if not isinstance(claims, dict):
        return _invalid("malformed", "the signed payload is not a credential", kid=kid)
    credential = credential_of(claims)
    types = credential.get("type")
    if not isinstance(types, list) or "OpenBadgeCredential" not in types:
        # The same keys sign the revocation status lists: one of those is not a certificate.
        return _invalid("malformed", "the signed credential is not an OpenBadgeCredential", kid=kid)
    certificate_id = certificate_id_of(credential)
    found: dict[str, Any] = {"certificate_id": certificate_id, "kid": kid, "credential": credential}
    if claimed is not None and canonical_bytes(claimed) != canonical_bytes(credential):
        return _invalid("content_mismatch", "the credential shown differs from the signed one", **found)
    if certificate_id is not None and certificate_id in revoked_ids:
        return VerificationResult("revoked", "revoked", "the award behind this certificate was annulled", **found)
    valid_from = _parse_iso(credential.get("validFrom"))
    valid_until = _parse_iso(credential.get("validUntil"))
    if valid_from is None:
        return _invalid("malformed", "the credential has no validFrom", **found)
    if now < valid_from:
        return _invalid("not_yet_valid", f"valid from {credential['validFrom']}", **found)
    if valid_until is not None and now >= valid_until:
        return _invalid("expired", f"expired on {credential['validUntil']}", **found)
    return VerificationResult("valid", "ok", "signature and validity checked", **found)


# --- printable page helpers ----------------------------------------------------------------------------------
def qr_svg(url: str, *, scale: int = 4) -> str:
    """A standalone SVG of a QR code carrying the verification URL (for the printable certificate page)."""
    if not url:
        raise Invalid("verification URL is empty")
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="svg", scale=scale, xmldecl=False, svgns=True,
                                                 title="verification link")
    return buffer.getvalue().decode("utf-8")
