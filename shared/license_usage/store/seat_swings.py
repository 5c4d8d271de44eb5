"""``SEATHIST#<plan_id>`` / ``<day>``: how far seats in use moved within a day (the daily rollup
writes it; usage, the seat history and the report read it)."""

from __future__ import annotations

from datetime import date

from pynamodb.attributes import NumberAttribute

from license_usage.domain.consumption import SeatSwing
from license_usage.store.keys import seat_swing_partition
from license_usage.store.tables import LicensingItem


class SeatSwingRecord(LicensingItem):
    low = NumberAttribute()
    high = NumberAttribute()
    net = NumberAttribute()
    version = NumberAttribute(default=0)


def save_seat_swing(plan_id: str, day: str, swing: SeatSwing | None) -> None:
    """Store the day's swing, or forget it (None: the day has no seat change)."""
    record = SeatSwingRecord(seat_swing_partition(plan_id), day)
    if swing is None:
        record.delete()
    else:
        record.low, record.high, record.net, record.version = swing.low, swing.high, swing.net, swing.version
        record.save()


def seat_swings(plan_id: str, first: date, last: date) -> dict[str, SeatSwing]:
    return {
        record.sk: SeatSwing(int(record.low), int(record.high), int(record.net), int(record.version or 0))
        for record in SeatSwingRecord.query(
            seat_swing_partition(plan_id), SeatSwingRecord.sk.between(first.isoformat(), last.isoformat())
        )
    }
