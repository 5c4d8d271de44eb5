"""Raw usage events in ``EventsTable``: stored once per id, read back by organization and day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from heapq import merge
from typing import Any

from botocore.exceptions import ClientError

from license_usage.domain.directory import DirectoryChange, lifecycle_change
from license_usage.domain.events import DIRECTORY_EVENT_TYPES, UsageEvent
from license_usage.domain.timestamps import format_utc, parse_rfc3339, utc_day
from license_usage.store.io import io_pool
from license_usage.store.keys import DAY_SHARDS, day_partition, day_partitions, directory_day_partition, event_key
from license_usage.store.pages import Page, decode_state, encode_state
from license_usage.store.tables import EventRecord


def writer_pool() -> ThreadPoolExecutor:
    """Conditional puts cannot be batched, so a batch's puts run side by side, on the process's
    one pool of I/O threads (store/io.py)."""
    return io_pool()


def event_record(event: UsageEvent) -> EventRecord:
    return EventRecord(
        event_key(event.org_id, event.id),
        day=(
            directory_day_partition(event.org_id, event.day)
            if event.type in DIRECTORY_EVENT_TYPES
            else day_partition(event.org_id, event.day, event.id)
        ),
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
        instance_id=event.instance_id,
        session_id=event.session_id,
        properties=event.properties,
        source=event.source,
        expires_at=event.expires_at,
    )


def _put_if_absent(item: dict[str, Any]) -> bool:
    """One PutItem that only creates: the arbiter between duplicates racing each other. The
    serialized item goes straight to the client; per put, the model layer costs a third more CPU."""
    connection = EventRecord._get_connection()
    try:
        connection.connection.client.put_item(
            TableName=connection.table_name, Item=item, ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


_COUNTED_FIELDS = ["pk", "type", "timestamp", "user_id", "product"]


def _already_stored(keys: Iterable[str], consistent: bool = False) -> dict[str, EventRecord]:
    # An eventually consistent read costs no write capacity and spots most resends; the
    # conditional put below stays the arbiter for duplicates racing each other. It also reads
    # what consumption needs of the stored event, so a resend can complete an unfinished count.
    records = EventRecord.batch_get(list(keys), consistent_read=consistent, attributes_to_get=_COUNTED_FIELDS)
    return {record.pk: record for record in records}


@dataclass(frozen=True)
class Stored:
    """One event of a batch once stored: ``new`` when stored now; ``as_stored`` is the event as
    the table holds it (a duplicate keeps its first version), None for a duplicate that raced."""

    new: bool
    as_stored: UsageEvent | None


def _as_stored(event: UsageEvent, record: EventRecord) -> UsageEvent:
    return replace(
        event,
        type=record.type,
        timestamp=parse_rfc3339(record.timestamp),
        user_id=record.user_id,
        product=record.product,
    )


def store_events(events: Sequence[UsageEvent]) -> list[Stored]:
    """Durably store each event whose id is new for its organization; an earlier event with the
    same id, in this batch or before, makes it a duplicate whatever its other fields."""
    records = [event_record(event) for event in events]
    first_index: dict[str, int] = {}
    for index, record in enumerate(records):
        first_index.setdefault(record.pk, index)
    stored_before = _already_stored(first_index)
    to_write = [records[i] for key, i in first_index.items() if key not in stored_before]
    items = [record.serialize() for record in to_write]
    written = dict(zip((r.pk for r in to_write), writer_pool().map(_put_if_absent, items), strict=True))
    # A put its condition refused: another request stored the id first, or this put's own write
    # went through and only its answer was lost (botocore sent it again). Either way the stored
    # version is what to count, so it is read back (counting is idempotent).
    refused = [record.pk for record in to_write if not written[record.pk]]
    if refused:
        stored_before.update(_already_stored(refused, consistent=True))
    answers = []
    for index, (event, record) in enumerate(zip(events, records, strict=True)):
        if first_index[record.pk] == index and written.get(record.pk, False):
            answers.append(Stored(True, event))
        elif record.pk in stored_before:
            answers.append(Stored(False, _as_stored(event, stored_before[record.pk])))
        else:  # a second copy in this batch, or it lost a race: the first copy is counted
            answers.append(Stored(False, None))
    return answers


def directory_changes(org_id: str, days: Iterable[str]) -> list[DirectoryChange]:
    """What the lifecycle events of these UTC days say about their users, oldest first."""
    changes = []
    for day in sorted(set(days)):
        for record in EventRecord.by_day.query(directory_day_partition(org_id, day)):
            roles = tuple(str(role) for role in record.roles) if record.roles is not None else None
            change = lifecycle_change(record.type, record.user_id, record.at, roles, record.group)
            if change is not None:
                changes.append(change)
    return changes


def activity_log(
    org_id: str,
    plan_id: str,
    product: str,
    types: frozenset[str],
    first: datetime,
    last: datetime,
    days: Iterable[str],
    limit: int,
    cursor: str | None,
) -> Page[EventRecord]:
    """The plan's entitlement activity between ``first`` and ``last`` (inclusive), newest first:
    one organization-day at a time from the ``by_day`` index (its events' shards and its directory
    events' partition, merged), reading only ``days`` (the days that hold events), so a page
    costs queries for days that exist, not for the calendar. The cursor is the day and the order
    key (``<timestamp>#<id>``, unique) of the page's last entry."""
    scope = f"activity/{org_id}/{plan_id}"
    newest_day, before = utc_day(last).isoformat(), None
    if cursor:
        state = decode_state(cursor, scope)
        newest_day, before = min(newest_day, str(state["day"])), str(state["before"])
    oldest_day = utc_day(first).isoformat()
    candidates = sorted((d for d in set(days) if oldest_day <= d <= newest_day), reverse=True)
    low, high = f"{format_utc(first)}#", before or f"{format_utc(last)}#~"
    condition = (EventRecord.type.is_in(*sorted(types))) & (
        EventRecord.product.does_not_exist() | (EventRecord.product == product)
    )
    directory_too = bool(types & DIRECTORY_EVENT_TYPES)
    items: list[EventRecord] = []
    for day in candidates:
        if day != newest_day:
            before, high = None, f"{format_utc(last)}#~"
        partitions = day_partitions(org_id, day)
        if directory_too:
            partitions.append(directory_day_partition(org_id, day))
        # Entries spread evenly over the shards: each gives about its share of a page per query.
        page_size = max(limit // DAY_SHARDS + 8, 25)
        newest_first = [
            EventRecord.by_day.query(
                partition,
                EventRecord.at.between(low, high),
                filter_condition=condition,
                scan_index_forward=False,
                page_size=page_size,
            )
            for partition in partitions
        ]
        for record in merge(*newest_first, key=lambda r: r.at, reverse=True):
            if record.at == before:
                continue  # the previous page's last entry
            if record.type.startswith("seat.") and (record.properties or {}).get("plan_id") != plan_id:
                continue  # another plan's seat
            items.append(record)
            if len(items) == limit:
                return Page(items, encode_state({"day": day, "before": record.at}, scope))
    return Page(items, None)
