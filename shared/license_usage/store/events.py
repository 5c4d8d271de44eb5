"""Raw usage events in ``EventsTable``: stored once per id, read back by organization and day."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from license_usage.domain.errors import InvalidRequest
from license_usage.domain.events import UsageEvent
from license_usage.domain.timestamps import format_utc, utc_day
from license_usage.store.pages import Page
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
    items = [record.serialize() for record in to_write]
    written = dict(zip((r.pk for r in to_write), writer_pool().map(_put_if_absent, items), strict=True))
    return [first_index[r.pk] == i and written.get(r.pk, False) for i, r in enumerate(records)]


def events_of_day(org_id: str, day: str) -> Iterable[EventRecord]:
    """Every event of one organization's UTC day (``YYYY-MM-DD``), oldest first, without a scan."""
    return EventRecord.by_day.query(f"{org_id}#{day}")


ACTIVITY_TYPES = frozenset(
    {
        "user.login",
        "seat.claimed",
        "seat.released",
        "seat.denied",
        "user.deactivated",
        "user.deleted",
        "license.refresh",
        "feature.used",
    }
)


def _activity_cursor(day: str, key: dict[str, Any] | None, scope: str) -> str:
    raw = json.dumps({"scope": scope, "day": day, "key": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_activity_cursor(cursor: str, scope: str) -> tuple[str, dict[str, Any] | None]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        day, key, cursor_scope = str(state["day"]), state["key"], state["scope"]
        date.fromisoformat(day)
    except (ValueError, KeyError, TypeError):
        raise InvalidRequest("cursor is not one this list returned.") from None
    if cursor_scope != scope:
        raise InvalidRequest("cursor belongs to another list.")
    return day, key


def activity_log(
    org_id: str,
    plan_id: str,
    product: str,
    types: frozenset[str],
    first: datetime,
    last: datetime,
    limit: int,
    cursor: str | None,
) -> Page[EventRecord]:
    """The plan's entitlement activity between ``first`` and ``last`` (inclusive), newest first:
    one organization-day at a time from the ``by_day`` index, so a page reads its days only."""
    scope = f"{org_id}/{plan_id}"
    day_text, start_key = _read_activity_cursor(cursor, scope) if cursor else (utc_day(last).isoformat(), None)
    day = date.fromisoformat(day_text)
    low, high = f"{format_utc(first)}#", f"{format_utc(last)}#~"
    condition = (EventRecord.type.is_in(*sorted(types))) & (
        EventRecord.product.does_not_exist() | (EventRecord.product == product)
    )
    items: list[EventRecord] = []
    while day >= utc_day(first):
        result = EventRecord.by_day.query(
            f"{org_id}#{day.isoformat()}",
            EventRecord.at.between(low, high),
            filter_condition=condition,
            scan_index_forward=False,
            last_evaluated_key=start_key,
            page_size=max(limit, 25),
        )
        for record in result:
            if record.type.startswith("seat.") and (record.properties or {}).get("plan_id") != plan_id:
                continue  # another plan's seat
            items.append(record)
            if len(items) == limit:
                key = {"pk": {"S": record.pk}, "day": {"S": record.day}, "at": {"S": record.at}}
                return Page(items, _activity_cursor(day.isoformat(), key, scope))
        day -= timedelta(days=1)
        start_key = None
    return Page(items, None)
