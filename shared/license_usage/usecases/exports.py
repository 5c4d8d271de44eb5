"""Report exports and report schedules (SPEC §5, §8): requests record a job and queue it;
``usecases.export_jobs`` (the exports function) writes it. Reading an export signs a fresh link."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from license_usage.domain.access import Principal
from license_usage.domain.errors import DomainError, NotFound, TryAgain
from license_usage.domain.exports import (
    Cadence,
    Export,
    ExportRequest,
    ExportStatus,
    Schedule,
    check_request,
    file_name,
    is_due,
    new_export_id,
    plan_period,
    scheduled_request,
    window_period,
)
from license_usage.domain.timeframes import Window, resolve_window
from license_usage.domain.timestamps import utc_now
from license_usage.observability import record_export_failed
from license_usage.store import exports as stored
from license_usage.store.audit import record_audit
from license_usage.store.export_files import presigned_link
from license_usage.store.keys import export_object_key
from license_usage.store.pages import Page
from license_usage.store.plans import get_plan

logger = Logger(child=True)

# A scheduled export still pending this long after its run is queued again (its message was lost).
REQUEUE_AFTER = timedelta(minutes=15)


def export_window(request: ExportRequest, now: datetime) -> Window:
    return resolve_window(request.timeframe or "this_month", now.date(), request.first, request.last)


def _download_name(org_id: str, request: ExportRequest, now: datetime) -> str:
    """Checks what the request names (the plan exists, the window is valid) and names the file."""
    if request.plan_id is not None:
        plan = get_plan(org_id, request.plan_id)
        period = plan_period(plan.plan_id, plan.start, plan.end)
    else:
        period = window_period(export_window(request, now))
    return file_name(org_id, request.report, period, request.format)


def _checked(org_id: str, request: ExportRequest, now: datetime) -> tuple[ExportRequest, str]:
    """The request as it will run (the default timeframe filled in) and its file's name, once what
    it names is checked (the plan exists, the window resolves)."""
    checked = check_request(request)
    return checked, _download_name(org_id, checked, now)


def _new_export(
    org_id: str, request: ExportRequest, now: datetime, schedule_id: str | None = None, period: str | None = None
) -> Export:
    checked, name = _checked(org_id, request, now)
    export_id = new_export_id(now)
    return Export(
        export_id=export_id,
        org_id=org_id,
        request=checked,
        status=ExportStatus.PENDING,
        created_at=now,
        object_key=export_object_key(org_id, export_id, checked.format.value),
        file_name=name,
        schedule_id=schedule_id,
        period=period,
    )


def start_export(org_id: str, request: ExportRequest, now: datetime) -> Export:
    """SPEC §5 POST …/exports: record the job and queue it (202: nothing is written here)."""
    export = _new_export(org_id, request, now)
    stored.save_new_export(export)
    try:
        stored.enqueue_export(org_id, export.export_id)
    except Exception:
        # Not left pending for ever: the export says it was not started, and the caller retries.
        reason = "The export could not be queued; start it again."
        if stored.finish_export(org_id, export.export_id, ExportStatus.FAILED, utc_now(), None, reason):
            record_export_failed(export.export_id)
        logger.exception("export not queued", extra={"export_id": export.export_id})
        raise TryAgain("The export could not be queued; start it again.") from None
    # The job logs with the export id as its correlation id: this line joins it to this request.
    logger.info("export started", extra={"export_id": export.export_id, "report": export.request.report.value})
    return export


# ---------------------------------------------------------------------- reading an export


@dataclass(frozen=True)
class ExportView:
    export: Export
    url: str | None = None
    expires_at: datetime | None = None


def link_seconds() -> int:
    return int(os.environ.get("EXPORT_LINK_SECONDS") or 900)


def export_of(org_id: str, export_id: str, now: datetime) -> ExportView:
    """SPEC §5: the status, and for a ready export a freshly signed link."""
    export = stored.get_export(org_id, export_id)
    if export is None:
        raise NotFound(f"No export {export_id} in organization {org_id}.")
    if export.status is not ExportStatus.READY:
        return ExportView(export)
    seconds = link_seconds()
    url = presigned_link(export.object_key, export.file_name or export.object_key.rsplit("/", 1)[-1], seconds)
    return ExportView(export, url, now + timedelta(seconds=seconds))


def exports_list(org_id: str, limit: int, cursor: str | None) -> Page[Export]:
    return stored.list_exports(org_id, limit, cursor)


# ---------------------------------------------------------------------- schedules


def create_schedule(org_id: str, request: ExportRequest, cadence: Cadence, actor: Principal, now: datetime) -> Schedule:
    _checked(org_id, request, now)  # the same checks as an export
    schedule = Schedule(
        schedule_id=new_export_id(now).replace("exp_", "sch_"),
        org_id=org_id,
        cadence=cadence,
        request=request,  # without a timeframe of its own, it covers the period before each run
        created_at=now,
    )
    stored.save_schedule(schedule)
    record_audit(org_id, actor, "report_schedule.created", schedule.schedule_id, now, None, _audit_view(schedule))
    return schedule


def _audit_view(schedule: Schedule) -> dict[str, object]:
    request = schedule.request
    return {
        "cadence": schedule.cadence.value,
        "report": request.report.value,
        "format": request.format.value,
        "plan_id": request.plan_id,
        "timeframe": request.timeframe,
    }


def schedules_list(org_id: str, limit: int, cursor: str | None) -> Page[Schedule]:
    return stored.schedules_of(org_id, limit, cursor)


def delete_schedule(org_id: str, schedule_id: str, actor: Principal, now: datetime) -> None:
    schedule = stored.get_schedule(org_id, schedule_id)
    if schedule is None:
        raise NotFound(f"No report schedule {schedule_id} in organization {org_id}.")
    stored.delete_schedule(org_id, schedule_id)
    record_audit(org_id, actor, "report_schedule.deleted", schedule_id, now, _audit_view(schedule), None)


@dataclass(frozen=True)
class ScheduleRun:
    schedules: int
    started: int
    requeued: int
    failed: int


def run_schedules(now: datetime) -> ScheduleRun:
    """SPEC §5: start every schedule's export for the period that is due, once per schedule and
    period however often this runs (the store's conditional write decides)."""
    started = requeued = failed = 0
    schedules = stored.all_schedules()
    for schedule in schedules:
        try:
            due = is_due(schedule.cadence, schedule.created_at, schedule.last_period, now)
            if due is None:
                requeued += _requeue_lost(schedule, now)
                continue
            export = _new_export(
                schedule.org_id, scheduled_request(schedule.request, due), now, schedule.schedule_id, due.key
            )
            if stored.claim_period(schedule, due.key, export, now):
                stored.enqueue_export(schedule.org_id, export.export_id)
                started += 1
        except DomainError as refusal:  # its plan is gone, say: the schedule cannot run
            logger.warning("schedule not run", extra={"schedule_id": schedule.schedule_id, "error": refusal.message})
            failed += 1
    return ScheduleRun(len(schedules), started, requeued, failed)


def _requeue_lost(schedule: Schedule, now: datetime) -> int:
    """A period's export that is still pending long after its run lost its message (the function
    died between the claim and the send): queue it again (a job runs safely twice)."""
    if schedule.last_export_id is None or schedule.last_run_at is None:
        return 0
    if utc_now() - schedule.last_run_at < REQUEUE_AFTER:
        return 0
    export = stored.get_export(schedule.org_id, schedule.last_export_id)
    if export is None or export.status is not ExportStatus.PENDING:
        return 0
    stored.enqueue_export(schedule.org_id, export.export_id)
    return 1
