"""Raw usage events in ``EventsTable``: stored once per id, read back by organization and day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from pynamodb.exceptions import PutError

from license_usage.domain.events import UsageEvent
from license_usage.domain.timestamps import format_utc
from license_usage.store.tables import EventRecord

# Conditional puts cannot be batched, so a batch's puts run side by side.
_WRITE_THREADS = 16


@cache
def writer_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_WRITE_THREADS, thread_name_prefix="event-writer")


def event_key(org_id: str, event_id: str) -> str:
    return f"{org_id}#{event_id}"


def _record(event: UsageEvent) -> EventRecord:
    return EventRecord(
        event_key(event.org_id, event.id),
        day=f"{event.org_id}#{event.day}",
        at=event.order_key,
        org_id=event.org_id,
        event_id=event.id,
        type=event.type,
        timestamp=format_utc(event.timestamp),
        received_at=format_utc(event.received_at),
        user_id=event.user_id,
        product=event.product,
        roles=list(event.roles) if event.roles is not None else None,
        goal_id=event.goal_id,
        quantity=event.quantity,
        feature=event.feature,
        ip=event.ip,
        group=event.group,
        properties=event.properties,
        expires_at=event.expires_at,
    )


def _put_if_absent(record: EventRecord) -> bool:
    try:
        record.save(condition=EventRecord.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _already_stored(keys: Iterable[str]) -> set[str]:
    # An eventually consistent read costs no write capacity and spots most resends; the
    # conditional put below stays the arbiter for duplicates racing each other.
    return {record.pk for record in EventRecord.batch_get(list(keys), attributes_to_get=["pk"])}


def store_events(events: Sequence[UsageEvent]) -> list[bool]:
    """Durably store each event whose id is new for its organization.

    Returns, per event, True when it was stored now and False when it is a duplicate (an earlier
    event with the same id, in this batch or before, whatever its other fields)."""
    records = [_record(event) for event in events]
    first_index: dict[str, int] = {}
    for index, record in enumerate(records):
        first_index.setdefault(record.pk, index)
    stored_before = _already_stored(first_index)
    to_write = [records[i] for key, i in first_index.items() if key not in stored_before]
    written = dict(zip((r.pk for r in to_write), writer_pool().map(_put_if_absent, to_write), strict=True))
    return [first_index[r.pk] == i and written.get(r.pk, False) for i, r in enumerate(records)]


def events_of_day(org_id: str, day: str) -> Iterable[EventRecord]:
    """Every event of one organization's UTC day (``YYYY-MM-DD``), oldest first, without a scan."""
    return EventRecord.by_day.query(f"{org_id}#{day}")
