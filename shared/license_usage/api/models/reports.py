"""The report, seat history and activity log (SPEC §5, §6)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class LicenseAiUsageReport(BaseModel):
    org_id: str
    timeframe: dict[str, str]
    data_as_of: str | None
    freshness: str
    license_usage: dict[str, list[dict[str, Any]]]
    user_activity: dict[str, Any]
    roles_distribution: dict[str, int]
    consumption_by_group: list[dict[str, Any]]
    ai_actions: dict[str, Any]


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
