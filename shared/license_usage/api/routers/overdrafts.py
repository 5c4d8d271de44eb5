"""``GET /v1/overdrafts``: vendor admins find every current plan using more than its amount."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.caller import current_principal
from license_usage.api.models.plans import OverdraftList, OverdraftOut
from license_usage.domain import access
from license_usage.domain.timestamps import utc_now
from license_usage.usecases.usage import overdrafts

router = Router()


@router.get("/v1/overdrafts", summary="Current plans above their amount, across organizations")
def get_overdrafts() -> OverdraftList:
    access.require(current_principal(router), access.VENDOR)
    return OverdraftList(items=[OverdraftOut(**item) for item in overdrafts(utc_now())])
