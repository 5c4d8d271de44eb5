"""``GET /v1/health``: open to anyone."""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

router = Router()


class Health(BaseModel):
    status: Literal["ok"]


@router.get("/v1/health", summary="Liveness check")
def health() -> Health:
    return Health(status="ok")
