"""``GET /v1/overdrafts``: vendor admins find every current plan using more than its amount."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.caller import current_principal
from license_usage.api.models.common import DEFAULT_PAGE_SIZE, Cursor, PageSize
from license_usage.api.models.plans import OverdraftList, OverdraftOut
from license_usage.domain import access
from license_usage.domain.timestamps import utc_now
from license_usage.usecases.usage import overdrafts

router = Router()


@router.get("/v1/overdrafts", summary="Current plans above their amount, across organizations")
def get_overdrafts(limit: PageSize = DEFAULT_PAGE_SIZE, cursor: Cursor = None) -> OverdraftList:
    access.require(current_principal(router), access.VENDOR)
    page = overdrafts(utc_now(), limit, cursor)
    return OverdraftList(
        items=[OverdraftOut.model_validate(item, from_attributes=True) for item in page.items],
        next_cursor=page.next_cursor,
    )
