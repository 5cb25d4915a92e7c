"""Tips HTTP routes: validate, authorise, call a handler, nothing else."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.tips.handlers import SubmitTip, TipSecrets, submit_tip
from shared.http import ERROR_RESPONSES

router = APIRouter()


class TipAccepted(BaseModel):
    tip_id: str
    receipt: str
    received_at: datetime


@router.post("/tips", status_code=202, response_model=TipAccepted, tags=["public"],
             summary="Submit a tip (public; anonymous allowed)", responses=ERROR_RESPONSES)
async def post_tip(body: SubmitTip, request: Request) -> JSONResponse:
    service = request.app.state.service
    tip_secrets: TipSecrets = request.app.state.tip_secrets
    async with service.db.unit_of_work() as uow:
        accepted = await submit_tip(body, uow, channel="web", tip_secrets=tip_secrets)
    # The receipt is shown once; it is never logged and only its hash is stored.
    return JSONResponse(TipAccepted(tip_id=accepted.tip_id, receipt=accepted.receipt,
                                    received_at=accepted.received_at).model_dump(mode="json"),
                        status_code=202, headers={"Cache-Control": "no-store"})
