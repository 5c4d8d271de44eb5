"""What the scheduled rollups keep in ``LicensingTable`` (the dirty-day marks that tell them
which days to recompute are in ``store.dirty_days``, the seat swings in ``store.seat_swings``).

- ``DAILY#<org_id>`` / ``<day>`` and ``<day>#G#<group>``: a day's figures, organization-wide
  and per group (reports add these up; they never read raw events).
- ``ROLES#<org_id>`` / ``<day>``: roles of active users at the end of a day when they changed.
- ``ROLLUP#<org_id>`` / ``META``: when the organization's figures were last rolled up.
- ``REPORT#<org_id>`` / a timeframe: the named windows' sections; ``ACTIVEDAYS#<org_id>`` /
  ``<day>``: the days that hold events.

Every item here stays below DynamoDB's 400 KB whatever an organization sends: what grows with
users, groups or events is cut into parts of at most ``PART_BYTES`` (a day's distinct ids: goals,
users, sessions, instances; a day's roles; a timeframe's groups), each part an item of its own
after the first (``store.keys``: ``…#P#<n>``), and readers put the parts back together. A part
holds at most ``PART_BYTES`` of what grows, and its other attributes are bounded by their fields'
limits (``domain.rollups``: ``day_item_bytes_bound`` and the like). A group's name is kept on its items
(``group_name``): the sort key holds it only while it is short enough (``store.keys.key_part``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime
from heapq import merge
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute

from license_usage.domain.rollups import (
    ActivitySections,
    AiFigures,
    DayEvent,
    DayFigures,
    StoredDay,
    json_bytes,
    split_by_bytes,
)
from license_usage.domain.timeframes import Window
from license_usage.domain.timestamps import format_utc
from license_usage.store.keys import (
    PART_MARK,
    REPORT_PARTS_RANGE,
    activity_days_partition,
    daily_part_sort_key,
    daily_partition,
    daily_sort_key,
    day_partitions,
    directory_day_partition,
    report_part_key,
    report_sections_key,
    roles_part_sort_key,
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
    group_name = UnicodeAttribute(null=True)  # group items (items written before it: in the sort key)


class RolesRecord(LicensingItem):
    counts = JSONAttribute()


class ReportSectionsRecord(LicensingItem):
    """pk = ``REPORT#<org_id>``, sk = a named timeframe: its sections as of the last rollup (the
    groups past the item's room in ``parts`` more items)."""

    first = UnicodeAttribute()
    last = UnicodeAttribute()
    sections = JSONAttribute()
    parts = NumberAttribute(null=True)


class ReportPartRecord(LicensingItem):
    """pk = ``REPORT#<org_id>``, sk = ``P#<timeframe>#<n>``: rows of ``consumption_by_group``."""

    rows = JSONAttribute()


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


# A day's item keeps distinct ids (goals, users, sessions, instances); past ``PART_BYTES`` of them
# the rest go to overflow items of the same day (an item holds at most 400 KB).
_ID_SETS = ("quality_check", "suggest_alignment", "active_users", "session_ids", "instance_ids")


def _chunks(sets: dict[str, set[str]]) -> list[dict[str, set[str]]]:
    """The id sets split into parts of at most ``PART_BYTES`` bytes each (one part at least)."""
    named = [(name, item) for name, ids in sets.items() for item in sorted(ids)]
    parts: list[dict[str, set[str]]] = []
    for chunk in split_by_bytes(named, lambda pair: len(pair[1].encode()) + 3):
        part: dict[str, set[str]] = {}
        for name, item in chunk:
            part.setdefault(name, set()).add(item)
        parts.append(part)
    return parts or [{}]


def _split(partition: str, day: str, group: str | None, record: DailyRecord) -> list[DailyRecord]:
    """``record`` with its id sets cut to size, and the overflow items (``<day>#P#<n>#…``)."""
    sets = {name: set(getattr(record, name) or ()) for name in _ID_SETS}
    parts = _chunks(sets)
    for name in _ID_SETS:
        setattr(record, name, parts[0].get(name) or None)
    overflow = [
        DailyRecord(partition, daily_part_sort_key(day, index, group), group_name=group)
        for index in range(1, len(parts))
    ]
    for item, part in zip(overflow, parts[1:], strict=True):
        for name in _ID_SETS:
            setattr(item, name, part.get(name) or None)
    return [record, *overflow]


def save_day_figures(org_id: str, day: str, figures: DayFigures) -> None:
    """Replace the day's stored figures (its group items included) with ``figures``."""
    partition = daily_partition(org_id)
    stale = {record.sk for record in DailyRecord.query(partition, DailyRecord.sk.startswith(day), consistent_read=True)}
    records = _split(partition, day, None, _daily_record(partition, day, figures.ai, figures.lifecycle, None))
    for group, group_figures in figures.groups.items():
        sk = daily_sort_key(day, group)
        record = _daily_record(partition, sk, group_figures.ai, {}, group_figures.active_users)
        record.session_ids = set(group_figures.session_ids) or None
        record.loose_logins = group_figures.loose_logins
        record.instance_ids = set(group_figures.instance_ids) or None
        record.group_name = group
        records.extend(_split(partition, day, group, record))
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
        if record.sk[10:13] == PART_MARK:  # <day>#P#<n>#D or <day>#P#<n>#G#<group>: ids beyond an item's size
            rest = record.sk[18:]
            overflow.setdefault((record.sk[:10], rest[2:] if rest.startswith("G#") else None), []).append(record)
        else:
            bases.append(record)
    for record in bases:
        day_text, _, group_key = record.sk.partition("#G#")
        for extra in overflow.pop((day_text, group_key or None), []):
            _merge_ids(record, extra)
        group = record.group_name or group_key  # items written before ``group_name``: their sort key
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


def _role_parts(counts: dict[str, int]) -> list[dict[str, int]]:
    """A day's role counts in parts of at most ``PART_BYTES`` of JSON each (one part at least)."""
    chunks = split_by_bytes(sorted(counts.items()), lambda pair: json_bytes({pair[0]: pair[1]}))
    return [dict(chunk) for chunk in chunks] or [{}]


def save_roles(org_id: str, counts_by_day: dict[str, dict[str, int]], since: str) -> None:
    """Replace the organization's role snapshots from ``since`` on (a day's roles past an item's
    room in parts: ``<day>#P#<n>``)."""
    partition = roles_partition(org_id)
    stale = {r.sk for r in RolesRecord.query(partition, RolesRecord.sk >= since, consistent_read=True)}
    with RolesRecord.batch_write() as batch:
        for day, counts in counts_by_day.items():
            for index, part in enumerate(_role_parts(counts)):
                sk = day if index == 0 else roles_part_sort_key(day, index)
                batch.save(RolesRecord(partition, sk, counts=part))
                stale.discard(sk)
        for sk in stale:
            batch.delete(RolesRecord(partition, sk))


def roles_at(org_id: str, day: date) -> dict[str, int]:
    """The latest snapshot at or before the end of ``day`` (nobody active before the first): one
    item, or the day's parts when it has some (they sort after it, so the newest item is one)."""
    partition = roles_partition(org_id)
    for record in RolesRecord.query(
        partition, RolesRecord.sk <= f"{day.isoformat()}#~", scan_index_forward=False, limit=1
    ):
        if record.sk[10:13] != PART_MARK:
            counts: dict[str, int] = record.counts
            return counts
        merged: dict[str, int] = {}
        for part in RolesRecord.query(partition, RolesRecord.sk.startswith(record.sk[:10])):
            merged.update(part.counts)
        return merged
    return {}


def set_data_as_of(org_id: str, now: datetime) -> None:
    RollupMetaRecord(*rollup_meta_key(org_id), data_as_of=format_utc(now)).save()


def data_as_of(org_id: str) -> str | None:
    try:
        return str(RollupMetaRecord.get(*rollup_meta_key(org_id)).data_as_of)
    except RollupMetaRecord.DoesNotExist:
        return None


def save_report_sections(org_id: str, sections_by_window: dict[Window, ActivitySections]) -> None:
    """Replace the named windows' sections: the groups past an item's room go to parts
    (``P#<timeframe>#<n>``), and the parts an earlier run wrote beyond these are deleted."""
    if not sections_by_window:
        return
    pk = report_sections_key(org_id, next(iter(sections_by_window)).name)[0]
    # The parts of every timeframe are one range: reading it costs next to nothing when empty.
    stale = {part.sk for part in ReportPartRecord.query(pk, ReportPartRecord.sk.startswith(REPORT_PARTS_RANGE))}
    with ReportSectionsRecord.batch_write() as batch:
        for window, sections in sections_by_window.items():
            raw = asdict(sections)
            chunks = split_by_bytes(raw["consumption_by_group"], lambda row: json_bytes(row) + 2)
            raw["consumption_by_group"] = chunks[0] if chunks else []
            batch.save(
                ReportSectionsRecord(
                    *report_sections_key(org_id, window.name),
                    first=window.first.isoformat(),
                    last=window.last.isoformat(),
                    sections=raw,
                    parts=len(chunks[1:]) or None,
                )
            )
            for index, rows in enumerate(chunks[1:], start=1):
                part = ReportPartRecord(*report_part_key(org_id, window.name, index), rows=rows)
                batch.save(part)
                stale.discard(part.sk)
        for sk in stale:
            batch.delete(ReportPartRecord(pk, sk))


def _sections(org_id: str, window_name: str, record: ReportSectionsRecord) -> ActivitySections:
    raw = dict(record.sections)
    if record.parts:
        keys = [report_part_key(org_id, window_name, index) for index in range(1, int(record.parts) + 1)]
        parts = sorted(ReportPartRecord.batch_get(keys), key=lambda part: part.sk)
        raw["consumption_by_group"] = [*raw["consumption_by_group"], *(row for part in parts for row in part.rows)]
    return ActivitySections.from_json(raw)


def precomputed_sections(org_id: str, window: Window) -> ActivitySections | None:
    """The sections the last rollup computed for exactly this window, if it did (one item, and its
    parts if it has some)."""
    try:
        record = ReportSectionsRecord.get(*report_sections_key(org_id, window.name))
    except ReportSectionsRecord.DoesNotExist:
        return None
    if (record.first, record.last) != (window.first.isoformat(), window.last.isoformat()):
        return None
    return _sections(org_id, window.name, record)


def rolled_up_sections(org_id: str, window_name: str) -> ActivitySections | None:
    """The sections the last rollup computed for a named timeframe, whatever day it ran (one item,
    and its parts if it has some)."""
    try:
        record = ReportSectionsRecord.get(*report_sections_key(org_id, window_name))
    except ReportSectionsRecord.DoesNotExist:
        return None
    return _sections(org_id, window_name, record)


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
