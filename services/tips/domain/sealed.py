"""Reporter identities that other agencies forward sealed: JWE (ECDH-ES, A256GCM) to the tips service's keys.

An agency forwarding a tip (`antq.inbound.<agency>.TipSubmitted.v1`) encrypts the reporter's identity, an
`InboundIdentity` JSON object, to a public key of `GET /.well-known/jwks.json` and sends the compact JWE as
`reporter_jwe`. Only this service holds the private keys, so the identity is never in clear on the bus, in a
stream's files or in a DLQ record; it is opened here and immediately re-encrypted at rest (`IdentityCipher`).

Keys are EC P-256 (the curve every JOSE library implements for ECDH-ES). The JWE's `kid` names the key that
opens it. Rotation: a new key becomes current (published first, so agencies that pick the first key move to it)
while the older ones stay, opening what was sealed before; an old key is dropped once no agency uses it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, GuestProtocol
from pydantic import ValidationError

from shared.contracts.events import InboundIdentity

KEY_ALG = "ECDH-ES"
CONTENT_ENC = "A256GCM"
CURVE = "P-256"


class UndecryptableIdentity(Exception):
    """A sealed identity that cannot be opened or read. The message says why in general terms, never a value."""


class InboundKeyring:
    """The private keys that open sealed identities; one is current (published first, for new messages)."""

    def __init__(self) -> None:
        self._keys: dict[str, ECKey] = {}
        self._current: str | None = None

    def add_pem(self, pem: bytes, *, make_current: bool = True) -> str:
        """Load one private key (PKCS#8 PEM, EC P-256). Returns its kid (the RFC 7638 thumbprint)."""
        try:
            key = ECKey.import_key(pem)
        except (ValueError, TypeError, JoseError) as exc:
            raise ValueError("not an EC private key") from exc
        if not key.is_private or key.as_dict(private=False).get("crv") != CURVE:
            raise ValueError(f"an inbound identity key must be an EC {CURVE} private key")
        kid = key.thumbprint()
        self._keys[kid] = key
        if make_current or self._current is None:
            self._current = kid
        return kid

    def rotate(self) -> str:
        """Generate a new key and make it current; the older keys stay. Returns its kid."""
        private = ec.generate_private_key(ec.SECP256R1())
        return self.add_pem(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))

    def use(self, kid: str) -> None:
        if kid not in self._keys:
            raise KeyError(kid)
        self._current = kid

    @property
    def current_kid(self) -> str:
        if self._current is None:
            raise KeyError("no inbound identity key")
        return self._current

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def export_pem(self, kid: str) -> bytes:
        return self._keys[kid].as_pem(private=True)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWK set to publish: every key, the current one first; never a private part."""
        order = [self.current_kid, *(k for k in self._keys if k != self._current)] if self._keys else []
        return {"keys": [dict(self._keys[kid].as_dict(private=False)) | {"kid": kid, "use": "enc", "alg": KEY_ALG}
                         for kid in order]}

    def open(self, token: str) -> InboundIdentity:
        """The identity sealed in a compact JWE; `UndecryptableIdentity` for anything else."""
        def key_for(guest: GuestProtocol) -> ECKey:
            kid = guest.headers().get("kid")
            if not isinstance(kid, str) or kid not in self._keys:
                raise UndecryptableIdentity("the JWE names no key (kid) of this service")
            return self._keys[kid]

        try:
            plaintext = jwe.decrypt_compact(token, key_for, algorithms=[KEY_ALG, CONTENT_ENC]).plaintext
        except UndecryptableIdentity:
            raise
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise UndecryptableIdentity(f"the JWE cannot be decrypted ({type(exc).__name__}); it must be compact, "
                                        f"{KEY_ALG} with {CONTENT_ENC}, to a key of /.well-known/jwks.json") from None
        try:
            return InboundIdentity.model_validate(json.loads(plaintext or b""))
        except (ValueError, ValidationError, RecursionError) as exc:
            # Field names only: the values are the reporter's identity.
            fields = sorted({".".join(str(p) for p in e["loc"]) or "<root>"
                             for e in exc.errors(include_input=False)}) if isinstance(exc, ValidationError) else []
            raise UndecryptableIdentity("the decrypted identity is not an identity object"
                                        + (f" ({', '.join(fields)})" if fields else "")) from None


def seal(identity: Mapping[str, Any], jwks: Mapping[str, Any]) -> str:
    """What an agency does (`docs/tips.md` has it as a standalone publisher): the identity as a compact JWE to the
    first key of the tips service's JWK set."""
    jwk = jwks["keys"][0]
    public = ECKey.import_key({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
    header = {"alg": KEY_ALG, "enc": CONTENT_ENC, "kid": jwk["kid"]}
    return jwe.encrypt_compact(header, json.dumps(dict(identity), ensure_ascii=False).encode(), public)


# --- receipts sealed to an agency -------------------------------------------------------------------------------
# A tip an agency forwards is answered with `TipAccepted.v1` on the agency's own subject; the receipt in it is a
# compact JWE (the same algorithms) to the agency's registered public key, so only the agency can read it.

class InvalidAgencyKey(ValueError):
    """A JWK set that cannot take receipts: the message says what is wrong (never key material)."""


def agency_jwks(raw: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """An agency's JWK set as registered: its EC P-256 public keys for encryption, each with a `kid` (the RFC 7638
    thumbprint when absent), the first one used. A private key is refused (the platform never holds an agency's
    private key); keys for other uses (`use` other than `enc`) are dropped."""
    keys = raw.get("keys") if isinstance(raw, Mapping) else None
    if not isinstance(keys, list) or not keys:
        raise InvalidAgencyKey("a JWK set is an object with a non-empty `keys` list")
    out: list[dict[str, Any]] = []
    for jwk in keys:
        if not isinstance(jwk, Mapping):
            raise InvalidAgencyKey("every entry of `keys` is a JWK object")
        if "d" in jwk:
            raise InvalidAgencyKey("a private key was given: register the agency's public key only")
        if jwk.get("use", "enc") != "enc" or jwk.get("alg", KEY_ALG) != KEY_ALG:
            continue
        if jwk.get("kty") != "EC" or jwk.get("crv") != CURVE:
            raise InvalidAgencyKey(f"receipts are encrypted to EC {CURVE} keys (kty EC, crv {CURVE})")
        try:
            key = ECKey.import_key({k: jwk[k] for k in ("kty", "crv", "x", "y")})
        except (KeyError, ValueError, TypeError, JoseError) as exc:
            raise InvalidAgencyKey(f"not a valid EC public key ({type(exc).__name__})") from None
        kid = jwk.get("kid") or key.thumbprint()
        if not isinstance(kid, str) or not 0 < len(kid) <= 200:
            raise InvalidAgencyKey("a `kid` is a string of 1 to 200 characters")
        out.append(dict(key.as_dict(private=False)) | {"kid": kid, "use": "enc", "alg": KEY_ALG})
    if not out:
        raise InvalidAgencyKey(f"no key for encryption ({KEY_ALG}) in the set")
    return {"keys": out}


class ReceiptSealer:
    """Seals receipts to one agency's JWK set: the set checked (`agency_jwks`) and its first key imported once, for
    every receipt of a batch. Each receipt still gets its own ephemeral key (ECDH-ES): only the agency's key is
    kept. Checking the set and importing its key again for every receipt was half of what sealing one cost
    (docs/benchmarks.md). `InvalidAgencyKey` when the set cannot take receipts."""

    def __init__(self, jwks: Mapping[str, Any]):
        jwk = agency_jwks(jwks)["keys"][0]
        self._key = ECKey.import_key({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
        self._kid = jwk["kid"]

    def seal(self, receipt: str, *, tip_id: str, reference: str) -> str:
        """`{receipt, tip_id, reference}` as a compact JWE (ECDH-ES, A256GCM) to the agency's key."""
        header = {"alg": KEY_ALG, "enc": CONTENT_ENC, "kid": self._kid}
        payload = {"receipt": receipt, "tip_id": tip_id, "reference": reference}
        return jwe.encrypt_compact(header, json.dumps(payload).encode(), self._key)


def seal_receipt(receipt: str, *, tip_id: str, reference: str, jwks: Mapping[str, Any]) -> str:
    """One receipt sealed to the first key of an agency's JWK set (see `ReceiptSealer`, for many)."""
    return ReceiptSealer(jwks).seal(receipt, tip_id=tip_id, reference=reference)
