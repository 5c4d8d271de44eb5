"""The License & AI Usage report, a plan's seat history and its entitlement activity log."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from license_usage.api.caller import current_principal
from license_usage.api.models.common import DEFAULT_PAGE_SIZE, Cursor, OrgId, PageSize, PlanId
from license_usage.api.models.reports import (
    ActivityEntry,
    ActivityPage,
    AiActionsOut,
    CombinedOut,
    GroupConsumptionOut,
    LicenseAiUsageReport,
    LicenseUsageOut,
    ReportPlanOut,
    SeatHistory,
    SeatHistoryDay,
    TimeframeOut,
    UserActivityOut,
)
from license_usage.domain import access
from license_usage.domain.errors import InvalidRequest
from license_usage.domain.plans import PlanType
from license_usage.domain.timeframes import TIMEFRAMES
from license_usage.domain.timestamps import check_day, parse_rfc3339, utc_now
from license_usage.domain.timestamps import end_of_day as last_instant_of
from license_usage.usecases.activity import activity_of, activity_types
from license_usage.usecases.report import license_ai_usage
from license_usage.usecases.usage import seat_history_of

router = Router()

Timeframe = Annotated[str, Query(description=f"One of {', '.join(TIMEFRAMES)}")]
Day = Annotated[date | None, Query(description="YYYY-MM-DD (custom timeframe), included")]


@router.get("/v1/orgs/<org_id>/reports/license-ai-usage", summary="The License & AI Usage report")
def get_report(
    org_id: OrgId,
    timeframe: Timeframe = "this_month",
    from_: Annotated[date | None, Query(alias="from", description="YYYY-MM-DD, included")] = None,
    to: Day = None,
) -> LicenseAiUsageReport:
    access.require(current_principal(router), access.READERS, org_id)
    report = license_ai_usage(org_id, timeframe, from_, to, utc_now())
    sections = report.sections
    return LicenseAiUsageReport(
        org_id=report.org_id,
        timeframe=TimeframeOut.model_validate(
            {"name": report.window.name, "from": report.window.first, "to": report.window.last}
        ),
        data_as_of=report.data_as_of,
        freshness="aggregating" if report.freshness == "aggregating" else "current",
        license_usage=LicenseUsageOut(
            plans=[ReportPlanOut.model_validate(plan, from_attributes=True) for plan in report.plans],
            combined=[CombinedOut(products=list(row.products), users=row.users) for row in report.combined],
        ),
        user_activity=UserActivityOut.model_validate(sections.user_activity, from_attributes=True),
        roles_distribution=report.roles_distribution,
        consumption_by_group=[
            GroupConsumptionOut.model_validate(row, from_attributes=True) for row in sections.consumption_by_group
        ],
        ai_actions=AiActionsOut.model_validate(sections.ai_actions, from_attributes=True),
    )


@router.get("/v1/orgs/<org_id>/plans/<plan_id>/seat-history", summary="Seats in use per day")
def get_seat_history(org_id: OrgId, plan_id: PlanId, days: Annotated[int, Query(ge=1, le=90)] = 30) -> SeatHistory:
    access.require(current_principal(router), access.READERS, org_id)
    today = utc_now().date()
    plan, rows = seat_history_of(org_id, plan_id, today - timedelta(days=days - 1), today)
    if plan.type is not PlanType.SEATS:
        raise InvalidRequest(f"Plan {plan_id} is a {plan.type} plan; seat history is for seats plans.")
    return SeatHistory(
        items=[
            SeatHistoryDay(
                date=row.date.isoformat(),
                min=row.min,
                max=row.max,
                seat_limit=row.seat_limit,
                hard_limit=row.hard_limit,
            )
            for row in rows
        ]
    )


def _instant(text: str | None, field: str, end_of_day: bool = False) -> datetime | None:
    if text is None:
        return None
    try:
        if "T" in text or "t" in text:
            return parse_rfc3339(text)
        day = check_day(date.fromisoformat(text))
    except ValueError as error:
        raise InvalidRequest(
            f"{field} is not a date or RFC 3339 timestamp.", [{"field": field, "message": str(error)}]
        ) from None
    return last_instant_of(day) if end_of_day else datetime.combine(day, time(), UTC)


@router.get("/v1/orgs/<org_id>/plans/<plan_id>/activity", summary="Entitlement activity log, newest first")
def get_activity(
    org_id: OrgId,
    plan_id: PlanId,
    type_: Annotated[
        list[str] | None, Query(alias="type", description="Event types: a comma list, or the parameter repeated")
    ] = None,
    from_: Annotated[str | None, Query(alias="from", description="RFC 3339 or YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="RFC 3339 or YYYY-MM-DD (a date includes its day)")] = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> ActivityPage:
    access.require(current_principal(router), access.READERS, org_id)
    page = activity_of(
        org_id,
        plan_id,
        activity_types(type_),
        _instant(from_, "from"),
        _instant(to, "to", end_of_day=True),
        limit,
        cursor,
        utc_now(),
    )
    return ActivityPage(
        items=[ActivityEntry.model_validate(item, from_attributes=True) for item in page.items],
        next_cursor=page.next_cursor,
    )
