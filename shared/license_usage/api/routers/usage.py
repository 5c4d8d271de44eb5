"""Consumption reads: a plan's usage and its users (org admins, reporters, vendor admins)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.caller import current_principal
from license_usage.api.models.common import DEFAULT_PAGE_SIZE, Cursor, OrgId, PageSize, PlanId
from license_usage.api.models.plans import PlanUserList, PlanUserOut, UsageOut
from license_usage.domain import access
from license_usage.domain.timestamps import utc_now
from license_usage.usecases.usage import usage_of, users_of

router = Router()


@router.get("/v1/orgs/<org_id>/plans/<plan_id>/usage", summary="A plan's consumption, per plan and per month")
def get_usage(org_id: OrgId, plan_id: PlanId) -> UsageOut:
    access.require(current_principal(router), access.READERS, org_id)
    return UsageOut(**usage_of(org_id, plan_id, utc_now()))


@router.get("/v1/orgs/<org_id>/plans/<plan_id>/users", summary="Per-user consumption, paginated")
def get_users(
    org_id: OrgId, plan_id: PlanId, limit: PageSize = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> PlanUserList:
    access.require(current_principal(router), access.READERS, org_id)
    page = users_of(org_id, plan_id, limit, cursor)
    return PlanUserList(items=[PlanUserOut(**item) for item in page.items], next_cursor=page.next_cursor)
