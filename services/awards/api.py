"""Awards HTTP routes: validate, authorise, call a handler, nothing else."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import select

from services.awards import store
from shared.http import ERROR_RESPONSES, principal_with

router = APIRouter()


class CertificationFact(BaseModel):
    unit_id: str
    year: int
    status: str
    rating: str | None
    consecutive_years: int | None


@router.get("/units/{unit_id}/certifications", response_model=list[CertificationFact], tags=["awards"],
            responses=ERROR_RESPONSES, summary="Certification facts the awards service holds for a unit")
async def unit_certifications(unit_id: str, request: Request) -> list[CertificationFact]:
    principal_with(request, "admin", "officer")
    t = store.unit_certifications
    async with request.app.state.service.db.read() as session:
        rows = (await session.execute(select(t).where(t.c.unit_id == unit_id).order_by(t.c.year))).mappings()
        return [CertificationFact.model_validate(dict(r)) for r in rows]
