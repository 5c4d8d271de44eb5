"""Notifications and email subscriptions (SPEC §5, §7)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from license_usage.domain.notifications import EMAIL_PATTERN, NoticeKind


class NotificationDataOut(BaseModel):
    """The figures behind a notification; those that do not apply to its kind are null."""

    plan_type: str | None
    product: str | None
    amount: int | None
    consumed: int | None
    utilization_pct: float | None
    overage: int | None
    seat_limit: int | None
    hard_limit: int | None
    month: str | None = Field(description="mau: the plan month of the figures")
    plan_start: str | None
    plan_end: str | None
    days_left: int | None
    grace_ends_at: str | None
    forecast_exhausted_on: date | None
    refused_user_id: str | None = Field(description="usage.hard_limit: the user refused a seat")
    export_id: str | None = Field(description="report.ready: the export to download")
    report: str | None
    insight_ids: list[str] | None = Field(default=None, description="insights.digest: the insight ids it sends")


class NotificationOut(BaseModel):
    id: str
    org_id: str
    kind: NoticeKind
    plan_id: str | None
    threshold: int | None = Field(description="days for plan.expiring, percent for usage.threshold")
    created_at: str
    subject: str
    message: str
    data: NotificationDataOut


class NotificationList(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN, description="The address SNS sends to")
    kinds: list[NoticeKind] | None = Field(
        default=None, min_length=1, description="Only these kinds (default: every kind)"
    )


class SubscriptionOut(BaseModel):
    subscription_id: str
    email: str
    kinds: list[str] = Field(description="empty: every kind")
    status: Literal["pending", "confirmed"]
    created_at: str


class SubscriptionList(BaseModel):
    items: list[SubscriptionOut]
    next_cursor: str | None


class SubscriptionDeleted(BaseModel):
    deleted: bool
