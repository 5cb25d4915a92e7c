"""Deterministic ids that make notify idempotent: one notification per (cause, recipient, channel), one digest a day."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date

# Fixed namespaces: changing them would give redelivered events new ids and send everything twice.
NOTIFICATION_NAMESPACE = uuid.UUID("5d0f3c1e-6a7b-5c52-9a44-1f0b7e2d9a10")
DIGEST_NAMESPACE = uuid.UUID("a3e4b1d2-0c9f-5e87-8b61-2d4c6f8e0a31")


def notification_id(cause_event_id: str, recipient_id: str, channel: str) -> str:
    """The same inputs always give the same id; a unique key on it turns a redelivered event into a no-op."""
    # The separator cannot occur in a channel name, and the fields are length-prefixed so ("a|b", "c") and
    # ("a", "b|c") never collide.
    name = f"{len(cause_event_id)}:{cause_event_id}|{len(recipient_id)}:{recipient_id}|{channel}"
    return _uuid5_text(_NOTIFICATION_PREFIX, name)


_NOTIFICATION_PREFIX = NOTIFICATION_NAMESPACE.bytes


def _uuid5_text(namespace: bytes, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))` without building the UUID object (one per notification routed): the
    SHA-1 of namespace and name, version 5 and the RFC 4122 variant set, in the canonical text form."""
    digest = bytearray(hashlib.sha1(namespace + name.encode("utf-8"), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def digest_id(recipient_id: str, channel: str, day: date) -> str:
    """The id of one recipient's digest for one local day on one channel; sending it twice is refused by key."""
    name = f"{len(recipient_id)}:{recipient_id}|{channel}|{day.isoformat()}"
    return str(uuid.uuid5(DIGEST_NAMESPACE, name))
