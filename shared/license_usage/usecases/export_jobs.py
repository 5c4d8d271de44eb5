"""Writing an export (the exports function): its rows come from the same use cases the API
answers with (usage, users, the License & AI Usage report, the activity log, the audit trail),
read page by page as the file is written, so a figure in a file is the figure the API gives for
the same plan or window at that moment."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from aws_lambda_powertools import Logger

from license_usage.domain.consumption import MaucMonthRow, MauMonthRow, SeatsMonthRow
from license_usage.domain.errors import DomainError
from license_usage.domain.events import ACTIVITY_TYPES
from license_usage.domain.exports import (
    ACTIVITY_COLUMNS,
    AUDIT_COLUMNS,
    CONSUMPTION_COLUMNS,
    INSIGHTS_COLUMNS,
    LICENSE_AI_USAGE_COLUMNS,
    USERS_COLUMNS,
    Export,
    ExportFile,
    ExportRequest,
    ExportStatus,
    Instant,
    ReportKind,
    Row,
    Sheet,
    joined,
)
from license_usage.domain.insights import to_json_value
from license_usage.domain.notifications import report_ready_notice
from license_usage.domain.plans import plan_months
from license_usage.domain.timeframes import Window
from license_usage.domain.timestamps import parse_rfc3339, utc_now
from license_usage.faults import fault_point
from license_usage.observability import record_export, record_export_failed
from license_usage.store import exports as stored
from license_usage.store.export_files import write_sized_export
from license_usage.store.pages import Page
from license_usage.store.plans import get_plan
from license_usage.usecases.activity import activity_of
from license_usage.usecases.audit import list_audit
from license_usage.usecases.exports import export_window
from license_usage.usecases.insights import insights_of
from license_usage.usecases.outbox import deliver
from license_usage.usecases.ports import Outbox
from license_usage.usecases.report import license_ai_usage
from license_usage.usecases.usage import usage_of, users_of

logger = Logger(child=True)

PAGE = 1000  # rows read per page while writing
# How often SQS delivers a job before the function gives up on it (the queue's maxReceiveCount).
MAX_ATTEMPTS = int(os.environ.get("EXPORT_MAX_ATTEMPTS") or 3)


T = TypeVar("T")


def _paged(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a paged use case, a page at a time."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def _instant(text: str | None) -> Instant | None:
    return Instant(parse_rfc3339(text)) if text else None


def _consumption(org_id: str, plan_id: str, now: datetime) -> Sheet:
    usage = usage_of(org_id, plan_id, now)
    rows: list[Row] = []
    for month in usage.usage.months:
        if isinstance(month, SeatsMonthRow):
            rows.append(
                (
                    month.month,
                    month.month_start,
                    month.month_end,
                    month.seats_taken,
                    month.seats_released,
                    month.seats_in_use_end,
                    month.peak_seats_in_use,
                    month.seat_limit,
                    month.hard_limit,
                    month.overage,
                )
            )
        elif isinstance(month, MauMonthRow):
            rows.append(
                (month.month, month.month_start, month.month_end, month.active_users, month.allowance, month.overage)
            )
        elif isinstance(month, MaucMonthRow):
            rows.append(
                (
                    month.month,
                    month.month_start,
                    month.month_end,
                    month.credits_used,
                    month.cumulative_used,
                    month.credits_remaining,
                    month.overage,
                )
            )
    return Sheet("consumption", CONSUMPTION_COLUMNS[usage.plan.type], rows)


def _users(org_id: str, plan_id: str, now: datetime) -> Sheet:
    plan = get_plan(org_id, plan_id)
    months = [month.month for month in plan_months(plan.start, plan.end)]

    def rows() -> Iterator[Row]:
        for user in _paged(lambda cursor: users_of(org_id, plan_id, PAGE, cursor, now)):
            yield (
                user.user_id,
                user.status,
                joined(user.roles),
                user.group,
                _instant(user.first_login),
                _instant(user.last_login),
                *(user.months.get(month, 0) for month in months),
            )

    return Sheet("users", (*USERS_COLUMNS, *months), rows())


def _activity(org_id: str, plan_id: str, now: datetime) -> Sheet:
    def rows() -> Iterator[Row]:
        for item in _paged(lambda cursor: activity_of(org_id, plan_id, ACTIVITY_TYPES, None, None, PAGE, cursor, now)):
            yield (
                _instant(item.timestamp),
                item.type,
                item.user_id,
                item.ip,
                item.instance_id,
                item.product,
                json.dumps(item.details, sort_keys=True, ensure_ascii=False),
            )

    return Sheet("activity", ACTIVITY_COLUMNS, rows())


def _audit(org_id: str, window: Window) -> Sheet:
    def rows() -> Iterator[Row]:
        for entry in _paged(lambda cursor: list_audit(org_id, PAGE, cursor, window.starts_at, window.ends_at)):
            yield (
                _instant(entry.at),
                entry.actor,
                entry.actor_role,
                entry.action,
                entry.target,
                None if entry.before is None else json.dumps(entry.before, sort_keys=True, ensure_ascii=False),
                None if entry.after is None else json.dumps(entry.after, sort_keys=True, ensure_ascii=False),
            )

    return Sheet("audit", AUDIT_COLUMNS, rows())


def _license_ai_usage(org_id: str, request: ExportRequest, now: datetime) -> list[Sheet]:
    report = license_ai_usage(org_id, request.timeframe or "this_month", request.first, request.last, now)
    sections = report.sections
    lifecycle = {week.week_start: week for week in sections.user_activity.weekly}
    ai = {week.week_start: week for week in sections.ai_actions.weekly}
    weekly: list[Row] = []
    for week in sorted(set(lifecycle) | set(ai)):
        people, actions = lifecycle.get(week), ai.get(week)
        weekly.append(
            (
                date.fromisoformat(week),
                people.added if people else 0,
                people.invited if people else 0,
                people.deactivated if people else 0,
                people.deleted if people else 0,
                actions.quality_check if actions else 0,
                actions.suggest_alignment if actions else 0,
                actions.suggest_goal if actions else 0,
                actions.total if actions else 0,
            )
        )
    totals = sections.user_activity.totals
    by_type = sections.ai_actions.by_type
    summary: list[Row] = [
        ("window", "timeframe", report.window.name),
        ("window", "from", report.window.first),
        ("window", "to", report.window.last),
        ("window", "data_as_of", _instant(report.data_as_of)),
        ("window", "freshness", report.freshness),
        ("user_activity", "added", totals.added),
        ("user_activity", "invited", totals.invited),
        ("user_activity", "deactivated", totals.deactivated),
        ("user_activity", "deleted", totals.deleted),
        ("user_activity", "active_users", totals.active_users),
        ("user_activity", "sessions", totals.sessions),
        ("user_activity", "instances", totals.instances),
        ("ai_actions", "quality_check", by_type.quality_check),
        ("ai_actions", "suggest_alignment", by_type.suggest_alignment),
        ("ai_actions", "suggest_goal", by_type.suggest_goal),
        ("ai_actions", "total", sections.ai_actions.total),
    ]
    for plan in report.plans:
        section = f"plan {plan.plan_id}"
        summary += [
            (section, "type", plan.type.value),
            (section, "product", plan.product),
            (section, "amount", plan.amount),
            (section, "consumed", plan.consumed),
            (section, "available", plan.available),
            (section, "utilization_pct", plan.utilization_pct),
            (section, "overage", plan.overage),
            (section, "peak", plan.peak),
            (section, "monthly_average", plan.monthly_average),
        ]
    roles: list[Row] = [(role, users) for role, users in sorted(report.roles_distribution.items())]
    groups: list[Row] = [(g.group, g.active_users, g.ai_actions) for g in sections.consumption_by_group]
    return [
        Sheet("license_ai_usage", LICENSE_AI_USAGE_COLUMNS, weekly),
        Sheet("summary", ("section", "name", "value"), summary),
        Sheet("roles", ("role", "users"), roles),
        Sheet("groups", ("group", "active_users", "ai_actions"), groups),
        _insights(org_id, now),
    ]


def _insights(org_id: str, now: datetime) -> Sheet:
    """SPEC §11's items as the insights route answers them now, evidence as JSON text."""

    def rows() -> Iterator[Row]:
        for item in insights_of(org_id, now).items:
            action = item.action
            yield (
                item.severity.value,
                item.kind.value,
                item.plan_id,
                item.title,
                item.detail,
                json.dumps(to_json_value(item.evidence), sort_keys=True, ensure_ascii=False),
                action.method if action else None,
                action.path if action else None,
                json.dumps(dict(action.body), sort_keys=True) if action and action.body else None,
                item.id,
            )

    return Sheet("insights", INSIGHTS_COLUMNS, rows())


def export_file(export: Export, now: datetime) -> ExportFile:
    """The sheets of an export, their rows still to be read."""
    request, org_id = export.request, export.org_id
    if request.report is ReportKind.CONSUMPTION:
        assert request.plan_id is not None
        return ExportFile([_consumption(org_id, request.plan_id, now)])
    if request.report is ReportKind.USERS:
        assert request.plan_id is not None
        return ExportFile([_users(org_id, request.plan_id, now)])
    if request.report is ReportKind.ACTIVITY:
        assert request.plan_id is not None
        return ExportFile([_activity(org_id, request.plan_id, now)])
    if request.report is ReportKind.AUDIT:
        return ExportFile([_audit(org_id, export_window(request, now))])
    return ExportFile(_license_ai_usage(org_id, request, now))


@dataclass(frozen=True)
class JobOutcome:
    export_id: str
    status: str  # ready, failed, finished_before, missing
    rows: int | None = None  # of a file written: its first sheet's rows, bytes, and writing time
    size_bytes: int | None = None
    duration_ms: float | None = None


def run_export_job(outbox: Outbox, org_id: str, export_id: str, attempt: int, now: datetime) -> JobOutcome:
    """Write one export. Safe to repeat: a finished export is left as it is, and writing again
    replaces the object whole. A refusal of the request's own (its plan is gone) fails it at once;
    any other error is raised for another delivery, until the last, which fails the export."""
    export = stored.get_export(org_id, export_id)
    if export is None:
        return JobOutcome(export_id, "missing")
    if export.status is not ExportStatus.PENDING:
        if export.status is ExportStatus.READY:
            _report_ready(outbox, export, now)  # a job that died after finishing still sends it (once)
        return JobOutcome(export_id, "finished_before")
    started = time.perf_counter()
    try:
        fault_point("export_write")
        rows, size = write_sized_export(export.object_key, export_file(export, now), export.request.format)
    except DomainError as refusal:
        if stored.finish_export(org_id, export_id, ExportStatus.FAILED, utc_now(), None, refusal.message):
            record_export_failed(export_id)
        return JobOutcome(export_id, "failed")
    except Exception as error:
        if attempt < MAX_ATTEMPTS:
            raise
        logger.exception("export failed on its last attempt", extra={"export_id": export_id})
        reason = (
            f"The export could not be written after {attempt} attempts ({type(error).__name__}); "
            "start it again, and if it fails again tell your vendor, with its export id."
        )
        if stored.finish_export(org_id, export_id, ExportStatus.FAILED, utc_now(), None, reason):
            record_export_failed(export_id)
        return JobOutcome(export_id, "failed")
    duration_ms = (time.perf_counter() - started) * 1000
    stored.finish_export(org_id, export_id, ExportStatus.READY, utc_now(), rows, None)
    record_export(export_id, duration_ms, size)
    _report_ready(outbox, export, now)
    return JobOutcome(export_id, "ready", rows, size, round(duration_ms, 1))


def _report_ready(outbox: Outbox, export: Export, now: datetime) -> None:
    """A scheduled export's report.ready (its once key makes a second call a no-op)."""
    if export.schedule_id is None:
        return
    notice = report_ready_notice(
        export.org_id, export.export_id, export.request.report.value, export.period or "", export.schedule_id, now
    )
    deliver(outbox, [notice])
