"""SPEC §2 plans: annual terms, status, overlap, plan months; SPEC §4: the implied product."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from license_usage.domain.errors import Conflict, InvalidRequest
from license_usage.domain.plans import (
    Enforcement,
    Plan,
    PlanMonth,
    PlanOverlaps,
    PlanStatus,
    PlanType,
    ProductAmbiguous,
    check_no_overlap,
    check_plan_terms,
    implied_product,
    one_year_after,
    plan_months,
)

MICRO = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def plan(
    start: datetime,
    end: datetime | None = None,
    *,
    plan_id: str = "p-1",
    org_id: str = "org-1",
    plan_type: PlanType = PlanType.SEATS,
    product: str = "learn",
    amount: int = 10,
    grace_days: int = 0,
) -> Plan:
    return Plan(
        plan_id=plan_id,
        org_id=org_id,
        type=plan_type,
        product=product,
        amount=amount,
        start=start,
        end=end if end is not None else one_year_after(start),
        grace_days=grace_days,
    )


def months_of(plan_months_: list[PlanMonth]) -> list[str]:
    return [m.month for m in plan_months_]


# ---------------------------------------------------------------------------------------------
# Annual plans: end defaults to start + 1 year.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(utc(2025, 3, 15), utc(2026, 3, 15), id="mid-month"),
        pytest.param(utc(2025, 1, 1), utc(2026, 1, 1), id="new-year"),
        pytest.param(utc(2028, 2, 29), utc(2029, 2, 28), id="leap-day-to-feb-28"),
        pytest.param(utc(2027, 2, 28), utc(2028, 2, 28), id="feb-28-into-leap-year"),
        pytest.param(utc(2027, 3, 1), utc(2028, 3, 1), id="mar-1-across-leap-day"),
        pytest.param(utc(2025, 1, 31, 18), utc(2026, 1, 31, 18), id="mid-day-instant"),
        pytest.param(
            utc(2024, 12, 31, 23, 59, 59, 999_999), utc(2025, 12, 31, 23, 59, 59, 999_999), id="last-microsecond"
        ),
    ],
)
def test_one_year_after_is_the_same_instant_a_calendar_year_later(start: datetime, end: datetime) -> None:
    assert one_year_after(start) == end


# ---------------------------------------------------------------------------------------------
# Plan months: calendar months in UTC, clipped to [start, end).
# ---------------------------------------------------------------------------------------------


def test_plan_from_mid_march_has_13_plan_months() -> None:
    months = plan_months(utc(2025, 3, 15), utc(2026, 3, 15))
    assert months_of(months) == [
        "2025-03", "2025-04", "2025-05", "2025-06", "2025-07", "2025-08", "2025-09",
        "2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03",
    ]  # fmt: skip
    first, last = months[0], months[-1]
    assert (first.first_day, first.last_day) == (date(2025, 3, 15), date(2025, 3, 31))
    assert (first.starts_at, first.ends_at) == (utc(2025, 3, 15), utc(2025, 4, 1))
    assert (last.first_day, last.last_day) == (date(2026, 3, 1), date(2026, 3, 14))
    assert (last.starts_at, last.ends_at) == (utc(2026, 3, 1), utc(2026, 3, 15))


@pytest.mark.parametrize(
    ("start", "count", "first", "last"),
    [
        pytest.param(
            utc(2025, 3, 15),
            13,
            ("2025-03", date(2025, 3, 15), date(2025, 3, 31)),
            ("2026-03", date(2026, 3, 1), date(2026, 3, 14)),
            id="mid-march",
        ),
        pytest.param(
            utc(2025, 1, 1),
            12,
            ("2025-01", date(2025, 1, 1), date(2025, 1, 31)),
            ("2025-12", date(2025, 12, 1), date(2025, 12, 31)),
            id="first-of-january-12-whole-months",
        ),
        pytest.param(
            utc(2028, 2, 29),
            13,
            ("2028-02", date(2028, 2, 29), date(2028, 2, 29)),
            ("2029-02", date(2029, 2, 1), date(2029, 2, 27)),
            id="leap-day-start",
        ),
        pytest.param(
            utc(2025, 1, 31, 18),
            13,
            ("2025-01", date(2025, 1, 31), date(2025, 1, 31)),
            ("2026-01", date(2026, 1, 1), date(2026, 1, 31)),
            id="mid-day-on-jan-31",
        ),
        pytest.param(
            utc(2025, 12, 31, 23, 30),
            13,
            ("2025-12", date(2025, 12, 31), date(2025, 12, 31)),
            ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
            id="last-half-hour-of-year",
        ),
        pytest.param(
            datetime(2025, 2, 28, 20, 0, tzinfo=timezone(timedelta(hours=-8))),
            13,
            ("2025-03", date(2025, 3, 1), date(2025, 3, 31)),
            ("2026-03", date(2026, 3, 1), date(2026, 3, 1)),
            id="offset-start-is-march-1-0400-utc",
        ),
    ],
)
def test_plan_months_of_a_one_year_plan(
    start: datetime, count: int, first: tuple[str, date, date], last: tuple[str, date, date]
) -> None:
    months = plan_months(start, one_year_after(start))
    assert len(months) == count
    assert (months[0].month, months[0].first_day, months[0].last_day) == first
    assert (months[-1].month, months[-1].first_day, months[-1].last_day) == last


@pytest.mark.parametrize(
    "start",
    [
        pytest.param(utc(2025, 3, 15), id="mid-month"),
        pytest.param(utc(2028, 2, 29), id="leap-day"),
        pytest.param(utc(2025, 1, 31, 18), id="mid-day"),
        pytest.param(utc(2025, 1, 1), id="new-year"),
    ],
)
def test_plan_months_tile_the_plan_without_gaps(start: datetime) -> None:
    end = one_year_after(start)
    months = plan_months(start, end)
    assert months[0].starts_at == start
    assert months[-1].ends_at == end
    for before, after in itertools.pairwise(months):
        assert before.ends_at == after.starts_at
        assert after.starts_at.day == 1
        assert (after.starts_at.hour, after.starts_at.minute) == (0, 0)


def test_plan_starting_mid_day_keeps_the_instant_in_its_first_and_last_month() -> None:
    months = plan_months(utc(2025, 1, 31, 18), utc(2026, 1, 31, 18))
    assert months[0] == PlanMonth("2025-01", utc(2025, 1, 31, 18), utc(2025, 2, 1))
    assert months[1] == PlanMonth("2025-02", utc(2025, 2, 1), utc(2025, 3, 1))
    assert months[-1] == PlanMonth("2026-01", utc(2026, 1, 1), utc(2026, 1, 31, 18))


@pytest.mark.parametrize(
    ("year", "month", "last_day"),
    [
        pytest.param(2025, 2, 28, id="feb-28"),
        pytest.param(2024, 2, 29, id="feb-29-leap"),
        pytest.param(2100, 2, 28, id="feb-2100-not-leap"),
        pytest.param(2025, 4, 30, id="apr-30"),
        pytest.param(2025, 6, 30, id="jun-30"),
        pytest.param(2025, 9, 30, id="sep-30"),
        pytest.param(2025, 11, 30, id="nov-30"),
        pytest.param(2025, 1, 31, id="jan-31"),
        pytest.param(2025, 7, 31, id="jul-31"),
        pytest.param(2025, 8, 31, id="aug-31"),
        pytest.param(2025, 12, 31, id="dec-31"),
    ],
)
def test_whole_plan_month_ends_on_the_months_last_day(year: int, month: int, last_day: int) -> None:
    start = utc(year, month, 1)
    first = plan_months(start, one_year_after(start))[0]
    assert first.month == f"{year:04d}-{month:02d}"
    assert (first.first_day, first.last_day) == (date(year, month, 1), date(year, month, last_day))


def test_plan_months_of_a_calendar_year_have_the_calendar_month_lengths() -> None:
    months = plan_months(utc(2024, 1, 1), utc(2025, 1, 1))
    assert [m.last_day.day for m in months] == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


# ---------------------------------------------------------------------------------------------
# Status: future before start, current in [start, end), grace in [end, end + grace_days), past after.
# ---------------------------------------------------------------------------------------------

START = utc(2025, 3, 15)
END = utc(2026, 3, 15)


@pytest.mark.parametrize(
    ("grace_days", "now", "status"),
    [
        pytest.param(10, START - timedelta(days=30), PlanStatus.FUTURE, id="month-before-start"),
        pytest.param(10, START - MICRO, PlanStatus.FUTURE, id="just-before-start"),
        pytest.param(10, START, PlanStatus.CURRENT, id="at-start"),
        pytest.param(10, utc(2025, 9, 1), PlanStatus.CURRENT, id="mid-plan"),
        pytest.param(10, END - MICRO, PlanStatus.CURRENT, id="just-before-end"),
        pytest.param(10, END, PlanStatus.GRACE, id="at-end-end-exclusive"),
        pytest.param(10, END + timedelta(days=10) - MICRO, PlanStatus.GRACE, id="last-instant-of-grace"),
        pytest.param(10, END + timedelta(days=10), PlanStatus.PAST, id="grace-over"),
        pytest.param(0, END - MICRO, PlanStatus.CURRENT, id="no-grace-just-before-end"),
        pytest.param(0, END, PlanStatus.PAST, id="no-grace-at-end"),
        pytest.param(1, END + timedelta(hours=23), PlanStatus.GRACE, id="one-grace-day"),
        pytest.param(1, END + timedelta(days=1), PlanStatus.PAST, id="one-grace-day-over"),
    ],
)
def test_plan_status_at(grace_days: int, now: datetime, status: PlanStatus) -> None:
    assert plan(START, END, grace_days=grace_days).status_at(now) is status


@pytest.mark.parametrize(
    ("overdraft", "hard_limit"),
    [pytest.param(0, 10, id="no-overdraft"), pytest.param(3, 13, id="overdraft-3")],
)
def test_hard_limit_is_amount_plus_overdraft(overdraft: int, hard_limit: int) -> None:
    seats = Plan("p", "o", PlanType.SEATS, "learn", 10, START, END, overdraft=overdraft)
    assert seats.hard_limit == hard_limit


# ---------------------------------------------------------------------------------------------
# Plan terms: amount > 0, end after start and at most one year later, overdraft and grace ≥ 0.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "amount", "overdraft", "grace_days"),
    [
        pytest.param(START, END, 1, 0, 0, id="one-year-amount-1"),
        pytest.param(START, START + timedelta(days=30), 500, 20, 15, id="shorter-than-a-year"),
        pytest.param(START, START + MICRO, 1, 0, 0, id="one-microsecond-long"),
        pytest.param(utc(2028, 2, 29), utc(2029, 2, 28), 5, 0, 0, id="leap-day-to-feb-28"),
        pytest.param(utc(2025, 1, 31, 18), utc(2026, 1, 31, 18), 5, 0, 0, id="mid-day-one-year"),
    ],
)
def test_valid_plan_terms_are_accepted(
    start: datetime, end: datetime, amount: int, overdraft: int, grace_days: int
) -> None:
    check_plan_terms(PlanType.SEATS, start, end, amount, overdraft, grace_days)


@pytest.mark.parametrize(
    ("start", "end", "amount", "overdraft", "grace_days", "fields"),
    [
        pytest.param(START, END, 0, 0, 0, ["amount"], id="amount-zero"),
        pytest.param(START, END, -5, 0, 0, ["amount"], id="amount-negative"),
        pytest.param(START, START, 10, 0, 0, ["end"], id="end-equals-start"),
        pytest.param(START, START - timedelta(days=1), 10, 0, 0, ["end"], id="end-before-start"),
        pytest.param(START, END + MICRO, 10, 0, 0, ["end"], id="one-year-plus-1us"),
        pytest.param(START, END + timedelta(days=1), 10, 0, 0, ["end"], id="one-year-plus-a-day"),
        pytest.param(utc(2028, 2, 29), utc(2029, 3, 1), 10, 0, 0, ["end"], id="leap-day-to-mar-1"),
        pytest.param(START, END, 10, -1, 0, ["overdraft"], id="overdraft-negative"),
        pytest.param(START, END, 10, 0, -1, ["grace_days"], id="grace-negative"),
        pytest.param(START, START, 0, -1, -1, ["amount", "overdraft", "grace_days", "end"], id="everything-wrong"),
    ],
)
def test_invalid_plan_terms_are_rejected_naming_each_field(
    start: datetime, end: datetime, amount: int, overdraft: int, grace_days: int, fields: list[str]
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_plan_terms(PlanType.SEATS, start, end, amount, overdraft, grace_days)
    assert [d["field"] for d in caught.value.details] == fields


@pytest.mark.parametrize("plan_type", [PlanType.MAU, PlanType.MAUC])
def test_hard_enforcement_is_refused_for_mau_and_mauc_plans(plan_type: PlanType) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_plan_terms(plan_type, START, END, 10, 0, 0, Enforcement.HARD)
    assert [d["field"] for d in caught.value.details] == ["enforcement"]
    check_plan_terms(PlanType.SEATS, START, END, 10, 0, 0, Enforcement.HARD)


# ---------------------------------------------------------------------------------------------
# Plans of the same organization, product and type may not overlap.
# ---------------------------------------------------------------------------------------------

EXISTING = plan(utc(2025, 3, 15), utc(2026, 3, 15), plan_id="existing")


@pytest.mark.parametrize(
    "new",
    [
        pytest.param(plan(utc(2025, 3, 15), plan_id="new"), id="identical-term"),
        pytest.param(plan(utc(2025, 9, 1), plan_id="new"), id="starts-inside"),
        pytest.param(plan(utc(2024, 9, 1), plan_id="new"), id="ends-inside"),
        pytest.param(plan(utc(2025, 5, 1), utc(2025, 6, 1), plan_id="new"), id="contained"),
        pytest.param(plan(utc(2025, 1, 1), utc(2025, 3, 15) + MICRO, plan_id="new"), id="overlaps-by-1us-at-start"),
        pytest.param(plan(utc(2026, 3, 15) - MICRO, plan_id="new"), id="overlaps-by-1us-at-end"),
    ],
)
def test_overlapping_plan_of_same_org_product_and_type_is_refused(new: Plan) -> None:
    with pytest.raises(PlanOverlaps) as caught:
        check_no_overlap(new, [EXISTING])
    assert isinstance(caught.value, Conflict)
    assert caught.value.code == "plan_overlaps"


@pytest.mark.parametrize(
    "new",
    [
        pytest.param(plan(utc(2026, 3, 15), plan_id="new"), id="renewal-starts-at-end"),
        pytest.param(plan(utc(2024, 3, 15), utc(2025, 3, 15), plan_id="new"), id="predecessor-ends-at-start"),
        pytest.param(plan(utc(2026, 6, 1), plan_id="new"), id="later-with-gap"),
        pytest.param(plan(utc(2025, 3, 15), plan_id="new", plan_type=PlanType.MAU), id="different-type-mau"),
        pytest.param(plan(utc(2025, 3, 15), plan_id="new", plan_type=PlanType.MAUC), id="different-type-mauc"),
        pytest.param(plan(utc(2025, 3, 15), plan_id="new", product="observe"), id="different-product"),
        pytest.param(plan(utc(2025, 3, 15), plan_id="existing"), id="same-plan-is-not-its-own-conflict"),
    ],
)
def test_non_overlapping_or_different_kind_plans_do_not_conflict(new: Plan) -> None:
    check_no_overlap(new, [EXISTING])


def test_adjacent_plans_do_not_overlap_in_either_order() -> None:
    first = plan(utc(2025, 3, 15), plan_id="first")
    second = plan(first.end, plan_id="second")
    check_no_overlap(second, [first])
    check_no_overlap(first, [second])


def test_overlap_is_found_among_several_existing_plans() -> None:
    others = [
        plan(utc(2025, 3, 15), plan_id="mau", plan_type=PlanType.MAU),
        plan(utc(2025, 3, 15), plan_id="observe", product="observe"),
        plan(utc(2024, 3, 15), utc(2025, 3, 15), plan_id="last-year"),
        plan(utc(2025, 3, 15), plan_id="this-year"),
    ]
    with pytest.raises(PlanOverlaps, match="this-year"):
        check_no_overlap(plan(utc(2025, 12, 1), plan_id="new"), others)


def test_plans_of_different_organizations_never_conflict() -> None:
    check_no_overlap(plan(utc(2025, 3, 15), plan_id="new", org_id="org-2"), [EXISTING])


# ---------------------------------------------------------------------------------------------
# SPEC §4: product may be omitted when the organization has one current plan.
# ---------------------------------------------------------------------------------------------

AT = utc(2025, 9, 1)
LEARN_SEATS = plan(utc(2025, 3, 15), plan_id="learn-seats")
LEARN_MAU = plan(utc(2025, 1, 1), plan_id="learn-mau", plan_type=PlanType.MAU)
OBSERVE_SEATS = plan(utc(2025, 6, 1), plan_id="observe-seats", product="observe")
OBSERVE_PAST = plan(utc(2024, 1, 1), plan_id="observe-past", product="observe")
OBSERVE_FUTURE = plan(utc(2025, 10, 1), plan_id="observe-future", product="observe")
OBSERVE_IN_GRACE = plan(utc(2024, 8, 1), plan_id="observe-grace", product="observe", grace_days=60)


@pytest.mark.parametrize(
    ("plans", "product"),
    [
        pytest.param([LEARN_SEATS], "learn", id="one-current-plan"),
        pytest.param([], None, id="no-plans"),
        pytest.param([OBSERVE_PAST, OBSERVE_FUTURE], None, id="only-past-and-future"),
        pytest.param([LEARN_SEATS, LEARN_MAU], "learn", id="two-current-plans-one-product"),
        pytest.param([LEARN_SEATS, OBSERVE_PAST], "learn", id="other-product-past"),
        pytest.param([LEARN_SEATS, OBSERVE_FUTURE], "learn", id="other-product-future"),
        pytest.param([LEARN_SEATS, OBSERVE_IN_GRACE], "learn", id="other-product-in-grace-is-not-current"),
    ],
)
def test_implied_product_is_the_one_current_plans_product(plans: list[Plan], product: str | None) -> None:
    assert OBSERVE_IN_GRACE.status_at(AT) is PlanStatus.GRACE
    assert implied_product(plans, AT) == product


@pytest.mark.parametrize(
    "plans",
    [
        pytest.param([LEARN_SEATS, OBSERVE_SEATS], id="learn-and-observe"),
        pytest.param([LEARN_MAU, OBSERVE_SEATS, LEARN_SEATS], id="three-plans-two-products"),
    ],
)
def test_implied_product_is_ambiguous_with_current_plans_for_several_products(plans: list[Plan]) -> None:
    with pytest.raises(ProductAmbiguous, match="learn, observe") as caught:
        implied_product(plans, AT)
    assert isinstance(caught.value, InvalidRequest)


@pytest.mark.parametrize(
    ("at", "product"),
    [
        pytest.param(LEARN_SEATS.start - MICRO, None, id="just-before-start"),
        pytest.param(LEARN_SEATS.start, "learn", id="at-start"),
        pytest.param(LEARN_SEATS.end - MICRO, "learn", id="just-before-end"),
        pytest.param(LEARN_SEATS.end, None, id="at-end"),
    ],
)
def test_implied_product_uses_the_plan_term_end_exclusive(at: datetime, product: str | None) -> None:
    assert implied_product([LEARN_SEATS], at) == product
