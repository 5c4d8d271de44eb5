"""Consumption figures of a plan (SPEC §2, §5, §6): seats, MAU and MAUC, per plan, per plan
month and per day, from the counters the store keeps.

Everything a report, the usage API, the seat history and the exports show is derived here from
one ``PlanCounters``, so the month rows, the peaks, the seat history and the report's license
usage agree at any moment. Seats per day come from the day tallies (seats taken and freed, as
each change commits); how far seats moved *within* a day needs the order of that day's changes,
which the daily rollup works out (``SeatSwing``): until it has, the day is not settled."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from license_usage.domain.plans import Plan, PlanMonth, PlanType, month_of, plan_months

FORECAST_WINDOW_DAYS = 30
INACTIVE_AFTER_DAYS = 30


@dataclass(frozen=True)
class MonthCounts:
    active_users: int = 0  # users with at least one login in the month (mau; mauc: credits)


@dataclass(frozen=True)
class DayCounts:
    credits_used: int = 0  # mauc: credits whose month's first login fell on this day
    seats_taken: int = 0
    seats_released: int = 0
    seat_changes: int = 0  # how many commits changed the day's seats (the rollup's swing names it)

    @property
    def seats_net(self) -> int:
        return self.seats_taken - self.seats_released


@dataclass(frozen=True)
class SeatSwing:
    """How far seats in use moved within a day, relative to the day's start (the rollup's), as of
    the day's ``seat_changes`` count it read before the day's entries (``version``)."""

    low: int
    high: int
    net: int
    version: int = 0


@dataclass(frozen=True)
class PlanCounters:
    seats_in_use: int = 0
    months: Mapping[str, MonthCounts] = field(default_factory=dict)
    days: Mapping[str, DayCounts] = field(default_factory=dict)  # YYYY-MM-DD, every day with a tally
    swings: Mapping[str, SeatSwing] = field(default_factory=dict)  # seats: days the rollup settled
    flagged_over_amount: bool = False  # whether the plan is listed as an overdraft now
    inactive_assignments: int = 0  # seats held without a login in 30 days, as of the last daily rollup
    active_assigned: int = 0  # seats held with a login in 30 days, likewise


# ---------------------------------------------------------------------- typed results


@dataclass(frozen=True)
class SeatDay:
    """Seats in use during one UTC day (SPEC §5 seat-history)."""

    date: date
    min: int
    max: int
    seat_limit: int
    hard_limit: int
    end: int  # at the end of the day
    seats_taken: int
    seats_released: int
    settled: bool  # False while the day's changes wait for the rollup (min/max then span start and end)


@dataclass(frozen=True)
class SeatsMonthRow:
    month: str
    month_start: date
    month_end: date
    seats_taken: int
    seats_released: int
    seats_in_use_end: int
    peak_seats_in_use: int
    seat_limit: int
    hard_limit: int
    overage: int


@dataclass(frozen=True)
class MauMonthRow:
    month: str
    month_start: date
    month_end: date
    active_users: int
    allowance: int
    overage: int


@dataclass(frozen=True)
class MaucMonthRow:
    month: str
    month_start: date
    month_end: date
    credits_used: int
    cumulative_used: int
    credits_remaining: int
    overage: int


MonthRow = SeatsMonthRow | MauMonthRow | MaucMonthRow


@dataclass(frozen=True)
class Usage:
    amount: int
    consumed: int
    available: int
    utilization_pct: float
    overage: int
    forecast_exhausted_on: date | None
    months: list[MonthRow]
    settled: bool  # every figure final (no seat change waits for the rollup)


@dataclass(frozen=True)
class PlanFigures:
    """A plan's figures as of an instant (the report's license usage, SPEC §6)."""

    amount: int
    consumed: int
    available: int
    utilization_pct: float
    overage: int


# ---------------------------------------------------------------------- rules


def utilization_pct(consumed: int, amount: int) -> float:
    """SPEC §2: consumed / amount × 100, one decimal."""
    return round(consumed * 100 / amount, 1)


def active_share(active_assigned: int, seats_in_use: int) -> float:
    """SPEC §2: active_pct = active_assigned / seats_in_use (×100, one decimal; 0 with no seat held)."""
    return utilization_pct(active_assigned, seats_in_use) if seats_in_use else 0.0


def is_over(consumed: int, amount: int) -> bool:
    """A plan "using more than its amount" (SPEC §5 overdrafts; SPEC §2 overage)."""
    return consumed > amount


def overage(consumed: int, amount: int) -> int:
    return max(0, consumed - amount)


def reference_month(plan: Plan, at: datetime) -> str:
    """SPEC §2: mau's plan-level figures are those of the plan month containing ``at`` (the
    first before the plan starts, the last after it ends)."""
    months = plan_months(plan.start, plan.end)
    if at < plan.start:
        return months[0].month
    if at >= plan.end:
        return months[-1].month
    return month_of(at)


def days_between(first: date, last: date) -> list[date]:
    """The UTC days from ``first`` to ``last``, both included (none when ``first`` is later)."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _plan_last_day(plan: Plan) -> date:
    return (plan.end - timedelta(microseconds=1)).date()


def seat_days(plan: Plan, counters: PlanCounters, first: date, last: date) -> list[SeatDay]:
    """Each day's seats in use, clipped to the plan: the day's start is seats taken minus freed
    before it; the rollup's swing says how far they moved within it."""
    first = max(first, plan.start.date())
    last = min(last, _plan_last_day(plan))
    level = sum(t.seats_net for day, t in counters.days.items() if day < first.isoformat())
    rows = []
    for day in days_between(first, last):
        text = day.isoformat()
        tally = counters.days.get(text, DayCounts())
        swing = counters.swings.get(text)
        changed = bool(tally.seats_taken or tally.seats_released)
        usable = swing is not None and swing.version == tally.seat_changes and swing.net == tally.seats_net
        if changed and usable and swing is not None:
            low, high, settled = level + swing.low, level + swing.high, True
        else:
            low, high = min(level, level + tally.seats_net), max(level, level + tally.seats_net)
            settled = not changed
        level += tally.seats_net
        rows.append(
            SeatDay(
                day, low, high, plan.amount, plan.hard_limit, level, tally.seats_taken, tally.seats_released, settled
            )
        )
    return rows


def _month_span(month: PlanMonth, today: date) -> tuple[date, date] | None:
    """The days of the month that have begun by ``today`` (None: the month has not begun)."""
    if month.first_day > today:
        return None
    return month.first_day, min(month.last_day, today)


def seats_month_rows(
    plan: Plan, counters: PlanCounters, now: datetime, begun_days: list[SeatDay] | None = None
) -> list[SeatsMonthRow]:
    """SPEC §8 seats columns, for every plan month (months not yet begun are zeros).
    ``begun_days``: the plan's ``seat_days`` up to ``now``, when the caller has them already."""
    if begun_days is None:
        begun_days = _begun_seat_days(plan, counters, now)
    by_day = {day.date: day for day in begun_days}
    rows = []
    for month in plan_months(plan.start, plan.end):
        span = _month_span(month, now.date())
        days = [by_day[d] for d in days_between(*span) if d in by_day] if span else []
        peak = max((d.max for d in days), default=0)
        rows.append(
            SeatsMonthRow(
                month=month.month,
                month_start=month.first_day,
                month_end=month.last_day,
                seats_taken=sum(d.seats_taken for d in days),
                seats_released=sum(d.seats_released for d in days),
                seats_in_use_end=days[-1].end if days else 0,
                peak_seats_in_use=peak,
                seat_limit=plan.amount,
                hard_limit=plan.hard_limit,
                overage=overage(peak, plan.amount),
            )
        )
    return rows


def mau_month_rows(plan: Plan, counters: PlanCounters) -> list[MauMonthRow]:
    rows = []
    for month in plan_months(plan.start, plan.end):
        active = counters.months.get(month.month, MonthCounts()).active_users
        rows.append(
            MauMonthRow(month.month, month.first_day, month.last_day, active, plan.amount, overage(active, plan.amount))
        )
    return rows


def mauc_month_rows(plan: Plan, counters: PlanCounters) -> list[MaucMonthRow]:
    """SPEC §2: a month's overage is the credits it used beyond what remained at its start, so
    the months' overages add up to the plan's."""
    rows = []
    cumulative = 0
    for month in plan_months(plan.start, plan.end):
        used = counters.months.get(month.month, MonthCounts()).active_users
        over_before = overage(cumulative, plan.amount)
        cumulative += used
        rows.append(
            MaucMonthRow(
                month=month.month,
                month_start=month.first_day,
                month_end=month.last_day,
                credits_used=used,
                cumulative_used=cumulative,
                credits_remaining=max(0, plan.amount - cumulative),
                overage=overage(cumulative, plan.amount) - over_before,
            )
        )
    return rows


def trailing_days(now: datetime) -> list[str]:
    """The trailing 30 UTC days, today included."""
    today = now.date()
    return [(today - timedelta(days=offset)).isoformat() for offset in range(FORECAST_WINDOW_DAYS)]


def trailing_credits(counters: PlanCounters, now: datetime) -> int:
    """mauc: the credits first used in the trailing 30 days (what the forecast's rate is of)."""
    return sum(counters.days[d].credits_used for d in trailing_days(now) if d in counters.days)


def forecast_exhausted_on(plan: Plan, consumed: int, recent_consumption: int, now: datetime) -> date | None:
    """SPEC §2: at the trailing 30 days' rate, the day the amount runs out; None if not before end."""
    remaining = plan.amount - consumed
    if remaining <= 0:
        return now.date()
    if recent_consumption <= 0:
        return None
    rate_per_day = recent_consumption / FORECAST_WINDOW_DAYS
    days = math.ceil(remaining / rate_per_day)
    if days > (plan.end - now).days + 1:
        return None  # not before the plan's end (and no date past 9999 is computed)
    exhausted = now.date() + timedelta(days=days)
    return exhausted if datetime.combine(exhausted, time(), UTC) < plan.end else None


def consumed_at(plan: Plan, counters: PlanCounters, at: datetime, now: datetime) -> int:
    """SPEC §2 and §6: seats in use at ``at``; mau: the active users of the plan month that
    contains it; mauc: the credits used from the plan's start up to it (day precision before today)."""
    if plan.type is PlanType.SEATS:
        if at >= now or at.date() >= now.date():
            return counters.seats_in_use
        return sum(t.seats_net for day, t in counters.days.items() if day <= at.date().isoformat())
    if plan.type is PlanType.MAU:
        return counters.months.get(reference_month(plan, at), MonthCounts()).active_users
    if at >= now or at.date() >= now.date():
        return sum(counts.active_users for counts in counters.months.values())
    return sum(t.credits_used for day, t in counters.days.items() if day <= at.date().isoformat())


def is_over_amount(plan: Plan, counters: PlanCounters, now: datetime) -> bool:
    return is_over(consumed_at(plan, counters, now, now), plan.amount)


@dataclass(frozen=True)
class WindowFigures:
    """SPEC §6: a plan's highest consumption in a window, and the mean of its monthly consumption
    over the window's plan months."""

    peak: int
    monthly_average: float


def window_figures(plan: Plan, counters: PlanCounters, first: date, last: date, now: datetime) -> WindowFigures:
    """Seats: the highest seats in use on a day of the window, and per plan month the highest of
    its days in the window. mau: the active users of each plan month the window touches; mauc: the
    credits each such month used (month figures are whole months). Days and months to come count
    nothing."""
    last = min(last, now.date())
    if plan.type is PlanType.SEATS:
        days = seat_days(plan, counters, first, last)
        by_month: dict[str, int] = {}
        for day in days:
            key = day.date.strftime("%Y-%m")
            by_month[key] = max(by_month.get(key, 0), day.max)
        monthly = list(by_month.values())
        peak = max((day.max for day in days), default=0)
    else:
        touched = [m for m in plan_months(plan.start, plan.end) if m.first_day <= last and first <= m.last_day]
        monthly = [counters.months.get(m.month, MonthCounts()).active_users for m in touched]
        peak = max(monthly, default=0)
    average = round(sum(monthly) / len(monthly), 1) if monthly else 0.0
    return WindowFigures(peak=peak, monthly_average=average)


def _begun_seat_days(plan: Plan, counters: PlanCounters, now: datetime) -> list[SeatDay]:
    return seat_days(plan, counters, plan.start.date(), min(now.date(), _plan_last_day(plan)))


def plan_figures(plan: Plan, counters: PlanCounters, at: datetime, now: datetime) -> PlanFigures:
    consumed = consumed_at(plan, counters, at, now)
    return PlanFigures(
        amount=plan.amount,
        consumed=consumed,
        available=max(0, plan.amount - consumed),
        utilization_pct=utilization_pct(consumed, plan.amount),
        overage=overage(consumed, plan.amount),
    )


def plan_usage(plan: Plan, counters: PlanCounters, now: datetime) -> Usage:
    """The plan-level figures and month rows of SPEC §2 and §5."""
    window = trailing_days(now)
    months: list[MonthRow]
    forecast: date | None = None
    settled = True
    figures = plan_figures(plan, counters, now, now)
    if plan.type is PlanType.SEATS:
        recent = sum(counters.days[d].seats_net for d in window if d in counters.days)
        days = _begun_seat_days(plan, counters, now)
        months = list(seats_month_rows(plan, counters, now, days))
        forecast = forecast_exhausted_on(plan, figures.consumed, recent, now)
        settled = all(day.settled for day in days)
    elif plan.type is PlanType.MAU:
        months = list(mau_month_rows(plan, counters))
    else:
        months = list(mauc_month_rows(plan, counters))
        forecast = forecast_exhausted_on(plan, figures.consumed, trailing_credits(counters, now), now)
    return Usage(**asdict(figures), forecast_exhausted_on=forecast, months=months, settled=settled)
