"""Webhook signatures: `X-Antq-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

For receivers: take the raw request body (bytes, before any JSON parsing), the header and your secret, and call
`verify_webhook_signature`. The function uses only the standard library, so it can be copied as it is. A header
may hold several `v1=` values while a secret is being rotated; one match is enough. The timestamp is part of the
signed text, so an old request replayed later fails the tolerance check.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Antq-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def sign_webhook(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_webhook_signature(
    secret: str, header: str, body: bytes, tolerance: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """True when `header` signs exactly `body` with `secret` and its timestamp is within `tolerance` of `now`."""
    import time

    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    # compare_digest takes the same time whatever the first differing byte is: no timing oracle.
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
