"""SPEC §8 exports: cells, requests, file names; SPEC §5 schedules: which period is due."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from license_usage.domain.errors import InvalidRequest
from license_usage.domain.exports import (
    Cadence,
    ExportFormat,
    ExportRequest,
    Instant,
    ReportKind,
    check_request,
    csv_text,
    file_name,
    is_due,
    joined,
    neutralise,
    new_export_id,
    schedule_period,
    scheduled_request,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
        ("'already", "'already"),
    ],
)
def test_formula_cells_are_neutralised(text: str, expected: str) -> None:
    assert neutralise(text) == expected


def test_cells_as_csv_text() -> None:
    assert csv_text(None) == ""
    assert csv_text(0) == "0"
    assert csv_text(12.5) == "12.5"
    assert csv_text(date(2024, 2, 29)) == "2024-02-29"
    assert csv_text(Instant(datetime(2024, 2, 29, 23, 30, 1, 999, tzinfo=UTC))) == "2024-02-29T23:30:01Z"
    assert csv_text("=x") == "'=x"
    assert joined(["coach", "admin"]) == "coach;admin"


def test_plan_reports_need_a_plan_and_window_reports_a_timeframe() -> None:
    with pytest.raises(InvalidRequest):
        check_request(ExportRequest(ReportKind.USERS))
    with pytest.raises(InvalidRequest):
        check_request(ExportRequest(ReportKind.CONSUMPTION, plan_id="pln_0000000000000000", timeframe="this_month"))
    with pytest.raises(InvalidRequest):
        check_request(ExportRequest(ReportKind.AUDIT, plan_id="pln_0000000000000000"))
    with pytest.raises(InvalidRequest):
        check_request(ExportRequest(ReportKind.AUDIT, timeframe="this_month", first=date(2026, 1, 1)))
    assert check_request(ExportRequest(ReportKind.AUDIT)).timeframe == "this_month"


def test_file_names_say_organization_report_and_period() -> None:
    name = file_name("acme", ReportKind.LICENSE_AI_USAGE, "2026-11-01_to_2026-11-30", ExportFormat.XLSX)
    assert name == "acme_license-ai-usage_2026-11-01_to_2026-11-30.xlsx"
    assert file_name('a"b/c', ReportKind.AUDIT, "p", ExportFormat.CSV) == "a-b-c_audit_p.csv"


def test_export_ids_sort_by_creation() -> None:
    early = new_export_id(datetime(2026, 1, 1, tzinfo=UTC))
    late = new_export_id(datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC))
    assert early < late
    assert len(early) == len("exp_") + 20 + 12


@pytest.mark.parametrize(
    ("now", "key", "first", "last"),
    [
        # Monday 7 December 2026: the week before is 30 Nov to 6 Dec.
        (datetime(2026, 12, 7, 1, 30, tzinfo=UTC), "2026-W50", date(2026, 11, 30), date(2026, 12, 6)),
        # A Sunday is still in the week of its Monday.
        (datetime(2026, 12, 13, 23, 59, tzinfo=UTC), "2026-W50", date(2026, 11, 30), date(2026, 12, 6)),
        # ISO week 1 of 2027 starts on Monday 4 January 2027; 1 January 2027 is in 2026-W53.
        (datetime(2027, 1, 1, 2, tzinfo=UTC), "2026-W53", date(2026, 12, 21), date(2026, 12, 27)),
        (datetime(2027, 1, 4, 2, tzinfo=UTC), "2027-W01", date(2026, 12, 28), date(2027, 1, 3)),
    ],
)
def test_weekly_periods(now: datetime, key: str, first: date, last: date) -> None:
    period = schedule_period(Cadence.WEEKLY, now)
    assert (period.key, period.window_first, period.window_last) == (key, first, last)


def test_monthly_periods_cover_the_month_before_leap_days_included() -> None:
    period = schedule_period(Cadence.MONTHLY, datetime(2024, 3, 1, 1, 30, tzinfo=UTC))
    assert (period.key, period.window_first, period.window_last) == ("2024-03", date(2024, 2, 1), date(2024, 2, 29))
    january = schedule_period(Cadence.MONTHLY, datetime(2027, 1, 31, 23, tzinfo=UTC))
    assert (january.key, january.window_first, january.window_last) == (
        "2027-01",
        date(2026, 12, 1),
        date(2026, 12, 31),
    )


def test_a_period_is_due_once_and_only_after_the_schedule_was_made() -> None:
    wednesday = datetime(2026, 12, 2, 10, tzinfo=UTC)
    monday = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)
    assert is_due(Cadence.WEEKLY, wednesday, None, wednesday + timedelta(hours=16)) is None  # its own week
    due = is_due(Cadence.WEEKLY, wednesday, None, monday)
    assert due is not None
    assert due.key == "2026-W50"
    assert is_due(Cadence.WEEKLY, wednesday, "2026-W50", monday + timedelta(days=2)) is None
    # Missed on Monday: made up on Thursday.
    assert is_due(Cadence.WEEKLY, wednesday, "2026-W49", monday + timedelta(days=3)) is not None
    assert is_due(Cadence.MONTHLY, wednesday, None, datetime(2027, 1, 1, 1, 30, tzinfo=UTC)) is not None
    # A run replayed for an earlier week neither runs it nor moves the schedule back.
    assert is_due(Cadence.WEEKLY, wednesday, "2026-W51", monday) is None


def test_a_scheduled_window_report_covers_the_period_before() -> None:
    period = schedule_period(Cadence.MONTHLY, datetime(2026, 12, 1, 1, 30, tzinfo=UTC))
    request = scheduled_request(ExportRequest(ReportKind.LICENSE_AI_USAGE), period)
    assert (request.timeframe, request.first, request.last) == ("custom", date(2026, 11, 1), date(2026, 11, 30))
    kept = scheduled_request(ExportRequest(ReportKind.AUDIT, timeframe="last_quarter"), period)
    assert kept.timeframe == "last_quarter"
    asked = scheduled_request(ExportRequest(ReportKind.AUDIT, timeframe="this_month"), period)
    assert asked.timeframe == "this_month"  # asked for: resolved at the run
    plan = ExportRequest(ReportKind.USERS, plan_id="pln_0000000000000000")
    assert scheduled_request(plan, period) == plan
