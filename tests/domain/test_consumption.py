"""SPEC §2 consumption: seats, MAU and MAUC figures per plan and per plan month, utilization and
forecast. Plans and counters are built by hand; nothing is stored or read."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pytest

from license_usage.domain.consumption import (
    DayCounts,
    MaucMonthRow,
    MauMonthRow,
    MonthCounts,
    MonthRow,
    PlanCounters,
    SeatsMonthRow,
    SeatSwing,
    forecast_exhausted_on,
    mau_month_rows,
    mauc_month_rows,
    plan_usage,
    seat_days,
    seats_month_rows,
    utilization_pct,
)
from license_usage.domain.plans import Plan, PlanType, plan_months

START = datetime(2025, 3, 15, tzinfo=UTC)
END = datetime(2026, 3, 15, tzinfo=UTC)
AFTER_LAST_MONTH_BEGAN = datetime(2026, 3, 10, 12, tzinfo=UTC)
MONTHS = plan_months(START, END)
PLAN_MONTHS = [m.month for m in MONTHS]

RowT = TypeVar("RowT", SeatsMonthRow, MauMonthRow, MaucMonthRow)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def make_plan(plan_type: PlanType, amount: int, overdraft: int = 0) -> Plan:
    return Plan(
        plan_id="p-1",
        org_id="org-1",
        type=plan_type,
        product="learn",
        amount=amount,
        start=START,
        end=END,
        overdraft=overdraft,
    )


def active(**by_month: int) -> dict[str, MonthCounts]:
    """Month counters from keyword names like m2025_03=120."""
    return {key[1:].replace("_", "-"): MonthCounts(active_users=value) for key, value in by_month.items()}


def credits_per_day(first: date, days: int, per_day: int) -> dict[str, DayCounts]:
    return {(first + timedelta(days=i)).isoformat(): DayCounts(credits_used=per_day) for i in range(days)}


def pick(rows: Sequence[MonthRow], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(asdict(row)[k] for k in keys) for row in rows]


def rows_of(kind: type[RowT], rows: Sequence[MonthRow]) -> list[RowT]:
    """The rows, checked to be all of one kind (``Usage.months`` holds the plan type's rows)."""
    assert all(isinstance(row, kind) for row in rows)
    return [row for row in rows if isinstance(row, kind)]


def seats_row(
    index: int, taken: int, released: int, end: int, peak: int, seat_limit: int, hard_limit: int
) -> SeatsMonthRow:
    month = MONTHS[index]
    return SeatsMonthRow(
        month=month.month,
        month_start=month.first_day,
        month_end=month.last_day,
        seats_taken=taken,
        seats_released=released,
        seats_in_use_end=end,
        peak_seats_in_use=peak,
        seat_limit=seat_limit,
        hard_limit=hard_limit,
        overage=max(0, peak - seat_limit),
    )


# ---------------------------------------------------------------------------------------------
# utilization_pct: consumed / amount × 100, one decimal.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("consumed", "amount", "pct"),
    [
        pytest.param(1, 3, 33.3, id="one-third"),
        pytest.param(2, 3, 66.7, id="two-thirds-rounds-up"),
        pytest.param(1, 6, 16.7, id="one-sixth"),
        pytest.param(1, 7, 14.3, id="one-seventh"),
        pytest.param(0, 5, 0.0, id="nothing-used"),
        pytest.param(5, 5, 100.0, id="exactly-full"),
        pytest.param(150, 100, 150.0, id="over-amount"),
        pytest.param(999, 1000, 99.9, id="just-under-full"),
        pytest.param(1, 1000, 0.1, id="one-in-a-thousand"),
        pytest.param(4, 3, 133.3, id="four-thirds"),
    ],
)
def test_utilization_pct_has_one_decimal(consumed: int, amount: int, pct: float) -> None:
    assert utilization_pct(consumed, amount) == pct


# ---------------------------------------------------------------------------------------------
# MAU: amount users per plan month; the count resets each month; plan figures are this month's.
# ---------------------------------------------------------------------------------------------


def test_mau_rows_count_each_month_separately_with_overage_above_amount() -> None:
    counters = PlanCounters(months=active(m2025_03=120, m2025_04=80, m2025_05=130))
    rows = mau_month_rows(make_plan(PlanType.MAU, 100), counters)
    assert rows[:3] == [
        MauMonthRow(month="2025-03", month_start=date(2025, 3, 15), month_end=date(2025, 3, 31),
                    active_users=120, allowance=100, overage=20),
        MauMonthRow(month="2025-04", month_start=date(2025, 4, 1), month_end=date(2025, 4, 30),
                    active_users=80, allowance=100, overage=0),
        MauMonthRow(month="2025-05", month_start=date(2025, 5, 1), month_end=date(2025, 5, 31),
                    active_users=130, allowance=100, overage=30),
    ]  # fmt: skip
    assert rows[3:] == [MauMonthRow(m.month, m.first_day, m.last_day, 0, 100, 0) for m in MONTHS[3:]]


def test_mau_count_resets_each_month_an_untouched_month_shows_zero() -> None:
    counters = PlanCounters(months=active(m2025_03=500))
    rows = mau_month_rows(make_plan(PlanType.MAU, 100), counters)
    assert pick(rows[:2], "month", "active_users", "overage") == [("2025-03", 500, 400), ("2025-04", 0, 0)]
    usage = plan_usage(make_plan(PlanType.MAU, 100), counters, utc(2025, 4, 2))
    assert (usage.consumed, usage.available, usage.overage) == (0, 100, 0)


@pytest.mark.parametrize(
    ("this_month", "consumed", "available", "overage", "pct"),
    [
        pytest.param(None, 0, 100, 0, 0.0, id="no-logins-this-month"),
        pytest.param(80, 80, 20, 0, 80.0, id="under-amount"),
        pytest.param(100, 100, 0, 0, 100.0, id="exactly-amount"),
        pytest.param(130, 130, 0, 30, 130.0, id="over-amount"),
        pytest.param(1, 1, 99, 0, 1.0, id="one-user"),
    ],
)
def test_mau_plan_figures_are_the_current_plan_months(
    this_month: int | None, consumed: int, available: int, overage: int, pct: float
) -> None:
    months = {"2025-03": MonthCounts(active_users=900), "2025-04": MonthCounts(active_users=700)}
    if this_month is not None:
        months["2025-05"] = MonthCounts(active_users=this_month)
    usage = plan_usage(make_plan(PlanType.MAU, 100), PlanCounters(months=months), utc(2025, 5, 20))
    assert (usage.amount, usage.consumed, usage.available, usage.overage) == (100, consumed, available, overage)
    assert usage.utilization_pct == pct
    assert usage.forecast_exhausted_on is None
    assert usage.settled
    rows = rows_of(MauMonthRow, usage.months)
    assert [row.month for row in rows] == PLAN_MONTHS
    assert [row.active_users for row in rows[:3]] == [900, 700, this_month or 0]


def test_mau_has_no_forecast_even_when_consuming_fast() -> None:
    days = {d: DayCounts(credits_used=50, seats_taken=50) for d in credits_per_day(date(2025, 5, 1), 20, 1)}
    counters = PlanCounters(seats_in_use=90, months=active(m2025_05=99), days=days)
    assert plan_usage(make_plan(PlanType.MAU, 100), counters, utc(2025, 5, 20)).forecast_exhausted_on is None


def test_mau_and_mauc_rows_cover_every_plan_month_months_without_logins_are_zero() -> None:
    counters = PlanCounters(months=active(m2025_03=4, m2025_04=2))
    mau = mau_month_rows(make_plan(PlanType.MAU, 10), counters)
    assert [row.month for row in mau] == PLAN_MONTHS
    assert pick(mau, "active_users", "overage") == [(4, 0), (2, 0)] + [(0, 0)] * 11
    mauc = mauc_month_rows(make_plan(PlanType.MAUC, 10), counters)
    assert [row.month for row in mauc] == PLAN_MONTHS
    # Months without logins use no credits and carry the cumulative figures forward.
    expected = [(4, 4, 6, 0), (2, 6, 4, 0)] + [(0, 6, 4, 0)] * 11
    assert pick(mauc, "credits_used", "cumulative_used", "credits_remaining", "overage") == expected


@pytest.mark.parametrize(
    ("now", "begun"),
    [
        pytest.param(START - timedelta(days=1), 0, id="before-plan-start-all-zero"),
        pytest.param(START, 1, id="at-start-first-month-only"),
        pytest.param(utc(2025, 3, 31, 23, 59), 1, id="end-of-first-month"),
        pytest.param(utc(2025, 4, 1), 2, id="second-month-begins"),
        pytest.param(AFTER_LAST_MONTH_BEGAN, 13, id="last-month"),
        pytest.param(END + timedelta(days=40), 13, id="after-plan-end-no-extra-rows"),
    ],
)
def test_seats_rows_cover_every_plan_month_months_not_begun_are_zero(now: datetime, begun: int) -> None:
    counters = PlanCounters(seats_in_use=3, days={START.date().isoformat(): DayCounts(seats_taken=3)})
    rows = seats_month_rows(make_plan(PlanType.SEATS, 10), counters, now)
    assert [row.month for row in rows] == PLAN_MONTHS
    assert pick(rows[:begun], "seats_in_use_end", "peak_seats_in_use") == [(3, 3)] * begun
    assert pick(rows[begun:], "seats_taken", "seats_released", "seats_in_use_end", "peak_seats_in_use", "overage") == [
        (0, 0, 0, 0, 0)
    ] * (13 - begun)
    assert all((row.seat_limit, row.hard_limit) == (10, 10) for row in rows)


# ---------------------------------------------------------------------------------------------
# MAUC: amount credits for the whole plan; one credit per user per month; credits roll over.
# ---------------------------------------------------------------------------------------------


def test_mauc_credits_roll_over_and_expire_at_plan_end() -> None:
    plan = make_plan(PlanType.MAUC, 12)
    # 2 credits in March leave 10, which April may use although 9 > 12 / 13 months.
    counters = PlanCounters(months=active(m2025_03=2, m2025_04=9))
    rows = mauc_month_rows(plan, counters)
    assert pick(rows[:2], "month", "credits_used", "cumulative_used", "credits_remaining", "overage") == [
        ("2025-03", 2, 2, 10, 0),
        ("2025-04", 9, 11, 1, 0),
    ]
    # After the plan ends there are no further months in which leftover credits could be used,
    # and the renewal starts with its own amount, not the leftover.
    after_end = plan_usage(plan, counters, END + timedelta(days=1))
    last_months = rows_of(MaucMonthRow, after_end.months)
    assert [row.month for row in last_months] == PLAN_MONTHS
    assert last_months[-1].month_end == date(2026, 3, 14)
    assert last_months[-1].cumulative_used == 11
    renewal = Plan("p-2", "org-1", PlanType.MAUC, "learn", 12, END, END + (END - START))
    renewed = plan_usage(renewal, PlanCounters(), END + timedelta(days=1))
    assert (renewed.consumed, renewed.available, renewed.overage) == (0, 12, 0)


def test_mauc_rows_and_plan_figures_when_credits_run_out() -> None:
    plan = make_plan(PlanType.MAUC, 10)
    counters = PlanCounters(months=active(m2025_03=4, m2025_04=5, m2025_05=3, m2025_06=2))
    usage = plan_usage(plan, counters, utc(2025, 6, 20))
    assert usage.months[:4] == [
        MaucMonthRow(month="2025-03", month_start=date(2025, 3, 15), month_end=date(2025, 3, 31),
                     credits_used=4, cumulative_used=4, credits_remaining=6, overage=0),
        MaucMonthRow(month="2025-04", month_start=date(2025, 4, 1), month_end=date(2025, 4, 30),
                     credits_used=5, cumulative_used=9, credits_remaining=1, overage=0),
        MaucMonthRow(month="2025-05", month_start=date(2025, 5, 1), month_end=date(2025, 5, 31),
                     credits_used=3, cumulative_used=12, credits_remaining=0, overage=2),
        MaucMonthRow(month="2025-06", month_start=date(2025, 6, 1), month_end=date(2025, 6, 30),
                     credits_used=2, cumulative_used=14, credits_remaining=0, overage=2),
    ]  # fmt: skip
    # The months not begun yet use no credits and carry the cumulative figures forward.
    assert usage.months[4:] == [MaucMonthRow(m.month, m.first_day, m.last_day, 0, 14, 0, 0) for m in MONTHS[4:]]
    assert (usage.amount, usage.consumed, usage.available, usage.overage) == (10, 14, 0, 4)
    assert usage.utilization_pct == 140.0


@pytest.mark.parametrize(
    ("amount", "used", "overages"),
    [
        pytest.param(10, [6, 7], [0, 3], id="runs-out-in-second-month-shows-only-excess"),
        pytest.param(10, [6, 4, 1], [0, 0, 1], id="exactly-exhausted-then-one-over"),
        pytest.param(10, [12, 3], [2, 3], id="over-in-first-month"),
        pytest.param(10, [0, 0, 11], [0, 0, 1], id="all-rolled-over-to-third-month"),
        pytest.param(5, [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1], id="one-a-month"),
        pytest.param(100, [30, 30, 30], [0, 0, 0], id="never-runs-out"),
    ],
)
def test_mauc_month_in_which_credits_run_out_shows_only_the_excess(
    amount: int, used: list[int], overages: list[int]
) -> None:
    counters = PlanCounters(months={PLAN_MONTHS[i]: MonthCounts(active_users=n) for i, n in enumerate(used)})
    rows = mauc_month_rows(make_plan(PlanType.MAUC, amount), counters)
    assert [row.overage for row in rows[: len(used)]] == overages
    assert all(row.overage == 0 and row.credits_used == 0 for row in rows[len(used) :])


def _random_tables() -> list[Any]:
    tables = [
        pytest.param(1, [0] * 13, id="amount-1-unused"),
        pytest.param(1, [1] * 13, id="amount-1-every-month"),
        pytest.param(50, [10, 0, 0, 25, 14, 2, 0, 0, 0, 0, 0, 0, 9], id="sparse"),
        pytest.param(13, [1] * 13, id="exactly-used-up-in-last-month"),
    ]
    for seed in range(24):
        rng = random.Random(seed)
        amount = rng.randint(1, 60)
        used = [rng.choice([0, 0, rng.randint(0, 12), rng.randint(0, 30)]) for _ in range(13)]
        tables.append(pytest.param(amount, used, id=f"random-{seed}-amount-{amount}"))
    return tables


@pytest.mark.parametrize(("amount", "used"), _random_tables())
def test_mauc_months_overages_add_up_to_the_plans_overage(amount: int, used: list[int]) -> None:
    plan = make_plan(PlanType.MAUC, amount)
    counters = PlanCounters(
        months={month: MonthCounts(active_users=n) for month, n in zip(PLAN_MONTHS, used, strict=True)}
    )
    usage = plan_usage(plan, counters, AFTER_LAST_MONTH_BEGAN)
    total = sum(used)
    assert usage.consumed == total
    assert usage.available == max(0, amount - total)
    assert usage.overage == max(0, total - amount)
    rows = rows_of(MaucMonthRow, usage.months)
    assert sum(row.overage for row in rows) == usage.overage
    cumulative = 0
    for row, n in zip(rows, used, strict=True):
        remaining_at_start = max(0, amount - cumulative)
        cumulative += n
        assert row.credits_used == n
        assert row.cumulative_used == cumulative
        assert row.credits_remaining == max(0, amount - cumulative)
        assert row.overage == max(0, n - remaining_at_start)


# ---------------------------------------------------------------------------------------------
# Seats: consumed = seats in use now; hard limit = amount + overdraft. Seats per day come from the
# day tallies (taken, released); how far they moved within a day comes from the rollup's swing.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "in_use", "available", "pct", "overage"),
    [
        pytest.param(3, 1, 2, 33.3, 0, id="one-of-three"),
        pytest.param(3, 2, 1, 66.7, 0, id="two-of-three"),
        pytest.param(8, 5, 3, 62.5, 0, id="five-of-eight"),
        pytest.param(7, 0, 7, 0.0, 0, id="none-in-use"),
        pytest.param(10, 10, 0, 100.0, 0, id="full"),
        pytest.param(10, 12, 0, 120.0, 2, id="in-overdraft"),
    ],
)
def test_seats_consumed_is_seats_in_use(amount: int, in_use: int, available: int, pct: float, overage: int) -> None:
    counters = PlanCounters(seats_in_use=in_use, days={"2025-05-10": DayCounts(seats_taken=99)})
    usage = plan_usage(make_plan(PlanType.SEATS, amount, overdraft=2), counters, utc(2025, 5, 20))
    assert (usage.amount, usage.consumed, usage.available, usage.overage) == (amount, in_use, available, overage)
    assert usage.utilization_pct == pct


def test_seats_rows_accumulate_taken_minus_released_with_limits() -> None:
    counters = PlanCounters(
        seats_in_use=2,
        days={
            "2025-03-20": DayCounts(seats_taken=5),  # 5
            "2025-04-02": DayCounts(seats_taken=2),  # 7: April's peak
            "2025-04-10": DayCounts(seats_released=2),  # 5
            "2025-04-15": DayCounts(seats_taken=1),  # 6
            "2025-05-05": DayCounts(seats_released=4),  # 2: May's peak is its start, 6
        },
    )
    rows = seats_month_rows(make_plan(PlanType.SEATS, 5, overdraft=2), counters, utc(2025, 6, 3))
    assert rows[:4] == [
        SeatsMonthRow(month="2025-03", month_start=date(2025, 3, 15), month_end=date(2025, 3, 31), seats_taken=5,
                      seats_released=0, seats_in_use_end=5, peak_seats_in_use=5, seat_limit=5, hard_limit=7,
                      overage=0),
        SeatsMonthRow(month="2025-04", month_start=date(2025, 4, 1), month_end=date(2025, 4, 30), seats_taken=3,
                      seats_released=2, seats_in_use_end=6, peak_seats_in_use=7, seat_limit=5, hard_limit=7,
                      overage=2),
        SeatsMonthRow(month="2025-05", month_start=date(2025, 5, 1), month_end=date(2025, 5, 31), seats_taken=0,
                      seats_released=4, seats_in_use_end=2, peak_seats_in_use=6, seat_limit=5, hard_limit=7,
                      overage=1),
        SeatsMonthRow(month="2025-06", month_start=date(2025, 6, 1), month_end=date(2025, 6, 30), seats_taken=0,
                      seats_released=0, seats_in_use_end=2, peak_seats_in_use=2, seat_limit=5, hard_limit=7,
                      overage=0),
    ]  # fmt: skip
    assert rows[4:] == [seats_row(i, 0, 0, 0, 0, 5, 7) for i in range(4, 13)]  # not begun yet


@pytest.mark.parametrize(
    ("moves", "in_use_end"),
    [
        pytest.param([(4, 0), (0, 0), (1, 3)], [4, 4, 2], id="take-hold-release"),
        pytest.param([(2, 0), (2, 0), (2, 0)], [2, 4, 6], id="only-taken"),
        pytest.param([(3, 3), (5, 1), (0, 4)], [0, 4, 0], id="all-released"),
    ],
)
def test_seats_in_use_end_accumulates_taken_minus_released(moves: list[tuple[int, int]], in_use_end: list[int]) -> None:
    days = {}
    for month, (taken, released) in zip(MONTHS, moves, strict=False):
        # Taken on the month's first day, released five days later.
        days[month.first_day.isoformat()] = DayCounts(seats_taken=taken)
        days[(month.first_day + timedelta(days=5)).isoformat()] = DayCounts(seats_released=released)
    rows = seats_month_rows(make_plan(PlanType.SEATS, 10), PlanCounters(days=days), utc(2025, 5, 31))
    assert [row.seats_in_use_end for row in rows[:3]] == in_use_end
    assert pick(rows[:3], "seats_taken", "seats_released") == moves


@pytest.mark.parametrize(
    ("amount", "overdraft", "hard_limit"),
    [
        pytest.param(5, 0, 5, id="no-overdraft"),
        pytest.param(5, 2, 7, id="overdraft-2"),
        pytest.param(100, 25, 125, id="overdraft-25"),
    ],
)
def test_seats_rows_show_seat_limit_and_hard_limit(amount: int, overdraft: int, hard_limit: int) -> None:
    plan = make_plan(PlanType.SEATS, amount, overdraft=overdraft)
    assert plan.hard_limit == hard_limit
    rows = seats_month_rows(plan, PlanCounters(), utc(2025, 4, 1))
    assert pick(rows, "seat_limit", "hard_limit") == [(amount, hard_limit)] * 13


# Three seats taken on 2 April (settled by the rollup); on 10 April one seat is freed (2), four are
# taken (6) and three freed (3): the day starts and ends at 3 but peaks at 6.
SWING_DAY = "2025-04-10"
SWING_DAYS = {"2025-04-02": DayCounts(seats_taken=3), SWING_DAY: DayCounts(seats_taken=4, seats_released=4)}
APRIL_2_SWING = {"2025-04-02": SeatSwing(low=0, high=3, net=3)}
SWING_NOW = utc(2025, 4, 20, 12)


def test_seats_month_peak_comes_from_the_days_swing_above_its_start_and_end() -> None:
    plan = make_plan(PlanType.SEATS, 5, overdraft=2)
    swings = {**APRIL_2_SWING, SWING_DAY: SeatSwing(low=-1, high=3, net=0)}
    counters = PlanCounters(seats_in_use=3, days=SWING_DAYS, swings=swings)
    (day,) = seat_days(plan, counters, date(2025, 4, 10), date(2025, 4, 10))
    assert (day.min, day.max, day.end, day.settled) == (2, 6, 3, True)
    usage = plan_usage(plan, counters, SWING_NOW)
    assert usage.settled
    rows = rows_of(SeatsMonthRow, usage.months)
    assert rows[0] == seats_row(0, 0, 0, 0, 0, 5, 7)
    assert rows[1] == seats_row(1, 7, 4, 3, 6, 5, 7)
    assert rows[1].overage == 1  # only the swing shows the month went over the amount


@pytest.mark.parametrize(
    "swings",
    [
        pytest.param(APRIL_2_SWING, id="no-swing-yet"),
        pytest.param({**APRIL_2_SWING, SWING_DAY: SeatSwing(low=-1, high=3, net=1)}, id="swing-net-differs"),
    ],
)
def test_seats_day_with_changes_and_no_matching_swing_is_not_settled(swings: dict[str, SeatSwing]) -> None:
    plan = make_plan(PlanType.SEATS, 5, overdraft=2)
    counters = PlanCounters(seats_in_use=3, days=SWING_DAYS, swings=swings)
    days = seat_days(plan, counters, date(2025, 4, 2), date(2025, 4, 10))
    settled_day, swing_day = days[0], days[-1]
    assert (settled_day.min, settled_day.max, settled_day.settled) == (0, 3, True)
    # Until the rollup settles the day, its min and max only span its start and end.
    assert (swing_day.min, swing_day.max, swing_day.end, swing_day.settled) == (3, 3, 3, False)
    usage = plan_usage(plan, counters, SWING_NOW)
    assert not usage.settled
    assert rows_of(SeatsMonthRow, usage.months)[1] == seats_row(1, 7, 4, 3, 3, 5, 7)


def test_seats_day_changed_since_its_swing_ignores_the_stale_swing() -> None:
    plan = make_plan(PlanType.SEATS, 5, overdraft=2)
    # The day's rollup saw one commit's changes; a second commit since (its net unchanged) waits
    # for the next rollup, so the swing no longer tells how far seats moved.
    days = {**SWING_DAYS, SWING_DAY: DayCounts(seats_taken=4, seats_released=4, seat_changes=2)}
    swings = {**APRIL_2_SWING, SWING_DAY: SeatSwing(low=0, high=2, net=0, version=1)}
    counters = PlanCounters(seats_in_use=3, days=days, swings=swings)
    (day,) = seat_days(plan, counters, date(2025, 4, 10), date(2025, 4, 10))
    assert (day.min, day.max, day.settled) == (3, 3, False)
    usage = plan_usage(plan, counters, SWING_NOW)
    assert not usage.settled
    assert rows_of(SeatsMonthRow, usage.months)[1].peak_seats_in_use == 3
    # Once the rollup has run again the day is settled by its new swing.
    fresh = PlanCounters(seats_in_use=3, days=days, swings={**swings, SWING_DAY: SeatSwing(-1, 3, 0, version=2)})
    assert plan_usage(plan, fresh, SWING_NOW).settled


# ---------------------------------------------------------------------------------------------
# Forecast (mauc and seats): at the trailing 30 days' rate, the day the amount runs out, or None
# if not before end.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("consumed", "recent", "now", "expected"),
    [
        pytest.param(60, 30, utc(2025, 6, 10, 12), date(2025, 7, 20), id="one-a-day-40-left"),
        pytest.param(60, 45, utc(2025, 6, 10, 12), date(2025, 7, 7), id="part-day-rounds-up"),
        pytest.param(0, 300, utc(2025, 6, 10, 12), date(2025, 6, 20), id="ten-a-day-100-left"),
        pytest.param(71, 30, utc(2026, 2, 13, 8), date(2026, 3, 14), id="day-before-end"),
        pytest.param(70, 30, utc(2026, 2, 13, 8), None, id="on-end-day-is-not-before-end"),
        pytest.param(60, 3, utc(2025, 6, 10, 12), None, id="slow-rate-after-end"),
        pytest.param(60, 0, utc(2025, 6, 10, 12), None, id="no-recent-consumption"),
        pytest.param(100, 30, utc(2025, 6, 10, 12), date(2025, 6, 10), id="already-exhausted-today"),
    ],
)
def test_forecast_exhausted_on(consumed: int, recent: int, now: datetime, expected: date | None) -> None:
    plan = make_plan(PlanType.MAUC, 100)
    assert forecast_exhausted_on(plan, consumed, recent, now) == expected


def test_mauc_forecast_uses_the_trailing_30_days_of_credits() -> None:
    now = utc(2025, 6, 10, 12)
    days = credits_per_day(date(2025, 5, 12), 30, 1)  # 2025-05-12 … 2025-06-10: 1 credit a day
    days["2025-05-11"] = DayCounts(credits_used=500)  # 31 days ago: outside the window
    counters = PlanCounters(months=active(m2025_03=10, m2025_04=20, m2025_05=20, m2025_06=10), days=days)
    usage = plan_usage(make_plan(PlanType.MAUC, 100), counters, now)
    assert usage.consumed == 60
    assert usage.forecast_exhausted_on == date(2025, 7, 20)


def test_mauc_forecast_is_null_when_the_rate_would_exhaust_after_plan_end() -> None:
    now = utc(2025, 6, 10, 12)
    days = {"2025-06-01": DayCounts(credits_used=2), "2025-06-09": DayCounts(credits_used=1)}
    counters = PlanCounters(months=active(m2025_06=60), days=days)
    assert plan_usage(make_plan(PlanType.MAUC, 100), counters, now).forecast_exhausted_on is None


@pytest.mark.parametrize(
    ("in_use", "days", "expected"),
    [
        pytest.param(
            4,
            {"2025-06-01": DayCounts(seats_taken=8), "2025-06-05": DayCounts(seats_released=2)},
            date(2025, 7, 10),
            id="net-six-in-30-days",
        ),
        pytest.param(
            4,
            {"2025-06-01": DayCounts(seats_taken=8), "2025-05-01": DayCounts(seats_taken=300)},
            date(2025, 7, 3),
            id="older-days-ignored",
        ),
        pytest.param(4, {"2025-06-02": DayCounts(seats_taken=2, seats_released=5)}, None, id="net-release"),
        pytest.param(9, {"2025-06-02": DayCounts(seats_taken=0, seats_released=0)}, None, id="no-movement"),
    ],
)
def test_seats_forecast_uses_net_seats_taken_in_the_trailing_30_days(
    in_use: int, days: dict[str, DayCounts], expected: date | None
) -> None:
    counters = PlanCounters(seats_in_use=in_use, days=days)
    usage = plan_usage(make_plan(PlanType.SEATS, 10), counters, utc(2025, 6, 10, 12))
    assert usage.forecast_exhausted_on == expected


def test_seats_forecast_is_null_when_the_rate_would_exhaust_after_plan_end() -> None:
    counters = PlanCounters(seats_in_use=10, days={"2025-06-03": DayCounts(seats_taken=3)})
    assert plan_usage(make_plan(PlanType.SEATS, 100), counters, utc(2025, 6, 10)).forecast_exhausted_on is None
