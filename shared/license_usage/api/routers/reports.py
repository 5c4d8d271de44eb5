"""The License & AI Usage report, a plan's seat history and its entitlement activity log."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from license_usage.api.caller import current_principal
from license_usage.api.models.common import DEFAULT_PAGE_SIZE, Cursor, OrgId, PageSize, PlanId
from license_usage.api.models.reports import (
    ActivityEntry,
    ActivityPage,
    LicenseAiUsageReport,
    SeatHistory,
    SeatHistoryDay,
)
from license_usage.domain import access
from license_usage.domain.errors import InvalidRequest
from license_usage.domain.events import MAX_EVENT_AGE
from license_usage.domain.plans import PlanType
from license_usage.domain.timeframes import TIMEFRAMES
from license_usage.domain.timestamps import parse_rfc3339, utc_now
from license_usage.store.events import ACTIVITY_TYPES, activity_log
from license_usage.store.plans import get_plan
from license_usage.usecases.report import license_ai_usage
from license_usage.usecases.seat_history import seat_history

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
    return LicenseAiUsageReport(**license_ai_usage(org_id, timeframe, from_, to, utc_now()))


@router.get("/v1/orgs/<org_id>/plans/<plan_id>/seat-history", summary="Seats in use per day")
def get_seat_history(org_id: OrgId, plan_id: PlanId, days: Annotated[int, Query(ge=1, le=90)] = 30) -> SeatHistory:
    access.require(current_principal(router), access.READERS, org_id)
    plan = get_plan(org_id, plan_id)
    if plan.type is not PlanType.SEATS:
        raise InvalidRequest(f"Plan {plan_id} is a {plan.type} plan; seat history is for seats plans.")
    today = utc_now().date()
    rows = seat_history(plan, today - timedelta(days=days - 1), today)
    return SeatHistory(items=[SeatHistoryDay(**row) for row in rows])


def _instant(text: str | None, field: str, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        return parse_rfc3339(text) if "T" in text or "t" in text else datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError as error:
        raise InvalidRequest(
            f"{field} is not a date or RFC 3339 timestamp.", [{"field": field, "message": str(error)}]
        ) from None


@router.get("/v1/orgs/<org_id>/plans/<plan_id>/activity", summary="Entitlement activity log, newest first")
def get_activity(
    org_id: OrgId,
    plan_id: PlanId,
    type_: Annotated[str | None, Query(alias="type", description="Comma-separated event types")] = None,
    from_: Annotated[str | None, Query(alias="from", description="RFC 3339 or YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="RFC 3339 or YYYY-MM-DD (a date includes its day)")] = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> ActivityPage:
    access.require(current_principal(router), access.READERS, org_id)
    plan = get_plan(org_id, plan_id)
    now = utc_now()
    types = frozenset(type_.split(",")) if type_ else ACTIVITY_TYPES
    if not types <= ACTIVITY_TYPES:
        unknown = ", ".join(sorted(types - ACTIVITY_TYPES))
        raise InvalidRequest(
            f"Unknown activity type: {unknown}.",
            [{"field": "type", "message": f"one of {', '.join(sorted(ACTIVITY_TYPES))}"}],
        )
    first = max(_instant(from_, "from", plan.start), now - MAX_EVENT_AGE - timedelta(days=1))
    last = _instant(to, "to", now)
    if to is not None and "T" not in to and "t" not in to:
        last += timedelta(days=1, microseconds=-1)
    page = activity_log(
        org_id, plan_id, plan.product, types, first, min(last, now + timedelta(minutes=5)), limit, cursor
    )
    items = []
    for record in page.items:
        properties = dict(record.properties or {})
        instance = properties.pop("instance_id", None) or record.source
        if record.feature:
            properties["feature"] = record.feature
        items.append(
            ActivityEntry(
                timestamp=record.timestamp[:19] + "Z",
                type=record.type,
                user_id=record.user_id,
                ip=record.ip,
                instance_id=str(instance) if instance else None,
                product=record.product,
                details=properties,
            )
        )
    return ActivityPage(items=items, next_cursor=page.next_cursor)
