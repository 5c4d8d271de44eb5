"""Consumption reads: a plan's usage and its users (org admins, reporters, vendor admins)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.caller import current_principal
from license_usage.api.models.common import DEFAULT_PAGE_SIZE, Cursor, OrgId, PageSize, PlanId
from license_usage.api.models.plans import (
    MaucMonthOut,
    MauMonthOut,
    PlanUserList,
    PlanUserOut,
    SeatsMonthOut,
    UsageOut,
)
from license_usage.domain import access
from license_usage.domain.consumption import MaucMonthRow, MauMonthRow, SeatsMonthRow
from license_usage.domain.plans import PlanType
from license_usage.domain.timestamps import format_utc_seconds, utc_now
from license_usage.usecases.usage import PlanUsage, usage_of, users_of

router = Router()


def _usage_out(result: PlanUsage) -> UsageOut:
    plan, usage = result.plan, result.usage
    months: list[SeatsMonthOut] | list[MauMonthOut] | list[MaucMonthOut]
    if plan.type is PlanType.SEATS:
        months = [
            SeatsMonthOut.model_validate(row, from_attributes=True)
            for row in usage.months
            if isinstance(row, SeatsMonthRow)
        ]
    elif plan.type is PlanType.MAU:
        months = [
            MauMonthOut.model_validate(row, from_attributes=True)
            for row in usage.months
            if isinstance(row, MauMonthRow)
        ]
    else:
        months = [
            MaucMonthOut.model_validate(row, from_attributes=True)
            for row in usage.months
            if isinstance(row, MaucMonthRow)
        ]
    return UsageOut(
        plan_id=plan.plan_id,
        type=plan.type,
        product=plan.product,
        status=result.status,
        amount=usage.amount,
        consumed=usage.consumed,
        available=usage.available,
        utilization_pct=usage.utilization_pct,
        overage=usage.overage,
        forecast_exhausted_on=usage.forecast_exhausted_on,
        months=months,
        data_as_of=format_utc_seconds(result.data_as_of),
        freshness="current" if result.freshness == "current" else "aggregating",
        hard_limit=plan.hard_limit if plan.type is PlanType.SEATS else None,
        inactive_assignments=result.inactive_assignments,
        active_assigned=result.active_assigned,
        active_pct=result.active_pct,
    )


@router.get("/v1/orgs/<org_id>/plans/<plan_id>/usage", summary="A plan's consumption, per plan and per month")
def get_usage(org_id: OrgId, plan_id: PlanId) -> UsageOut:
    access.require(current_principal(router), access.READERS, org_id)
    return _usage_out(usage_of(org_id, plan_id, utc_now()))


@router.get("/v1/orgs/<org_id>/plans/<plan_id>/users", summary="Per-user consumption, paginated")
def get_users(
    org_id: OrgId, plan_id: PlanId, limit: PageSize = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> PlanUserList:
    access.require(current_principal(router), access.READERS, org_id)
    page = users_of(org_id, plan_id, limit, cursor, utc_now())
    return PlanUserList(
        items=[PlanUserOut.model_validate(row, from_attributes=True) for row in page.items],
        next_cursor=page.next_cursor,
    )
