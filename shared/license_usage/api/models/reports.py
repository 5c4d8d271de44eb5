"""The report, seat history and activity log (SPEC §5, §6)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from license_usage.domain.plans import PlanType


class TimeframeOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    from_: date = Field(alias="from")
    to: date


class ReportPlanOut(BaseModel):
    plan_id: str
    type: PlanType
    product: str
    amount: int
    consumed: int
    available: int
    utilization_pct: float
    overage: int
    peak: int
    monthly_average: float


class CombinedOut(BaseModel):
    products: list[str]
    users: int


class LicenseUsageOut(BaseModel):
    plans: list[ReportPlanOut]
    combined: list[CombinedOut]


class LifecycleCountsOut(BaseModel):
    added: int
    invited: int
    deactivated: int
    deleted: int
    active_users: int
    sessions: int
    instances: int


class LifecycleWeekOut(LifecycleCountsOut):
    week_start: date


class UserActivityOut(BaseModel):
    totals: LifecycleCountsOut
    weekly: list[LifecycleWeekOut]


class GroupConsumptionOut(BaseModel):
    group: str
    active_users: int
    ai_actions: int


class AiCountsOut(BaseModel):
    quality_check: int
    suggest_alignment: int
    suggest_goal: int


class AiWeekOut(AiCountsOut):
    week_start: date
    total: int


class AiActionsOut(BaseModel):
    total: int
    by_type: AiCountsOut
    weekly: list[AiWeekOut]


class LicenseAiUsageReport(BaseModel):
    """SPEC §6."""

    org_id: str
    timeframe: TimeframeOut
    data_as_of: str | None
    freshness: Literal["current", "aggregating"]
    license_usage: LicenseUsageOut
    user_activity: UserActivityOut
    roles_distribution: dict[str, int]
    consumption_by_group: list[GroupConsumptionOut]
    ai_actions: AiActionsOut


class SeatHistoryDay(BaseModel):
    date: str
    min: int
    max: int
    seat_limit: int
    hard_limit: int


class SeatHistory(BaseModel):
    items: list[SeatHistoryDay]
    next_cursor: str | None = None


class ActivityEntry(BaseModel):
    timestamp: str
    type: str
    user_id: str | None
    ip: str | None
    instance_id: str | None
    product: str | None
    details: dict[str, Any]


class ActivityPage(BaseModel):
    items: list[ActivityEntry]
    next_cursor: str | None
