"""Dirty-day marks in ``LicensingTable``: ``DIRTY#<shard>`` / ``<org_id>#<day>``, a day that received
events since its last rollup. ``marks`` counts the writers that marked it; ``claimed`` is the
count a running rollup started from. Apart from the rollups' figures: ingest needs only these."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.expressions.update import Action

from license_usage.domain.timestamps import format_utc, order_key_instant
from license_usage.store.keys import dirty_day_key, dirty_partition, dirty_partitions
from license_usage.store.tables import LicensingItem, condition_failed


class DirtyDayRecord(LicensingItem):
    org_id = UnicodeAttribute()
    day = UnicodeAttribute()
    marks = NumberAttribute(default=0)
    marked_at = UnicodeAttribute()
    claimed = NumberAttribute(null=True)
    uncounted = BooleanAttribute(null=True)  # some of the day's events may not be counted yet


@dataclass(frozen=True)
class DirtyDay:
    org_id: str
    day: str
    marks: int
    marked_at: datetime | None = None  # last written (an unclaimed mark is not rewritten)
    uncounted: bool = False  # the rollup counts the day's events again before reading them


def _needing_marks(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The keys whose day needs a mark: none yet, or one a rollup has claimed. Not claimed yet:
    the rollup that claims it reads the day after this read, so after the writes that preceded
    it. Claimed: that rollup may have read the day already. One consistent BatchGet for them all."""
    found = {(record.pk, record.sk): record for record in DirtyDayRecord.batch_get(keys, consistent_read=True)}
    return [key for key in keys if key not in found or found[key].claimed is not None]


def mark_days_dirty(org_id: str, days: Iterable[str], now: datetime, uncounted: bool = False) -> None:
    """Call after writing the days' events: makes sure a rollup reads those days again. A read
    (one BatchGet for every day) spares the write while the day's mark still waits for its rollup
    (most batches). ``uncounted``: some of the days' events were stored but not counted; the
    rollup counts them again first (always written: a waiting mark may not say so yet)."""
    day_of_key = {dirty_day_key(org_id, day): day for day in sorted(set(days))}
    keys = list(day_of_key) if uncounted else _needing_marks(list(day_of_key)) if day_of_key else []
    for key in keys:
        actions: list[Action] = [
            DirtyDayRecord.org_id.set(org_id),
            DirtyDayRecord.day.set(day_of_key[key]),
            DirtyDayRecord.marks.add(1),
            DirtyDayRecord.marked_at.set(format_utc(now)),
        ]
        if uncounted:
            actions.append(DirtyDayRecord.uncounted.set(True))
        DirtyDayRecord(*key).update(actions=actions)


def dirty_days() -> list[DirtyDay]:
    """Every organization's marks, shard by shard."""
    return [
        DirtyDay(
            record.org_id, record.day, int(record.marks), order_key_instant(record.marked_at), bool(record.uncounted)
        )
        for partition in dirty_partitions()
        for record in DirtyDayRecord.query(partition, consistent_read=True)
    ]


def dirty_days_of(org_id: str) -> list[str]:
    records = DirtyDayRecord.query(
        dirty_partition(org_id), DirtyDayRecord.sk.startswith(dirty_day_key(org_id, "")[1]), consistent_read=True
    )
    return [record.day for record in records]


def claim_dirty_day(dirty: DirtyDay) -> DirtyDay:
    """Before the day is read: from now on, writers mark it again (see ``mark_days_dirty``)."""
    record = DirtyDayRecord(*dirty_day_key(dirty.org_id, dirty.day))
    record.update(actions=[DirtyDayRecord.claimed.set(DirtyDayRecord.marks)], condition=DirtyDayRecord.marks.exists())
    return DirtyDay(dirty.org_id, dirty.day, int(record.marks), uncounted=dirty.uncounted)


def clear_dirty_day(dirty: DirtyDay) -> bool:
    """Forget the claimed mark unless a writer marked the day again while it was being rolled up;
    then give up the claim, so the next rollup claims the day afresh."""
    record = DirtyDayRecord(*dirty_day_key(dirty.org_id, dirty.day))
    try:
        # Only the claimed mark: a resend after a lost answer must not delete a fresh mark that an
        # ingest wrote in between (it has the same count, but no claim).
        record.delete(condition=(DirtyDayRecord.marks == dirty.marks) & DirtyDayRecord.claimed.exists())
    except DeleteError as error:
        if not condition_failed(error):
            raise
        try:
            record.update(actions=[DirtyDayRecord.claimed.remove()], condition=DirtyDayRecord.marks.exists())
        except UpdateError as update_error:
            if not condition_failed(update_error):
                raise
        return False
    return True


def release_dirty_day(dirty: DirtyDay) -> None:
    """Give up the claim on a day that could not be rolled up: it stays marked for the next run,
    and writers need not mark it again meanwhile (see ``mark_days_dirty``)."""
    record = DirtyDayRecord(*dirty_day_key(dirty.org_id, dirty.day))
    try:
        record.update(actions=[DirtyDayRecord.claimed.remove()], condition=DirtyDayRecord.marks.exists())
    except UpdateError as error:
        if not condition_failed(error):
            raise
