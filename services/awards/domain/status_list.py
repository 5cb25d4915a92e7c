"""W3C Bitstring Status List v1.0 (revocation) for award certificates.

Every certificate signed since status lists exist carries a `BitstringStatusListEntry` (`statusPurpose:
"revocation"`, `statusListIndex`, `statusListCredential`). The list is published as a signed
`BitstringStatusListCredential` whose `encodedList` is the multibase (`u`, base64url without padding) of the GZIP
of the bitstring: bit `i` (counted from the most significant bit of the first byte) is 1 while the certificate at
index `i` is revoked. Each list holds `LIST_SIZE` (131,072, the specification's minimum) entries; index `n`
lives in list `n // LIST_SIZE` at position `n % LIST_SIZE`.

A revocation here follows the award: the bit is set when the award is annulled and cleared again when a withdrawn
incident restores it (`restore_grant`), so a verifier must read the list fresh (it is served `no-cache`).
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared.errors import Invalid

LIST_SIZE = 131_072
STATUS_PURPOSE = "revocation"


def iso_z(moment: datetime) -> str:
    """A timezone-aware instant as `YYYY-MM-DDThh:mm:ss[.ffffff]Z`."""
    if moment.tzinfo is None:
        raise Invalid("certificate times must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def position(index: int) -> tuple[int, int]:
    """(list number, index within the list) of a certificate's global status index."""
    if index < 0:
        raise Invalid("status index must not be negative")
    return divmod(index, LIST_SIZE)


def encode(set_bits: Iterable[int], *, size: int = LIST_SIZE) -> str:
    """The `encodedList` of a bitstring of `size` bits with `set_bits` set."""
    bits = bytearray(size // 8)
    for i in set_bits:
        if not 0 <= i < size:
            raise Invalid(f"status index {i} is outside the list")
        bits[i // 8] |= 0x80 >> (i % 8)
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode("ascii").rstrip("=")


def decode(encoded_list: str) -> bytes:
    """The bitstring of an `encodedList` (multibase base64url, GZIP)."""
    if not encoded_list.startswith("u"):
        raise Invalid("encodedList is not multibase base64url ('u')")
    body = encoded_list[1:]
    return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def is_set(bitstring: bytes, index: int) -> bool:
    if not 0 <= index < len(bitstring) * 8:
        raise Invalid(f"status index {index} is outside the list")
    return bool(bitstring[index // 8] & (0x80 >> (index % 8)))


def entry(list_url: str, index: int) -> dict[str, Any]:
    """The credential's `credentialStatus` for its position in the list at `list_url`."""
    _, at = position(index)
    return {"id": f"{list_url}#{at}", "type": "BitstringStatusListEntry", "statusPurpose": STATUS_PURPOSE,
            "statusListIndex": str(at), "statusListCredential": list_url}


def list_credential(list_url: str, issuer: Mapping[str, Any], revoked_positions: Iterable[int], *,
                    valid_from: datetime, vc_context: str) -> dict[str, Any]:
    """The (unsigned) `BitstringStatusListCredential` of one list."""
    return {
        "@context": [vc_context],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": dict(issuer),
        "validFrom": iso_z(valid_from),
        "credentialSubject": {"id": f"{list_url}#list", "type": "BitstringStatusList",
                              "statusPurpose": STATUS_PURPOSE, "encodedList": encode(revoked_positions)},
    }
