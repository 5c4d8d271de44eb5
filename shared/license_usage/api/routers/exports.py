"""Exports (org admins and reporters) and report schedules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from license_usage.api.caller import current_principal
from license_usage.api.models.common import DEFAULT_PAGE_SIZE, Cursor, OrgId, PageSize
from license_usage.api.models.exports import (
    ExportAccepted,
    ExportIn,
    ExportList,
    ExportOut,
    ScheduleDeleted,
    ScheduleIn,
    ScheduleList,
    ScheduleOut,
)
from license_usage.domain import access
from license_usage.domain.exports import EXPORT_ID_PATTERN, Export, ExportRequest, Schedule
from license_usage.domain.timestamps import format_utc_seconds, utc_now
from license_usage.usecases.exports import (
    ExportView,
    create_schedule,
    delete_schedule,
    export_of,
    exports_list,
    schedules_list,
    start_export,
)

router = Router()

ExportId = Annotated[str, Path(pattern=EXPORT_ID_PATTERN, description="The export")]
ScheduleId = Annotated[str, Path(pattern=r"^sch_[0-9]{20}[0-9a-f]{12}$", description="The schedule")]


def _when(instant: datetime | None) -> str | None:
    return format_utc_seconds(instant) if instant else None


def _request_fields(request: ExportRequest) -> dict[str, object]:
    """What an export and a schedule answer of their request (``from`` is a keyword in Python)."""
    return {
        "report": request.report,
        "format": request.format,
        "plan_id": request.plan_id,
        "timeframe": request.timeframe,
        "from": request.first,
        "to": request.last,
    }


def _out(export: Export, view: ExportView | None = None) -> ExportOut:
    return ExportOut.model_validate(
        {
            "export_id": export.export_id,
            **_request_fields(export.request),
            "status": export.status,
            "created_at": format_utc_seconds(export.created_at),
            "finished_at": _when(export.finished_at),
            "row_count": export.row_count,
            "file_name": export.file_name,
            "url": view.url if view else None,
            "expires_at": _when(view.expires_at) if view else None,
            "error": export.error,
            "schedule_id": export.schedule_id,
        }
    )


@router.post("/v1/orgs/<org_id>/exports", summary="Start an export (CSV or XLSX)", status_code=202)
def post_export(org_id: OrgId, body: ExportIn) -> Response[ExportAccepted]:
    principal = current_principal(router)
    access.require(principal, access.readers_of_report(body.report.value), org_id)
    export = start_export(org_id, body.request(), utc_now())
    return Response(
        202, content_types.APPLICATION_JSON, ExportAccepted(export_id=export.export_id, status=export.status)
    )


@router.get("/v1/orgs/<org_id>/exports", summary="The organization's exports, newest first")
def get_exports(org_id: OrgId, limit: PageSize = DEFAULT_PAGE_SIZE, cursor: Cursor = None) -> ExportList:
    principal = current_principal(router)
    access.require(principal, access.READERS, org_id)
    page = exports_list(org_id, limit, cursor)
    visible = [e for e in page.items if principal.role in access.readers_of_report(e.request.report.value)]
    return ExportList(items=[_out(export) for export in visible], next_cursor=page.next_cursor)


@router.get("/v1/orgs/<org_id>/exports/<export_id>", summary="An export's status and, when ready, a fresh link")
def get_export(org_id: OrgId, export_id: ExportId) -> ExportOut:
    principal = current_principal(router)
    access.require(principal, access.READERS, org_id)
    view = export_of(org_id, export_id, utc_now())
    access.require(principal, access.readers_of_report(view.export.request.report.value))
    return _out(view.export, view)


def _schedule_out(schedule: Schedule) -> ScheduleOut:
    return ScheduleOut.model_validate(
        {
            "schedule_id": schedule.schedule_id,
            "cadence": schedule.cadence,
            **_request_fields(schedule.request),
            "created_at": format_utc_seconds(schedule.created_at),
            "last_run_at": _when(schedule.last_run_at),
            "last_export_id": schedule.last_export_id,
        }
    )


@router.post("/v1/orgs/<org_id>/report-schedules", summary="Schedule a weekly or monthly export", status_code=201)
def post_schedule(org_id: OrgId, body: ScheduleIn) -> Response[ScheduleOut]:
    principal = current_principal(router)
    access.require(principal, access.ORG_ADMINS, org_id)
    schedule = create_schedule(org_id, body.request(), body.cadence, principal, utc_now())
    return Response(201, content_types.APPLICATION_JSON, _schedule_out(schedule))


@router.get("/v1/orgs/<org_id>/report-schedules", summary="The report schedules")
def get_schedules(org_id: OrgId, limit: PageSize = DEFAULT_PAGE_SIZE, cursor: Cursor = None) -> ScheduleList:
    access.require(current_principal(router), access.READERS, org_id)
    page = schedules_list(org_id, limit, cursor)
    return ScheduleList(items=[_schedule_out(s) for s in page.items], next_cursor=page.next_cursor)


@router.delete("/v1/orgs/<org_id>/report-schedules/<schedule_id>", summary="Stop a schedule")
def delete_report_schedule(org_id: OrgId, schedule_id: ScheduleId) -> ScheduleDeleted:
    principal = current_principal(router)
    access.require(principal, access.ORG_ADMINS, org_id)
    delete_schedule(org_id, schedule_id, principal, utc_now())
    return ScheduleDeleted(deleted=True)
