"""``GET /v1/orgs``: every organization with its current plans (vendor admins)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.caller import current_principal
from license_usage.api.models.common import DEFAULT_PAGE_SIZE, Cursor, PageSize
from license_usage.api.models.plans import OrgList, OrgOut, PlanOut
from license_usage.domain import access
from license_usage.domain.timestamps import utc_now
from license_usage.usecases.orgs import organizations

router = Router()


@router.get("/v1/orgs", summary="The organizations and their current plans")
def get_orgs(limit: PageSize = DEFAULT_PAGE_SIZE, cursor: Cursor = None) -> OrgList:
    access.require(current_principal(router), access.VENDOR)
    now = utc_now()
    page = organizations(limit, cursor, now)
    return OrgList(
        items=[
            OrgOut(
                org_id=org.org_id,
                created_at=org.created_at,
                current_plans=[PlanOut.of(plan, now) for plan in org.current_plans],
            )
            for org in page.items
        ],
        next_cursor=page.next_cursor,
    )
