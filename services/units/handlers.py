"""Units use cases: one function per command or event, one transaction each, events out via the outbox."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, update

from services.units import store
from shared.bus.consumer import Delivery
from shared.contracts.events import UnitRegistered, UnitUpdated, UnitUpserted
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict


class RegisterUnit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=500)
    kind: Literal["agency", "enterprise", "school"]
    area_code: str = Field(min_length=1, max_length=50, pattern=r"^[0-9][0-9.]*$")
    address: str | None = Field(default=None, max_length=1000)
    external_key: str | None = Field(default=None, min_length=1, max_length=200)
    in_scope: bool = True


async def register_unit(cmd: RegisterUnit, uow: UnitOfWork) -> dict[str, Any]:
    if cmd.external_key and await store.get_unit_by_external_key(session=uow.session,
                                                                  external_key=cmd.external_key):
        raise Conflict("a unit with this external key exists", code="duplicate_external_key")
    unit_id = str(uuid.uuid4())
    now = utcnow()
    row = {"unit_id": unit_id, "status": "active", "created_at": now, "updated_at": now, **cmd.model_dump()}
    await uow.session.execute(insert(store.units).values(**row))
    uow.emit(UnitRegistered(unit_id=unit_id, name=cmd.name, kind=cmd.kind, area_code=cmd.area_code,
                            in_scope=cmd.in_scope, external_key=cmd.external_key))
    return row


async def on_unit_upserted(delivery: Delivery, uow: UnitOfWork) -> None:
    """A business or school registry's record: create the unit, or update it by its external key."""
    data = delivery.data
    assert isinstance(data, UnitUpserted)
    existing = await store.get_unit_by_external_key(session=uow.session, external_key=data.external_key)
    if existing is None:
        await register_unit(RegisterUnit(name=data.name, kind=data.kind, area_code=data.area_code,
                                         address=data.address, external_key=data.external_key,
                                         in_scope=True if data.in_scope is None else data.in_scope), uow)
        return
    wanted: dict[str, Any] = {"name": data.name, "kind": data.kind, "area_code": data.area_code,
                              "address": data.address}
    if data.in_scope is not None:
        wanted["in_scope"] = data.in_scope
    changed = {k: v for k, v in wanted.items() if v is not None and existing.get(k) != v}
    if not changed:
        return
    await uow.session.execute(update(store.units).where(store.units.c.unit_id == existing["unit_id"])
                              .values(**changed, updated_at=utcnow()))
    uow.emit(UnitUpdated(unit_id=existing["unit_id"], changed=changed))
