"""Export jobs and report schedules in ``LicensingTable``, and the queue that feeds the exports
function.

- ``EXPORTS#<org_id>`` / ``<export_id>``: one export; ids sort by creation, so the list reads the
  partition backwards for newest first. Its status moves ``pending`` → ``ready`` or ``failed``,
  each step conditional, so a redelivered job cannot undo a finished one.
- ``SCHEDULES`` / ``<org_id>#<schedule_id>``: a report schedule; one partition, so the scheduled
  function reads every schedule in one query (there are few), and an organization's are a prefix.
  ``last_period`` records the period run last: a conditional update of it, in the transaction
  that creates the period's export, makes each period run once."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from functools import cache
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError

from license_usage.domain.exports import (
    Cadence,
    Export,
    ExportFormat,
    ExportRequest,
    ExportStatus,
    ReportKind,
    Schedule,
)
from license_usage.domain.timestamps import format_utc, order_key_instant
from license_usage.store.keys import SCHEDULES_PARTITION, exports_partition, schedule_sort_key
from license_usage.store.pages import Page, decode_cursor, encode_cursor
from license_usage.store.tables import (
    LicensingItem,
    cancelled_by_condition,
    condition_failed,
    idempotent_transaction,
)


class ExportRecord(LicensingItem):
    export_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    report = UnicodeAttribute()
    format = UnicodeAttribute()
    plan_id = UnicodeAttribute(null=True)
    timeframe = UnicodeAttribute(null=True)
    first = UnicodeAttribute(null=True)  # YYYY-MM-DD
    last = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    finished_at = UnicodeAttribute(null=True)
    row_count = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)
    object_key = UnicodeAttribute()
    file_name = UnicodeAttribute(null=True)
    schedule_id = UnicodeAttribute(null=True)
    period = UnicodeAttribute(null=True)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _request_of(record: ExportRecord | ScheduleRecord) -> ExportRequest:
    return ExportRequest(
        report=ReportKind(record.report),
        format=ExportFormat(record.format),
        plan_id=record.plan_id,
        timeframe=record.timeframe,
        first=_day(record.first),
        last=_day(record.last),
    )


def _with_request(record: ExportRecord | ScheduleRecord, request: ExportRequest) -> None:
    """What an export and a schedule store of their request."""
    record.report = request.report.value
    record.format = request.format.value
    record.plan_id = request.plan_id
    record.timeframe = request.timeframe
    record.first = request.first.isoformat() if request.first else None
    record.last = request.last.isoformat() if request.last else None


def _stored(record: ExportRecord) -> Export:
    return Export(
        export_id=record.export_id,
        org_id=record.org_id,
        request=_request_of(record),
        status=ExportStatus(record.status),
        created_at=order_key_instant(record.created_at),
        object_key=record.object_key,
        finished_at=order_key_instant(record.finished_at) if record.finished_at else None,
        row_count=None if record.row_count is None else int(record.row_count),
        error=record.error,
        file_name=record.file_name,
        schedule_id=record.schedule_id,
        period=record.period,
    )


def _record(export: Export) -> ExportRecord:
    record = ExportRecord(
        exports_partition(export.org_id),
        export.export_id,
        export_id=export.export_id,
        org_id=export.org_id,
        status=export.status.value,
        created_at=format_utc(export.created_at),
        object_key=export.object_key,
        file_name=export.file_name,
        schedule_id=export.schedule_id,
        period=export.period,
    )
    _with_request(record, export.request)
    return record


def _save_new(record: LicensingItem) -> None:
    """Write a new item under a fresh, random key. In a transaction with a request token, so that a
    resend after a lost answer is answered as the first write was, not refused by the condition."""
    with idempotent_transaction() as transaction:
        transaction.save(record, condition=LicensingItem.pk.does_not_exist())


def save_new_export(export: Export) -> None:
    _save_new(_record(export))


def get_export(org_id: str, export_id: str) -> Export | None:
    try:
        return _stored(ExportRecord.get(exports_partition(org_id), export_id, consistent_read=True))
    except DoesNotExist:
        return None


def list_exports(org_id: str, limit: int, cursor: str | None) -> Page[Export]:
    partition = exports_partition(org_id)
    scope = f"exports/{partition}"
    result = ExportRecord.query(
        partition, scan_index_forward=False, limit=limit, last_evaluated_key=decode_cursor(cursor, scope)
    )
    items = [_stored(record) for record in result]
    return Page(items, encode_cursor(result.last_evaluated_key, scope))


def finish_export(
    org_id: str, export_id: str, status: ExportStatus, at: datetime, row_count: int | None, error: str | None
) -> bool:
    """Move a pending export to ready or failed; False if it had finished already."""
    record = ExportRecord(exports_partition(org_id), export_id)
    actions: list[Any] = [ExportRecord.status.set(status.value), ExportRecord.finished_at.set(format_utc(at))]
    if row_count is not None:
        actions.append(ExportRecord.row_count.set(row_count))
    if error is not None:
        actions.append(ExportRecord.error.set(error))
    try:
        record.update(actions=actions, condition=ExportRecord.status == ExportStatus.PENDING.value)
    except UpdateError as failure:
        if condition_failed(failure):
            return False
        raise
    return True


# ---------------------------------------------------------------------- the queue


@cache
def _sqs() -> Any:
    import boto3

    return boto3.client("sqs")


def enqueue_export(org_id: str, export_id: str) -> None:
    """Hand the job to the exports function (it may be delivered more than once)."""
    _sqs().send_message(
        QueueUrl=os.environ["EXPORTS_QUEUE_URL"],
        MessageBody=json.dumps({"org_id": org_id, "export_id": export_id}),
    )


# ---------------------------------------------------------------------- schedules


class ScheduleRecord(LicensingItem):
    schedule_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    cadence = UnicodeAttribute()
    report = UnicodeAttribute()
    format = UnicodeAttribute()
    plan_id = UnicodeAttribute(null=True)
    timeframe = UnicodeAttribute(null=True)
    first = UnicodeAttribute(null=True)
    last = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    last_period = UnicodeAttribute(null=True)
    last_run_at = UnicodeAttribute(null=True)
    last_export_id = UnicodeAttribute(null=True)


def _schedule(record: ScheduleRecord) -> Schedule:
    return Schedule(
        schedule_id=record.schedule_id,
        org_id=record.org_id,
        cadence=Cadence(record.cadence),
        request=_request_of(record),
        created_at=order_key_instant(record.created_at),
        last_period=record.last_period,
        last_run_at=order_key_instant(record.last_run_at) if record.last_run_at else None,
        last_export_id=record.last_export_id,
    )


def save_schedule(schedule: Schedule) -> None:
    record = ScheduleRecord(
        SCHEDULES_PARTITION,
        schedule_sort_key(schedule.org_id, schedule.schedule_id),
        schedule_id=schedule.schedule_id,
        org_id=schedule.org_id,
        cadence=schedule.cadence.value,
        created_at=format_utc(schedule.created_at),
    )
    _with_request(record, schedule.request)
    _save_new(record)


def schedules_of(org_id: str, limit: int, cursor: str | None) -> Page[Schedule]:
    scope = f"schedules/{org_id}"
    result = ScheduleRecord.query(
        SCHEDULES_PARTITION,
        ScheduleRecord.sk.startswith(schedule_sort_key(org_id, "")),
        limit=limit,
        last_evaluated_key=decode_cursor(cursor, scope),
    )
    items = [_schedule(record) for record in result]
    return Page(items, encode_cursor(result.last_evaluated_key, scope))


def all_schedules() -> list[Schedule]:
    return [_schedule(record) for record in ScheduleRecord.query(SCHEDULES_PARTITION, consistent_read=True)]


def get_schedule(org_id: str, schedule_id: str) -> Schedule | None:
    try:
        record = ScheduleRecord.get(SCHEDULES_PARTITION, schedule_sort_key(org_id, schedule_id), consistent_read=True)
    except DoesNotExist:
        return None
    return _schedule(record)


def delete_schedule(org_id: str, schedule_id: str) -> None:
    ScheduleRecord(SCHEDULES_PARTITION, schedule_sort_key(org_id, schedule_id)).delete()


def claim_period(schedule: Schedule, period: str, export: Export, at: datetime) -> bool:
    """Record the schedule's run for ``period`` and create its export, at once, unless the period
    was run already (or the schedule was deleted). True when this call made the export."""
    record = ScheduleRecord(SCHEDULES_PARTITION, schedule_sort_key(schedule.org_id, schedule.schedule_id))
    not_run = ScheduleRecord.last_period.does_not_exist() | (ScheduleRecord.last_period < period)
    try:
        with idempotent_transaction() as transaction:
            transaction.update(
                record,
                actions=[
                    ScheduleRecord.last_period.set(period),
                    ScheduleRecord.last_run_at.set(format_utc(at)),
                    ScheduleRecord.last_export_id.set(export.export_id),
                ],
                condition=ScheduleRecord.pk.exists() & not_run,
            )
            transaction.save(_record(export), condition=ExportRecord.pk.does_not_exist())
    except TransactWriteError as error:
        if cancelled_by_condition(error):
            return False
        raise
    return True
