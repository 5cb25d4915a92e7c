"""Units HTTP routes: validate, authorise, call a handler, nothing else."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.units import store
from services.units.handlers import RegisterUnit, register_unit
from shared.errors import NotFound
from shared.http import ERROR_RESPONSES, principal_with

router = APIRouter()


class UnitOut(BaseModel):
    unit_id: str
    name: str
    kind: str
    area_code: str
    address: str | None
    external_key: str | None
    in_scope: bool
    status: str
    created_at: datetime
    updated_at: datetime


@router.post("/units", status_code=201, response_model=UnitOut, tags=["units"], responses=ERROR_RESPONSES,
             summary="Register a unit")
async def post_unit(body: RegisterUnit, request: Request) -> UnitOut:
    principal_with(request, "admin", "officer")
    async with request.app.state.service.db.unit_of_work() as uow:
        row = await register_unit(body, uow)
    return UnitOut.model_validate(row)


@router.get("/units/{unit_id}", response_model=UnitOut, tags=["units"], responses=ERROR_RESPONSES,
            summary="One unit")
async def get_unit(unit_id: str, request: Request) -> UnitOut:
    principal_with(request, "admin", "officer", "unit", "agency")
    async with request.app.state.service.db.read() as session:
        row = await store.get_unit(session=session, unit_id=unit_id)
    if row is None:
        raise NotFound("no such unit")
    return UnitOut.model_validate(row)
