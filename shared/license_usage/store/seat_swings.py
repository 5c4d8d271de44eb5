"""``SEATHIST#<plan_id>`` / ``<day>``: how far seats in use moved within a day (the daily rollup
writes it; usage, the seat history and the report read it). ``SEATDENIED#<plan_id>`` / ``<day>``:
the day's refused logins and claims; ``SEATHIST#<plan_id>`` / ``INSIGHTS``: the plan's first idle
seat holders and its refusals of the last 30 days (the daily rollup writes both; insights read
them)."""

from __future__ import annotations

from datetime import date

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute

from license_usage.domain.consumption import SeatSwing
from license_usage.domain.rollups import DayDenials, RecentDenials, SeatFigures
from license_usage.store.keys import seat_denials_partition, seat_figures_key, seat_swing_partition
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


class DayDenialsRecord(LicensingItem):
    denials = NumberAttribute()
    distinct_users = NumberAttribute()
    user_ids = UnicodeSetAttribute()
    last_order_key = UnicodeAttribute()


def save_day_denials(plan_id: str, day: str, denials: DayDenials | None) -> None:
    """Store the day's refusals, or forget them (None: the day has none)."""
    record = DayDenialsRecord(seat_denials_partition(plan_id), day)
    if denials is None:
        record.delete()
        return
    record.denials, record.distinct_users = denials.denials, denials.distinct_users
    record.user_ids, record.last_order_key = set(denials.user_ids), denials.last_order_key
    record.save()


def day_denials(plan_id: str, first: date, last: date) -> dict[str, DayDenials]:
    """The plan's days with refusals from ``first`` to ``last``, both included: one query,
    bounded by the days (at most 30 for the insights), whatever the users."""
    return {
        record.sk: DayDenials(
            denials=int(record.denials),
            user_ids=frozenset(record.user_ids or ()),
            last_order_key=record.last_order_key,
            distinct_users=int(record.distinct_users),
        )
        for record in DayDenialsRecord.query(
            seat_denials_partition(plan_id), DayDenialsRecord.sk.between(first.isoformat(), last.isoformat())
        )
    }


class SeatFiguresRecord(LicensingItem):
    idle_user_ids = ListAttribute(of=UnicodeAttribute, null=True)
    recent_denials = NumberAttribute(null=True)
    recent_denied_users = NumberAttribute(null=True)
    last_denied_at = UnicodeAttribute(null=True)


def save_seat_figures(plan_id: str, figures: SeatFigures) -> None:
    recent = figures.recent_denials
    SeatFiguresRecord(
        *seat_figures_key(plan_id),
        idle_user_ids=list(figures.idle_user_ids),
        recent_denials=recent.denials,
        recent_denied_users=recent.distinct_users,
        last_denied_at=recent.last_order_key,
    ).save()


def seat_figures(plan_id: str) -> SeatFigures:
    """What the last daily rollup kept of the seats plan for the insights (one small item)."""
    try:
        record = SeatFiguresRecord.get(*seat_figures_key(plan_id))
    except SeatFiguresRecord.DoesNotExist:
        return SeatFigures()
    recent = RecentDenials(int(record.recent_denials or 0), int(record.recent_denied_users or 0), record.last_denied_at)
    return SeatFigures(tuple(str(user_id) for user_id in record.idle_user_ids or ()), recent)
