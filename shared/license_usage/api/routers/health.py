"""``GET /v1/health``: open to anyone."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

router = Router()


@router.get("/v1/health", summary="Liveness check")
def health() -> dict[str, str]:
    return {"status": "ok"}
