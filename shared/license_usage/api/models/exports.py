"""Exports and report schedules (SPEC §5, §8)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from license_usage.domain.exports import Cadence, ExportFormat, ExportRequest, ExportStatus, ReportKind
from license_usage.domain.timeframes import TIMEFRAMES

Timeframe = Literal[
    "this_month", "last_month", "this_quarter", "last_quarter", "this_year", "last_year", "last_30_days", "custom"
]
assert set(Timeframe.__args__) == set(TIMEFRAMES)  # type: ignore[attr-defined]


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    report: ReportKind
    plan_id: str | None = Field(default=None, pattern=r"^pln_[0-9a-f]{16}$", description="consumption, users, activity")
    timeframe: Timeframe | None = Field(default=None, description="license_ai_usage, audit (default this_month)")
    from_: date | None = Field(default=None, alias="from", description="YYYY-MM-DD, with timeframe custom")
    to: date | None = Field(default=None, description="YYYY-MM-DD, included, with timeframe custom")
    format: ExportFormat = ExportFormat.CSV

    def request(self) -> ExportRequest:
        return ExportRequest(self.report, self.format, self.plan_id, self.timeframe, self.from_, self.to)


class ExportAccepted(BaseModel):
    export_id: str
    status: ExportStatus


class ExportOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    export_id: str
    report: ReportKind
    format: ExportFormat
    status: ExportStatus
    plan_id: str | None
    timeframe: str | None
    from_: date | None = Field(alias="from")
    to: date | None
    created_at: str
    finished_at: str | None
    row_count: int | None = Field(description="rows of the report's sheet (without the header), when ready")
    file_name: str | None
    url: str | None = Field(description="when ready: a presigned GET link, freshly signed by every call")
    expires_at: str | None = Field(description="when the link stops working")
    error: str | None = Field(description="when failed: why, and what to do")
    schedule_id: str | None


class ExportList(BaseModel):
    items: list[ExportOut]
    next_cursor: str | None


class ScheduleIn(ExportIn):
    cadence: Cadence = Field(description="weekly: Mondays; monthly: the 1st (after the rollups)")


class ScheduleOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    schedule_id: str
    cadence: Cadence
    report: ReportKind
    format: ExportFormat
    plan_id: str | None
    timeframe: str | None
    from_: date | None = Field(alias="from")
    to: date | None
    created_at: str
    last_run_at: str | None
    last_export_id: str | None


class ScheduleList(BaseModel):
    items: list[ScheduleOut]
    next_cursor: str | None


class ScheduleDeleted(BaseModel):
    deleted: bool
