"""Consumption figures of a plan (SPEC §2): seats, MAU and MAUC, per plan and per plan month.

Inputs are the counters the store keeps (per plan month, per day, seats in use); everything a
report shows is derived here, so each rule lives in one function."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from license_usage.domain.plans import Plan, PlanMonth, PlanType, month_of, plan_months

FORECAST_WINDOW_DAYS = 30
INACTIVE_AFTER_DAYS = 30


@dataclass(frozen=True)
class MonthCounts:
    """What one plan month's counters hold (a month nobody touched counts zeros)."""

    active_users: int = 0  # users with at least one login in the month (mau, mauc: credits)
    seats_taken: int = 0
    seats_released: int = 0
    peak_seats: int = 0  # highest seats in use seen in the month


@dataclass(frozen=True)
class DayCounts:
    credits_used: int = 0  # mauc: users whose first login of a plan month fell on this day
    seats_taken: int = 0
    seats_released: int = 0


@dataclass(frozen=True)
class PlanCounters:
    seats_in_use: int = 0
    months: Mapping[str, MonthCounts] = field(default_factory=dict)
    days: Mapping[str, DayCounts] = field(default_factory=dict)  # YYYY-MM-DD, the trailing window
    flagged_over_amount: bool = False  # whether the plan is listed as an overdraft now
    inactive_assignments: int = 0  # seats held without a login in 30 days, as of the last daily rollup


@dataclass(frozen=True)
class Usage:
    amount: int
    consumed: int
    available: int
    utilization_pct: float
    overage: int
    forecast_exhausted_on: date | None
    months: list[dict[str, Any]]


def utilization_pct(consumed: int, amount: int) -> float:
    """SPEC §2: consumed / amount × 100, one decimal."""
    return round(consumed * 100 / amount, 1)


def started_months(plan: Plan, now: datetime) -> list[PlanMonth]:
    """The plan months that have begun by ``now`` (rows are shown for these)."""
    return [m for m in plan_months(plan.start, plan.end) if m.starts_at <= now]


def reference_month(plan: Plan, now: datetime) -> str:
    """SPEC §2: mau's plan-level figures are those of the current plan month (the first before
    the plan starts, the last after it ends)."""
    months = plan_months(plan.start, plan.end)
    if now < plan.start:
        return months[0].month
    if now >= plan.end:
        return months[-1].month
    return month_of(now)


def _month_row(month: PlanMonth) -> dict[str, Any]:
    return {"month": month.month, "month_start": month.first_day.isoformat(), "month_end": month.last_day.isoformat()}


def mau_month_rows(plan: Plan, counters: PlanCounters, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for month in started_months(plan, now):
        active = counters.months.get(month.month, MonthCounts()).active_users
        rows.append(
            {
                **_month_row(month),
                "active_users": active,
                "allowance": plan.amount,
                "overage": max(0, active - plan.amount),
            }
        )
    return rows


def mauc_month_rows(plan: Plan, counters: PlanCounters, now: datetime) -> list[dict[str, Any]]:
    """SPEC §2: a month's overage is the credits it used beyond what remained at its start, so
    the months' overages add up to the plan's."""
    rows = []
    cumulative = 0
    for month in started_months(plan, now):
        used = counters.months.get(month.month, MonthCounts()).active_users
        over_before = max(0, cumulative - plan.amount)
        cumulative += used
        rows.append(
            {
                **_month_row(month),
                "credits_used": used,
                "cumulative_used": cumulative,
                "credits_remaining": max(0, plan.amount - cumulative),
                "overage": max(0, cumulative - plan.amount) - over_before,
            }
        )
    return rows


def seats_month_rows(plan: Plan, counters: PlanCounters, now: datetime) -> list[dict[str, Any]]:
    """Seats in use at a month's end = seats taken minus released through that month."""
    rows = []
    in_use = 0
    for month in started_months(plan, now):
        counts = counters.months.get(month.month, MonthCounts())
        in_use_before = in_use
        in_use += counts.seats_taken - counts.seats_released
        peak = max(counts.peak_seats, in_use_before, in_use)
        rows.append(
            {
                **_month_row(month),
                "seats_taken": counts.seats_taken,
                "seats_released": counts.seats_released,
                "seats_in_use_end": in_use,
                "peak_seats_in_use": peak,
                "seat_limit": plan.amount,
                "hard_limit": plan.hard_limit,
                "overage": max(0, peak - plan.amount),
            }
        )
    return rows


def trailing_days(now: datetime) -> list[str]:
    """The trailing 30 UTC days, today included."""
    today = now.date()
    return [(today - timedelta(days=offset)).isoformat() for offset in range(FORECAST_WINDOW_DAYS)]


def forecast_exhausted_on(plan: Plan, consumed: int, recent_consumption: int, now: datetime) -> date | None:
    """SPEC §2: at the trailing 30 days' rate, the day the amount runs out; None if not before end."""
    remaining = plan.amount - consumed
    if remaining <= 0:
        return now.date()
    if recent_consumption <= 0:
        return None
    rate_per_day = recent_consumption / FORECAST_WINDOW_DAYS
    exhausted = now.date() + timedelta(days=math.ceil(remaining / rate_per_day))
    return exhausted if datetime.combine(exhausted, time(), UTC) < plan.end else None


def plan_usage(plan: Plan, counters: PlanCounters, now: datetime) -> Usage:
    """The plan-level figures and month rows of SPEC §2 and §5."""
    window = trailing_days(now)
    if plan.type is PlanType.SEATS:
        consumed = counters.seats_in_use
        recent = sum(
            counters.days[d].seats_taken - counters.days[d].seats_released for d in window if d in counters.days
        )
        months = seats_month_rows(plan, counters, now)
        forecast = forecast_exhausted_on(plan, consumed, recent, now)
    elif plan.type is PlanType.MAU:
        consumed = counters.months.get(reference_month(plan, now), MonthCounts()).active_users
        months = mau_month_rows(plan, counters, now)
        forecast = None  # SPEC §2 forecasts mauc and seats only
    else:
        consumed = sum(counts.active_users for counts in counters.months.values())
        recent = sum(counters.days[d].credits_used for d in window if d in counters.days)
        months = mauc_month_rows(plan, counters, now)
        forecast = forecast_exhausted_on(plan, consumed, recent, now)
    return Usage(
        amount=plan.amount,
        consumed=consumed,
        available=max(0, plan.amount - consumed),
        utilization_pct=utilization_pct(consumed, plan.amount),
        overage=max(0, consumed - plan.amount),
        forecast_exhausted_on=forecast,
        months=months,
    )


def is_over_amount(plan: Plan, counters: PlanCounters, now: datetime) -> bool:
    """A plan "using more than its amount" (SPEC §5, overdrafts)."""
    return plan_usage(plan, counters, now).consumed > plan.amount
