"""Tips use cases: one function per command or event, one transaction each, events out via the outbox."""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from argon2 import PasswordHasher
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert

from services.tips import store
from shared.bus.consumer import Delivery
from shared.contracts.events import OnBehalfOf, ReporterIdentity, TipReceived, TipSubmitted
from shared.db import UnitOfWork, utcnow

URGENT_CATEGORIES = frozenset({"threat_to_life", "ongoing_crime"})
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


class SubmitTip(BaseModel):
    """A tip as submitted over HTTP, by `antq tips submit` or by another agency."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    description: str = Field(min_length=1, max_length=20_000)
    location: str | None = Field(default=None, max_length=1000)
    area_code: str | None = Field(default=None, max_length=50, pattern=r"^[0-9][0-9.]*$")
    unit_id: str | None = Field(default=None, max_length=64)
    occurred_at: datetime | None = None
    anonymous: bool = True
    reporter: ReporterIdentity | None = None
    on_behalf_of: OnBehalfOf | None = None


@dataclass(frozen=True)
class Receipt:
    lookup: str
    secret: str

    def __str__(self) -> str:
        return f"{self.lookup}-{self.secret}"


@dataclass(frozen=True)
class Accepted:
    tip_id: str
    receipt: str
    received_at: datetime


class TipSecrets:
    """Receipt hashing (argon2id) and reporter-identity encryption (AES-GCM) for this deployment."""

    def __init__(self, keys: list[bytes], *, fast_hash: bool = False):
        if not keys:
            raise ValueError("at least one identity key is required")
        self.keys = keys
        # The fast profile exists for tests only; production keeps argon2-cffi's recommended parameters.
        self.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1) if fast_hash else PasswordHasher()

    @classmethod
    def from_settings(cls, configured: str | None, key_file: Path, *, fast_hash: bool = False) -> TipSecrets:
        if configured:
            return cls([base64.b64decode(k.strip()) for k in configured.split(",") if k.strip()],
                       fast_hash=fast_hash)
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(base64.b64encode(AESGCM.generate_key(bit_length=256)))
        return cls([base64.b64decode(key_file.read_bytes().strip())], fast_hash=fast_hash)

    def new_receipt(self) -> Receipt:
        lookup = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        secret = "".join(secrets.choice(_ALPHABET) for _ in range(24))  # 120 bits
        return Receipt(lookup, secret)

    def hash_secret(self, secret: str) -> str:
        return self.hasher.hash(secret)

    def encrypt_identity(self, identity: dict[str, object]) -> bytes:
        nonce = os.urandom(12)
        return b"\x01" + nonce + AESGCM(self.keys[0]).encrypt(nonce, json.dumps(identity).encode(), b"reporter")


def priority_for(category: str) -> str:
    return "urgent" if category in URGENT_CATEGORIES else "normal"


async def submit_tip(cmd: SubmitTip, uow: UnitOfWork, *, channel: str, tip_secrets: TipSecrets) -> Accepted:
    """Store a tip and its TipReceived in one transaction. Identity is encrypted; the receipt only hashed."""
    tip_id = str(uuid.uuid4())
    receipt = tip_secrets.new_receipt()
    received_at = utcnow()
    identity = None
    if cmd.reporter is not None or cmd.on_behalf_of is not None:
        identity = tip_secrets.encrypt_identity({
            "reporter": cmd.reporter.model_dump() if cmd.reporter else None,
            "on_behalf_of": cmd.on_behalf_of.model_dump() if cmd.on_behalf_of else None,
        })
    anonymous = cmd.anonymous or cmd.reporter is None
    priority = priority_for(cmd.category)
    await uow.session.execute(insert(store.tips).values(
        tip_id=tip_id, category=cmd.category, channel=channel, status="received", priority=priority,
        area_code=cmd.area_code, unit_id=cmd.unit_id, anonymous=anonymous, description=cmd.description,
        location=cmd.location, occurred_at=cmd.occurred_at, reporter_enc=identity,
        receipt_lookup=receipt.lookup, receipt_hash=tip_secrets.hash_secret(receipt.secret),
        received_at=received_at,
    ))
    uow.emit(TipReceived(tip_id=tip_id, category=cmd.category, channel=channel,  # type: ignore[arg-type]
                         area_code=cmd.area_code, unit_id=cmd.unit_id, anonymous=anonymous,
                         priority=priority, received_at=received_at))  # type: ignore[arg-type]
    return Accepted(tip_id=tip_id, receipt=str(receipt), received_at=received_at)


async def on_inbound_tip(delivery: Delivery, uow: UnitOfWork, *, tip_secrets: TipSecrets) -> None:
    """A tip forwarded by another agency; a repeated reference from the same agency is processed once."""
    data = delivery.data
    assert isinstance(data, TipSubmitted) and delivery.agency is not None
    if await store.find_inbound(session=uow.session, agency=delivery.agency, reference=data.reference):
        return
    cmd = SubmitTip.model_validate(data.model_dump(exclude={"reference"}))
    accepted = await submit_tip(cmd, uow, channel="agency", tip_secrets=tip_secrets)
    await uow.session.execute(insert(store.inbound_refs).values(
        agency=delivery.agency, reference=data.reference, tip_id=accepted.tip_id))
