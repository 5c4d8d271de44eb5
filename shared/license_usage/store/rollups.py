"""What the scheduled rollups keep in ``LicensingTable`` (the dirty-day marks that tell them
which days to recompute are in ``store.dirty_days``, the seat swings in ``store.seat_swings``).

- ``DAILY#<org_id>`` / ``<day>`` and ``<day>#G#<group>``: a day's figures, organization-wide
  and per group (reports add these up; they never read raw events).
- ``ROLES#<org_id>`` / ``<day>``: roles of active users at the end of a day when they changed.
- ``ROLLUP#<org_id>`` / ``META``: when the organization's figures were last rolled up.
- ``REPORT#<org_id>`` / a timeframe: the named windows' sections; ``ACTIVEDAYS#<org_id>`` /
  ``<day>``: the days that hold events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime
from heapq import merge
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute

from license_usage.domain.rollups import ActivitySections, AiFigures, DayEvent, DayFigures, StoredDay
from license_usage.domain.timeframes import Window
from license_usage.domain.timestamps import format_utc
from license_usage.store.keys import (
    activity_days_partition,
    daily_partition,
    day_partitions,
    directory_day_partition,
    report_sections_key,
    roles_partition,
    rollup_meta_key,
)
from license_usage.store.tables import EventRecord, LicensingItem

_DAY_EVENT_FIELDS = [
    "at",
    "type",
    "user_id",
    "goal_id",
    "quantity",
    "group",
    "roles",
    "properties",
    "product",
    "instance_id",
    "session_id",
]


class DailyRecord(LicensingItem):
    quality_check = UnicodeSetAttribute(null=True)
    suggest_alignment = UnicodeSetAttribute(null=True)
    suggest_goal = NumberAttribute(default=0)
    added = NumberAttribute(default=0)
    invited = NumberAttribute(default=0)
    deactivated = NumberAttribute(default=0)
    deleted = NumberAttribute(default=0)
    active_users = UnicodeSetAttribute(null=True)  # group items only
    session_ids = UnicodeSetAttribute(null=True)  # group items only
    loose_logins = NumberAttribute(null=True)  # group items only: logins without a session_id
    instance_ids = UnicodeSetAttribute(null=True)  # group items only


class RolesRecord(LicensingItem):
    counts = JSONAttribute()


class ReportSectionsRecord(LicensingItem):
    """pk = ``REPORT#<org_id>``, sk = a named timeframe: its sections as of the last rollup."""

    first = UnicodeAttribute()
    last = UnicodeAttribute()
    sections = JSONAttribute()


class RollupMetaRecord(LicensingItem):
    data_as_of = UnicodeAttribute()


# ---------------------------------------------------------------- reading a day of events


def _value(attribute: dict[str, Any] | None) -> Any:
    if not attribute:
        return None
    if "S" in attribute:
        return attribute["S"]
    if "N" in attribute:
        return int(attribute["N"])
    return None


def day_events(org_id: str, day: str) -> Iterator[DayEvent]:
    """Every event of one organization's UTC day (its directory events' partition merged in),
    oldest first, only the attributes the rollup needs (the low-level query skips building full
    models: a busy day holds hundreds of thousands)."""
    partitions = [*day_partitions(org_id, day), directory_day_partition(org_id, day)]
    return merge(*(_partition_events(partition) for partition in partitions), key=lambda e: e.order_key)


def _partition_events(partition: str) -> Iterator[DayEvent]:
    connection = EventRecord._get_connection()
    start_key: dict[str, Any] | None = None
    while True:
        page = connection.query(
            partition,
            index_name="by_day",
            attributes_to_get=_DAY_EVENT_FIELDS,
            exclusive_start_key=start_key,
        )
        for item in page.get("Items", []):
            plan_id = None
            if "properties" in item and item["type"]["S"].startswith("seat."):
                plan_id = json.loads(item["properties"]["S"]).get("plan_id")
            yield DayEvent(
                order_key=item["at"]["S"],
                type=item["type"]["S"],
                user_id=_value(item.get("user_id")),
                goal_id=_value(item.get("goal_id")),
                quantity=_value(item.get("quantity")),
                group=_value(item.get("group")),
                plan_id=plan_id,
                roles=tuple(role["S"] for role in item["roles"]["L"]) if "roles" in item else None,
                product=_value(item.get("product")),
                instance_id=_value(item.get("instance_id")),
                session_id=_value(item.get("session_id")),
            )
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            return


# ---------------------------------------------------------------- a day's figures


# A day's item keeps distinct ids (goals, users, sessions, instances); past this many bytes of them
# the rest go to overflow items of the same day (an item holds at most 400 KB).
_ID_BYTES_PER_ITEM = 300_000
_ID_SETS = ("quality_check", "suggest_alignment", "active_users", "session_ids", "instance_ids")


def _chunks(sets: dict[str, set[str]]) -> list[dict[str, set[str]]]:
    """The id sets split into parts of at most ``_ID_BYTES_PER_ITEM`` bytes each (one part at least)."""
    parts: list[dict[str, set[str]]] = [{}]
    size = 0
    for name, ids in sets.items():
        for item in sorted(ids):
            cost = len(item.encode()) + 3
            if size + cost > _ID_BYTES_PER_ITEM and size:
                parts.append({})
                size = 0
            parts[-1].setdefault(name, set()).add(item)
            size += cost
    return parts


def _split(partition: str, day: str, suffix: str, record: DailyRecord) -> list[DailyRecord]:
    """``record`` with its id sets cut to size, and the overflow items (``<day>#P#<n>#<suffix>``)."""
    sets = {name: set(getattr(record, name) or ()) for name in _ID_SETS}
    parts = _chunks(sets)
    for name in _ID_SETS:
        setattr(record, name, parts[0].get(name) or None)
    overflow = [DailyRecord(partition, f"{day}#P#{index:04d}#{suffix}") for index in range(1, len(parts))]
    for item, part in zip(overflow, parts[1:], strict=True):
        for name in _ID_SETS:
            setattr(item, name, part.get(name) or None)
    return [record, *overflow]


def save_day_figures(org_id: str, day: str, figures: DayFigures) -> None:
    """Replace the day's stored figures (its group items included) with ``figures``."""
    partition = daily_partition(org_id)
    stale = {record.sk for record in DailyRecord.query(partition, DailyRecord.sk.startswith(day), consistent_read=True)}
    records = _split(partition, day, "D", _daily_record(partition, day, figures.ai, figures.lifecycle, None))
    for group, group_figures in figures.groups.items():
        record = _daily_record(partition, f"{day}#G#{group}", group_figures.ai, {}, group_figures.active_users)
        record.session_ids = set(group_figures.session_ids) or None
        record.loose_logins = group_figures.loose_logins
        record.instance_ids = set(group_figures.instance_ids) or None
        records.extend(_split(partition, day, f"G#{group}", record))
    with DailyRecord.batch_write() as batch:
        for record in records:
            batch.save(record)
            stale.discard(record.sk)
        for sk in stale:
            batch.delete(DailyRecord(partition, sk))


def _daily_record(
    partition: str, sk: str, ai: AiFigures, lifecycle: dict[str, int], users: set[str] | None
) -> DailyRecord:
    return DailyRecord(
        partition,
        sk,
        quality_check=set(ai.quality_check) or None,
        suggest_alignment=set(ai.suggest_alignment) or None,
        suggest_goal=ai.suggest_goal,
        active_users=set(users) if users else None,
        added=lifecycle.get("added", 0),
        invited=lifecycle.get("invited", 0),
        deactivated=lifecycle.get("deactivated", 0),
        deleted=lifecycle.get("deleted", 0),
    )


def has_day_figures(org_id: str) -> bool:
    return any(True for _ in DailyRecord.query(daily_partition(org_id), limit=1, attributes_to_get=["pk", "sk"]))


def _merge_ids(record: DailyRecord, extra: DailyRecord) -> None:
    for name in _ID_SETS:
        merged = set(getattr(record, name) or ()) | set(getattr(extra, name) or ())
        setattr(record, name, merged or None)


def stored_days(org_id: str, first: date, last: date) -> tuple[list[StoredDay], dict[str, list[StoredDay]]]:
    """The organization's days in [first, last] and, per group, the group's days."""
    organization: list[StoredDay] = []
    groups: dict[str, list[StoredDay]] = {}
    overflow: dict[tuple[str, str | None], list[DailyRecord]] = {}
    bases = []
    for record in DailyRecord.query(
        daily_partition(org_id), DailyRecord.sk.between(first.isoformat(), f"{last.isoformat()}#~")
    ):
        if record.sk[10:13] == "#P#":  # <day>#P#<n>#D or <day>#P#<n>#G#<group>: ids beyond an item's size
            rest = record.sk[18:]
            overflow.setdefault((record.sk[:10], rest[2:] if rest.startswith("G#") else None), []).append(record)
        else:
            bases.append(record)
    for record in bases:
        day_text, _, group = record.sk.partition("#G#")
        for extra in overflow.pop((day_text, group or None), []):
            _merge_ids(record, extra)
        stored = StoredDay(
            day=date.fromisoformat(day_text),
            ai=AiFigures(
                set(record.quality_check or ()), set(record.suggest_alignment or ()), int(record.suggest_goal or 0)
            ),
            lifecycle={
                "added": int(record.added or 0),
                "invited": int(record.invited or 0),
                "deactivated": int(record.deactivated or 0),
                "deleted": int(record.deleted or 0),
            },
            active_users=frozenset(record.active_users or ()),
            session_ids=frozenset(record.session_ids or ()),
            loose_logins=int(record.loose_logins or 0),
            instance_ids=frozenset(record.instance_ids or ()),
        )
        if group:
            groups.setdefault(group, []).append(stored)
        else:
            organization.append(stored)
    return organization, groups


# ---------------------------------------------------------------- seats within a day


# ---------------------------------------------------------------- roles and freshness


def save_roles(org_id: str, counts_by_day: dict[str, dict[str, int]], since: str) -> None:
    """Replace the organization's role snapshots from ``since`` on."""
    partition = roles_partition(org_id)
    stale = {r.sk for r in RolesRecord.query(partition, RolesRecord.sk >= since, consistent_read=True)}
    with RolesRecord.batch_write() as batch:
        for day, counts in counts_by_day.items():
            batch.save(RolesRecord(partition, day, counts=counts))
            stale.discard(day)
        for day in stale:
            batch.delete(RolesRecord(partition, day))


def roles_at(org_id: str, day: date) -> dict[str, int]:
    """The latest snapshot at or before the end of ``day`` (nobody active before the first)."""
    for record in RolesRecord.query(
        roles_partition(org_id), RolesRecord.sk <= day.isoformat(), scan_index_forward=False, limit=1
    ):
        counts: dict[str, int] = record.counts
        return counts
    return {}


def set_data_as_of(org_id: str, now: datetime) -> None:
    RollupMetaRecord(*rollup_meta_key(org_id), data_as_of=format_utc(now)).save()


def data_as_of(org_id: str) -> str | None:
    try:
        return str(RollupMetaRecord.get(*rollup_meta_key(org_id)).data_as_of)
    except RollupMetaRecord.DoesNotExist:
        return None


def save_report_sections(org_id: str, sections_by_window: dict[Window, ActivitySections]) -> None:
    with ReportSectionsRecord.batch_write() as batch:
        for window, sections in sections_by_window.items():
            batch.save(
                ReportSectionsRecord(
                    *report_sections_key(org_id, window.name),
                    first=window.first.isoformat(),
                    last=window.last.isoformat(),
                    sections=asdict(sections),
                )
            )


def precomputed_sections(org_id: str, window: Window) -> ActivitySections | None:
    """The sections the last rollup computed for exactly this window, if it did (one item)."""
    try:
        record = ReportSectionsRecord.get(*report_sections_key(org_id, window.name))
    except ReportSectionsRecord.DoesNotExist:
        return None
    if (record.first, record.last) != (window.first.isoformat(), window.last.isoformat()):
        return None
    return ActivitySections.from_json(record.sections)


def rolled_up_sections(org_id: str, window_name: str) -> ActivitySections | None:
    """The sections the last rollup computed for a named timeframe, whatever day it ran (one item)."""
    try:
        record = ReportSectionsRecord.get(*report_sections_key(org_id, window_name))
    except ReportSectionsRecord.DoesNotExist:
        return None
    return ActivitySections.from_json(record.sections)


# ---------------------------------------------------------------- days that hold events


class ActivityDayRecord(LicensingItem):
    """``ACTIVEDAYS#<org_id>`` / ``<day>``: the organization's day holds events (an index so that a
    read of days walks only the days that exist, not the calendar)."""


def save_activity_day(org_id: str, day: str, has_events: bool) -> None:
    record = ActivityDayRecord(activity_days_partition(org_id), day)
    if has_events:
        record.save()
    else:
        record.delete()


def activity_days(org_id: str, first: date, last: date) -> list[str]:
    """The organization's days in [first, last] that the rollups found events on (one query)."""
    return [
        record.sk
        for record in ActivityDayRecord.query(
            activity_days_partition(org_id),
            ActivityDayRecord.sk.between(first.isoformat(), last.isoformat()),
            attributes_to_get=["pk", "sk"],
        )
    ]
