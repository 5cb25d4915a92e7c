"""The intake baseline: a bare FastAPI endpoint that validates a tip-shaped body and answers 202 with JSON.

Same framework, server and defaults as the tips service (FastAPI under uvicorn with uvloop and httptools);
no database, no broker, no hashing: what the framework costs by itself.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

app = FastAPI(title="bare baseline")


class Tip(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=20_000)
    area_code: str | None = Field(default=None, max_length=20)
    anonymous: bool = True


class Accepted(BaseModel):
    tip_id: str
    receipt: str
    received_at: datetime


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@app.post("/tips", status_code=202, response_model=Accepted)
async def post_tip(body: Tip) -> JSONResponse:
    accepted = Accepted(tip_id=str(uuid.uuid4()), receipt=uuid.uuid4().hex, received_at=datetime.now(UTC))
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202)
