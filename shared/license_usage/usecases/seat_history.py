"""Seats in use per day (SPEC §5 seat-history): the lowest and highest of each day."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from license_usage.domain.plans import Plan
from license_usage.store.plans import day_tallies
from license_usage.store.rollups import seat_swings


def seat_history(plan: Plan, first: date, last: date) -> list[dict[str, Any]]:
    """Each day's seats in use start from the day tallies (taken minus released before it); the
    rollup's swing says how far they moved within the day. A day not rolled up yet shows its
    start and end."""
    first = max(first, plan.start.date())
    last = min(last, (plan.end - timedelta(microseconds=1)).date())
    if last < first:
        return []
    tallies = day_tallies(plan.plan_id, last.isoformat())
    swings = seat_swings(plan.plan_id, first, last)
    level = sum(t.seats_taken - t.seats_released for day, t in tallies.items() if day < first.isoformat())
    rows = []
    day = first
    while day <= last:
        tally = tallies.get(day.isoformat())
        net = tally.seats_taken - tally.seats_released if tally else 0
        swing = swings.get(day.isoformat())
        low, high = (
            (level + swing.low, level + swing.high) if swing else (min(level, level + net), max(level, level + net))
        )
        rows.append(
            {"date": day.isoformat(), "min": low, "max": high, "seat_limit": plan.amount, "hard_limit": plan.hard_limit}
        )
        level += net
        day += timedelta(days=1)
    return rows


def month_peak(plan: Plan, month_first: date, month_last: date) -> int:
    return max((row["max"] for row in seat_history(plan, month_first, month_last)), default=0)
