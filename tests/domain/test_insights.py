"""SPEC §11 insights, §5 unit_price/currency and §7 insights.digest: the six rules at their edges,
money in Decimal, stable ids, the digest and the vendor's ranking. Plans and figures are built by
hand; nothing is stored or read."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from license_usage.domain.consumption import DayCounts, MonthCounts, PlanCounters
from license_usage.domain.insights import (
    MAX_DIGEST_ITEMS,
    AdoptionInput,
    CreditsInput,
    CreditsOverYear,
    CreditsRunOutEvidence,
    DenialsInput,
    InactiveAssignments,
    Insight,
    InsightFigures,
    InsightKind,
    MauInput,
    MauOverAllowanceEvidence,
    MonthlyActives,
    Opportunity,
    OpportunityKind,
    OverdraftInput,
    RenewalAtRisk,
    RenewalInput,
    RenewalRiskInput,
    RenewalSizingEvidence,
    SeatsPeak,
    SeatsReclaimableEvidence,
    SeatsReclaimableInput,
    Severity,
    ai_low_adoption,
    credits_run_out,
    days_left,
    denials_input,
    digest_ids_kept,
    digest_items,
    digest_notice,
    hard_limit_denials,
    inactive_assignments,
    insight_json,
    insight_opportunity,
    mau_over_allowance,
    median,
    nearest_rank_percentile,
    order_insights,
    org_insights,
    over_days,
    overdraft_opportunity,
    plan_year_days,
    rank_opportunities,
    rank_renewals_at_risk,
    recent_denials,
    renewal_at_risk,
    renewal_days,
    renewal_figures,
    renewal_sizing,
    seats_reclaimable,
    standing_consumption,
    to_json_value,
    vendor_entries,
)
from license_usage.domain.money import Money, UnitPrice, minor_units, parse_currency, parse_unit_price, unit_price_of
from license_usage.domain.notifications import digest_due
from license_usage.domain.plan_user import Mark, MarkKind, PlanUser
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.domain.rollups import (
    UNASSIGNED_GROUP,
    DayDenials,
    DayEvent,
    GroupConsumption,
    SeatFigures,
    day_figures,
)
from license_usage.domain.timestamps import format_utc

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2027, 1, 1, tzinfo=UTC)
LEAP_PLAN_START = datetime(2027, 3, 1, tzinfo=UTC)
LEAP_PLAN_END = datetime(2028, 2, 29, tzinfo=UTC)  # ends on a leap day, shorter than its year
EUR_365 = UnitPrice.parse("365.00", "EUR")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def make_plan(
    plan_type: PlanType,
    amount: int,
    start: datetime = YEAR_START,
    end: datetime = YEAR_END,
    overdraft: int = 0,
    enforcement: Enforcement = Enforcement.SOFT,
    plan_id: str = "p-1",
    org_id: str = "org-1",
) -> Plan:
    return Plan(
        plan_id=plan_id,
        org_id=org_id,
        type=plan_type,
        product="learn",
        amount=amount,
        start=start,
        end=end,
        overdraft=overdraft,
        enforcement=enforcement,
    )


def assert_no_float(value: Any) -> None:
    assert not isinstance(value, float), value
    if isinstance(value, dict):
        for item in value.values():
            assert_no_float(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_float(item)


def reject_float(text: str) -> Any:
    raise AssertionError(f"a float in the JSON: {text}")


def as_json(item: Insight) -> dict[str, Any]:
    """The item through JSON text and back, failing on any float."""
    value = insight_json(item)
    assert_no_float(value)
    loaded: dict[str, Any] = json.loads(json.dumps(value), parse_float=reject_float)
    return loaded


# ---------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", "0"),
        ("12", "12"),
        ("12.5", "12.5"),
        ("12.50", "12.50"),
        ("1234.5678", "1234.5678"),
        ("0.0001", "0.0001"),
        ("999999999999.9999", "999999999999.9999"),
    ],
)
def test_unit_price_is_a_decimal_string_of_zero_or_more(text: str, expected: str) -> None:
    parsed = parse_unit_price(text)
    assert type(parsed) is Decimal
    assert str(parsed) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-1",
        "+1",
        "-0",
        "1e3",
        "1E3",
        "NaN",
        "nan",
        "Infinity",
        "inf",
        "1.23456",  # five decimals
        " 1",
        "1 ",
        "01",
        ".5",
        "5.",
        "1,5",
        "1_000",
        "0x10",
        "1000000000000",  # thirteen integer digits
        "٣",  # an Arabic-Indic digit (Decimal would take it)
    ],
)
def test_unit_price_refuses_signs_exponents_nan_and_too_many_decimals(text: str) -> None:
    with pytest.raises(ValueError, match="decimal string"):
        parse_unit_price(text)


def test_unit_price_refuses_a_float() -> None:
    with pytest.raises(ValueError, match="decimal string"):
        parse_unit_price(12.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["EUR", "USD", "JPY", "KWD"])
def test_currency_is_three_uppercase_letters(code: str) -> None:
    assert parse_currency(code) == code


@pytest.mark.parametrize("code", ["eur", "Eur", "EU", "EURO", "E1R", "", " EUR", "EUR ", "€", "ÉUR"])
def test_currency_refuses_anything_else(code: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        parse_currency(code)


@pytest.mark.parametrize(
    ("currency", "places"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CHF", 2)]
)
def test_money_is_rounded_to_its_currency_minor_unit(currency: str, places: int) -> None:
    assert minor_units(currency) == places
    money = Money.of(Fraction(1, 3), currency)
    assert money.amount.as_tuple().exponent == -places


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Fraction(1, 8), "EUR", "0.13"),  # a half rounds up
        (Fraction(1, 200), "EUR", "0.01"),
        (Fraction(1, 201), "EUR", "0.00"),
        (Decimal("3"), "EUR", "3.00"),
        (Decimal("1234.5"), "JPY", "1235"),
        (Decimal("1234.4999"), "JPY", "1234"),
        (Decimal("1.0005"), "KWD", "1.001"),
        (Fraction(-1, 8), "EUR", "-0.13"),  # halves away from zero
        (0, "EUR", "0.00"),
    ],
)
def test_money_rounds_half_up_exactly(amount: Fraction | Decimal | int, currency: str, expected: str) -> None:
    money = Money.of(amount, currency)
    assert type(money.amount) is Decimal
    assert str(money.amount) == expected
    assert money.currency == currency


@pytest.mark.parametrize(
    ("price", "units", "expected"),
    [
        ("1.005", 1, "1.01"),  # a float 1.005 is 1.00499…: it would round to 1.00
        ("2.675", 1, "2.68"),  # likewise 2.67 with a float
        ("0.1", 3, "0.30"),
        ("0.0001", 49, "0.00"),
        ("0.0001", 50, "0.01"),
        ("19.99", Fraction(10, 3), "66.63"),
    ],
)
def test_unit_price_times_units_is_exact_decimal(price: str, units: int | Fraction, expected: str) -> None:
    money = UnitPrice.parse(price, "EUR").times(units)
    assert money == Money(Decimal(expected), "EUR")
    assert type(money.amount) is Decimal


@pytest.mark.parametrize("amount", [1.5, Decimal("NaN"), Decimal("Infinity"), 2])
def test_money_takes_only_a_finite_decimal(amount: Any) -> None:
    with pytest.raises(TypeError):
        Money(amount, "EUR")


@pytest.mark.parametrize(
    ("unit_price", "currency", "expected"),
    [
        ("12.50", "EUR", UnitPrice(Decimal("12.50"), "EUR")),
        (None, "EUR", None),
        ("12.50", None, None),
        (None, None, None),
    ],
)
def test_a_plan_has_a_price_only_with_both_fields(
    unit_price: str | None, currency: str | None, expected: UnitPrice | None
) -> None:
    assert unit_price_of(unit_price, currency) == expected


@pytest.mark.parametrize(
    ("start", "end", "year_days", "renewal"),
    [
        (YEAR_START, YEAR_END, 365, 365),
        (LEAP_PLAN_START, LEAP_PLAN_END, 366, 365),  # its year holds 2028-02-29; the renewal's does not
        (utc(2028, 2, 29), utc(2029, 2, 28), 365, 365),  # a leap-day start: a year later is 28 February
        (utc(2027, 3, 1), utc(2028, 3, 1), 366, 365),
        (utc(2026, 3, 1), utc(2027, 3, 1), 365, 366),  # its renewal, 2027-03-01 to 2028-03-01, holds 2028-02-29
    ],
)
def test_plan_year_and_renewal_lengths_count_leap_days(
    start: datetime, end: datetime, year_days: int, renewal: int
) -> None:
    plan = make_plan(PlanType.SEATS, 10, start, end)
    assert plan_year_days(plan) == year_days
    assert renewal_days(plan) == renewal


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 12, 2), 30),
        (utc(2026, 12, 31, 23, 59), 1),  # a part of a day counts as a day
        (utc(2026, 12, 1, 12), 31),
        (YEAR_END, 0),
        (YEAR_END + timedelta(days=3), 0),
    ],
)
def test_days_left_counts_a_part_of_a_day(now: datetime, expected: int) -> None:
    assert days_left(make_plan(PlanType.SEATS, 10), now) == expected


# ---------------------------------------------------------------------- seats.reclaimable

NOW = utc(2026, 12, 2)


def holder(user_id: str, last_login: datetime | None, released: bool = False) -> PlanUser:
    first = format_utc(utc(2026, 1, 5)) + "#first"
    marks = [Mark(first, MarkKind.CLAIM if last_login is None else MarkKind.LOGIN)]
    if released:
        marks.append(Mark(format_utc(utc(2026, 11, 1)) + "#rel", MarkKind.RELEASE))
    return PlanUser(
        plan_id="p-1",
        user_id=user_id,
        marks=tuple(marks),
        last_login=None if last_login is None else format_utc(last_login) + "#evt-1",
    )


@pytest.mark.parametrize(
    ("since_last_login", "idle"),
    [
        (timedelta(days=30), False),  # a login exactly 30 days ago is in the last 30 days
        (timedelta(days=30, microseconds=1), True),
        (timedelta(days=29, hours=23), False),
        (timedelta(days=31), True),
        (timedelta(0), False),
        (None, True),  # a claimed seat whose user never logged in
    ],
)
def test_an_assignment_is_inactive_after_exactly_30_days_without_login(
    since_last_login: timedelta | None, idle: bool
) -> None:
    now = utc(2026, 6, 15, 12)
    last = None if since_last_login is None else now - since_last_login
    found = inactive_assignments([holder("ana", last)], now)
    assert found == (InactiveAssignments(1, ("ana",)) if idle else InactiveAssignments(0, ()))


def test_a_released_seat_is_no_inactive_assignment() -> None:
    now = utc(2026, 12, 2)
    found = inactive_assignments([holder("gone", utc(2026, 1, 5), released=True), holder("kept", utc(2026, 1, 5))], now)
    assert found == InactiveAssignments(1, ("kept",))


def test_inactive_assignments_list_the_first_100_ids_sorted_and_count_all() -> None:
    users = [holder(f"u{n:03d}", None) for n in range(150)]
    random.Random(7).shuffle(users)
    found = inactive_assignments(users, NOW)
    assert found.count == 150
    assert found.user_ids == tuple(f"u{n:03d}" for n in range(100))


def reclaimable(
    idle: int = 3,
    seats_in_use: int = 10,
    amount: int = 20,
    price: UnitPrice | None = EUR_365,
    plan: Plan | None = None,
    ids: tuple[str, ...] | None = None,
) -> SeatsReclaimableInput:
    return SeatsReclaimableInput(
        plan=plan or make_plan(PlanType.SEATS, amount),
        seats_in_use=seats_in_use,
        inactive=InactiveAssignments(idle, ids if ids is not None else tuple(f"user-{n}" for n in range(idle))),
        unit_price=price,
    )


@pytest.mark.parametrize(
    ("now", "price", "idle", "tied_up"),
    [
        (utc(2026, 12, 2), "365.00", 3, "90.00"),  # 365 × 3 × 30 ÷ 365
        (utc(2026, 12, 31, 23), "365.00", 3, "3.00"),  # the last hour is a day
        (utc(2026, 1, 1), "100.00", 1, "100.00"),  # the whole year
        (utc(2026, 7, 2), "120.00", 1, "60.16"),  # 120 × 183 ÷ 365 = 60.164…
        (utc(2026, 12, 2), "0", 3, "0.00"),
        (utc(2026, 12, 2), "0.0001", 3, "0.00"),
    ],
)
def test_reclaimable_seats_tie_up_unit_price_times_seats_times_days_left_over_the_plan_year(
    now: datetime, price: str, idle: int, tied_up: str
) -> None:
    item = seats_reclaimable(reclaimable(idle=idle, price=UnitPrice.parse(price, "EUR")), now)
    assert item is not None
    assert isinstance(item.evidence, SeatsReclaimableEvidence)
    assert item.evidence.tied_up == Money(Decimal(tied_up), "EUR")
    assert type(item.evidence.tied_up.amount) is Decimal
    assert as_json(item)["evidence"]["tied_up"] == {"amount": tied_up, "currency": "EUR"}


def test_reclaimable_money_on_a_plan_ending_on_a_leap_day() -> None:
    plan = make_plan(PlanType.SEATS, 20, LEAP_PLAN_START, LEAP_PLAN_END)
    item = seats_reclaimable(reclaimable(idle=2, plan=plan, price=UnitPrice.parse("366.00", "EUR")), utc(2028, 1, 30))
    assert item is not None
    assert isinstance(item.evidence, SeatsReclaimableEvidence)
    assert (item.evidence.days_left, item.evidence.plan_year_days) == (30, 366)
    assert item.evidence.tied_up == Money(Decimal("60.00"), "EUR")


def test_reclaimable_money_in_a_currency_without_minor_unit() -> None:
    item = seats_reclaimable(reclaimable(idle=1, price=UnitPrice.parse("1000", "JPY")), utc(2026, 9, 2))
    assert item is not None
    assert isinstance(item.evidence, SeatsReclaimableEvidence)
    # 1000 × 121 ÷ 365 = 331.5…
    assert item.evidence.tied_up == Money(Decimal("332"), "JPY")
    assert str(item.evidence.tied_up.amount) == "332"


def test_reclaimable_seats_without_a_price_carry_no_money() -> None:
    item = seats_reclaimable(reclaimable(price=None), NOW)
    assert item is not None
    assert isinstance(item.evidence, SeatsReclaimableEvidence)
    assert (item.evidence.tied_up, item.evidence.unit_price) == (None, None)
    assert "EUR" not in item.detail
    assert as_json(item)["evidence"]["tied_up"] is None


@pytest.mark.parametrize(
    ("figures", "now"),
    [
        (reclaimable(idle=0), NOW),
        (reclaimable(plan=make_plan(PlanType.MAU, 20)), NOW),
        (reclaimable(), YEAR_END),  # the plan has ended
        (reclaimable(), YEAR_START - timedelta(microseconds=1)),  # not begun
    ],
)
def test_no_reclaimable_item_without_idle_seats_on_a_current_seats_plan(
    figures: SeatsReclaimableInput, now: datetime
) -> None:
    assert seats_reclaimable(figures, now) is None


@pytest.mark.parametrize(
    ("idle", "seats_in_use", "amount", "severity"),
    [
        (1, 10, 20, Severity.INFO),  # 10 % idle
        (2, 10, 20, Severity.WARNING),  # 20 % idle
        (1, 19, 20, Severity.INFO),
        (1, 20, 20, Severity.WARNING),  # the plan is full
        (1, 25, 20, Severity.WARNING),  # over its amount
    ],
)
def test_reclaimable_severity(idle: int, seats_in_use: int, amount: int, severity: Severity) -> None:
    item = seats_reclaimable(reclaimable(idle=idle, seats_in_use=seats_in_use, amount=amount), NOW)
    assert item is not None
    assert item.severity is severity


def test_reclaimable_action_releases_the_first_listed_user_with_the_plan_product() -> None:
    item = seats_reclaimable(reclaimable(idle=2, ids=("ana@example.com", "bo/b")), NOW)
    assert item is not None
    assert item.kind is InsightKind.SEATS_RECLAIMABLE
    assert item.action is not None
    assert item.action.method == "DELETE"
    assert item.action.path == "/v1/orgs/org-1/seats/ana%40example.com?product=learn"
    assert item.action.body is None
    assert "2 idle seats" in item.action.summary
    assert as_json(item)["evidence"]["user_ids"] == ["ana@example.com", "bo/b"]


def test_reclaimable_id_follows_the_idle_users_not_the_days_left() -> None:
    first = seats_reclaimable(reclaimable(), NOW)
    again = seats_reclaimable(reclaimable(), NOW)
    later = seats_reclaimable(reclaimable(), NOW + timedelta(days=7))  # less money, same seats
    other_users = seats_reclaimable(reclaimable(ids=("user-0", "user-1", "user-9")), NOW)
    fewer = seats_reclaimable(reclaimable(idle=2), NOW)
    other_plan = seats_reclaimable(reclaimable(plan=make_plan(PlanType.SEATS, 20, plan_id="p-2")), NOW)
    assert first is not None
    assert again is not None
    assert later is not None
    assert first.id == again.id == later.id
    assert first.id.startswith("ins_")
    ids = {first.id, *(i.id for i in (other_users, fewer, other_plan) if i is not None)}
    assert len(ids) == 4


# ---------------------------------------------------------------------- credits.run_out


def credits(used: int, last_30: int, amount: int = 1000, price: UnitPrice | None = None) -> CreditsInput:
    return CreditsInput(make_plan(PlanType.MAUC, amount), used, last_30, price)


@pytest.mark.parametrize(
    ("now", "used", "last_30", "forecast", "to_add"),
    [
        (utc(2026, 12, 2), 700, 300, None, None),  # 10 a day: the 300 left last to 2027-01-01, the end
        (utc(2026, 12, 2), 710, 300, date(2026, 12, 31), 10),  # one day before end
        (utc(2026, 6, 1), 500, 90, date(2026, 11, 15), 142),  # ⌈3 × 214⌉ − 500
        (utc(2026, 6, 1), 500, 60, None, None),  # 2 a day: runs out after end
        (utc(2026, 6, 1), 500, 0, None, None),  # no recent use
        (utc(2026, 12, 31, 18), 995, 300, None, None),  # 5 left, a quarter day to go: enough
        (utc(2026, 12, 31, 18), 1000, 300, date(2026, 12, 31), 10),  # exhausted: a day at 10 a day
        (utc(2026, 6, 1), 1010, 0, date(2026, 6, 1), 10),  # already 10 over: add the overage
        (utc(2026, 6, 1), 1000, 0, date(2026, 6, 1), 1),  # exactly used up: at least one
    ],
)
def test_credits_run_out_before_end_and_credits_to_add_at_the_trailing_rate(
    now: datetime, used: int, last_30: int, forecast: date | None, to_add: int | None
) -> None:
    item = credits_run_out(credits(used, last_30), now)
    if forecast is None:
        assert item is None
        return
    assert item is not None
    assert isinstance(item.evidence, CreditsRunOutEvidence)
    assert (item.evidence.forecast_exhausted_on, item.evidence.credits_to_add) == (forecast, to_add)
    assert item.evidence.credits_remaining == max(0, 1000 - used)
    assert item.action is None


@pytest.mark.parametrize(
    ("remaining", "severity"),
    [(30, Severity.CRITICAL), (31, Severity.WARNING)],  # 1 a day: 30 days away is within 30 days
)
def test_credits_run_out_is_critical_within_30_days(remaining: int, severity: Severity) -> None:
    now = utc(2026, 6, 1)
    item = credits_run_out(credits(1000 - remaining, 30), now)
    assert item is not None
    assert isinstance(item.evidence, CreditsRunOutEvidence)
    assert item.evidence.forecast_exhausted_on == now.date() + timedelta(days=remaining)
    assert item.severity is severity


@pytest.mark.parametrize("plan_type", [PlanType.SEATS, PlanType.MAU])
def test_credits_run_out_is_for_mauc_plans_only(plan_type: PlanType) -> None:
    figures = CreditsInput(make_plan(plan_type, 1000), 710, 300)
    assert credits_run_out(figures, utc(2026, 12, 2)) is None


def test_credits_to_add_cost_money_at_the_unit_price() -> None:
    item = credits_run_out(credits(710, 300, price=UnitPrice.parse("2.50", "EUR")), utc(2026, 12, 2))
    assert item is not None
    assert isinstance(item.evidence, CreditsRunOutEvidence)
    assert item.evidence.cost == Money(Decimal("25.00"), "EUR")
    assert as_json(item)["evidence"]["cost"] == {"amount": "25.00", "currency": "EUR"}
    assert as_json(item)["evidence"]["forecast_exhausted_on"] == "2026-12-31"


def test_credits_run_out_id_stays_while_the_forecast_stays_in_its_month() -> None:
    now = utc(2026, 6, 1)
    nov_15 = credits_run_out(credits(500, 90), now)
    nov_14 = credits_run_out(credits(503, 90), now)  # also fewer credits to add: still the same item
    october = credits_run_out(credits(600, 90), now)
    assert nov_15 is not None
    assert nov_14 is not None
    assert october is not None
    assert isinstance(nov_14.evidence, CreditsRunOutEvidence)
    assert nov_14.evidence.forecast_exhausted_on == date(2026, 11, 14)
    assert nov_15.id == nov_14.id
    assert october.id != nov_15.id


def test_credits_run_out_id_changes_when_it_becomes_critical() -> None:
    warning = credits_run_out(credits(969, 30), utc(2026, 6, 1))  # 31 days away
    critical = credits_run_out(credits(970, 30), utc(2026, 6, 1))  # 30 days away, same month
    assert warning is not None
    assert critical is not None
    assert (warning.severity, critical.severity) == (Severity.WARNING, Severity.CRITICAL)
    assert warning.id != critical.id


# ---------------------------------------------------------------------- mau.over_allowance

MID_MONTH_START = datetime(2025, 3, 15, tzinfo=UTC)
MID_MONTH_END = datetime(2026, 3, 15, tzinfo=UTC)


def mau(actives: dict[str, int], amount: int = 100, price: UnitPrice | None = None) -> MauInput:
    return MauInput(make_plan(PlanType.MAU, amount, MID_MONTH_START, MID_MONTH_END), actives, price)


@pytest.mark.parametrize(
    ("march", "april", "may", "over", "severity"),
    [
        (101, 101, 50, ("2025-03", "2025-04"), Severity.WARNING),  # 2 of 3
        (50, 101, 101, ("2025-04", "2025-05"), Severity.WARNING),
        (101, 50, 101, ("2025-03", "2025-05"), Severity.WARNING),
        (101, 101, 101, ("2025-03", "2025-04", "2025-05"), Severity.CRITICAL),
        (101, 50, 50, None, None),  # 1 of 3
        (100, 100, 100, None, None),  # at the amount is not over it
        (50, 50, 50, None, None),
    ],
)
def test_mau_over_allowance_in_at_least_2_of_the_last_3_complete_months(
    march: int, april: int, may: int, over: tuple[str, ...] | None, severity: Severity | None
) -> None:
    # 2025-06-01 00:00: May has just ended, so March (clipped, from the 15th), April and May are complete.
    item = mau_over_allowance(
        mau({"2025-03": march, "2025-04": april, "2025-05": may, "2025-06": 500}), utc(2025, 6, 1)
    )
    if over is None:
        assert item is None
        return
    assert item is not None
    assert isinstance(item.evidence, MauOverAllowanceEvidence)
    assert item.evidence.over_months == over
    assert [m.month for m in item.evidence.last_complete_months] == ["2025-03", "2025-04", "2025-05"]
    assert item.severity is severity


def test_mau_over_allowance_needs_3_complete_months() -> None:
    actives = {"2025-03": 500, "2025-04": 500, "2025-05": 500}
    assert mau_over_allowance(mau(actives), utc(2025, 5, 31, 23, 59, 59, 999_999)) is None  # May not over yet
    assert mau_over_allowance(mau(actives), utc(2025, 6, 1)) is not None


def test_mau_over_allowance_covering_allowance_is_the_nearest_rank_90th_percentile() -> None:
    actives = {f"2025-{m:02d}": 90 for m in range(3, 11)} | {"2025-11": 150, "2025-12": 160}
    item = mau_over_allowance(mau(actives, price=UnitPrice.parse("12.00", "EUR")), utc(2026, 1, 1))
    assert item is not None
    assert isinstance(item.evidence, MauOverAllowanceEvidence)
    assert item.evidence.months_counted == 10
    assert item.evidence.over_months == ("2025-11", "2025-12")
    assert item.evidence.covering_allowance == 150  # the 9th of 10
    assert item.evidence.extra_allowance == 50
    assert item.evidence.extra_cost == Money(Decimal("600.00"), "EUR")


def test_mau_over_allowance_id_changes_with_the_months_over() -> None:
    base = {"2025-03": 101, "2025-04": 101, "2025-05": 50}
    first = mau_over_allowance(mau(base), utc(2025, 6, 1))
    again = mau_over_allowance(mau(dict(base)), utc(2025, 6, 1, 12))
    moved = mau_over_allowance(mau(base | {"2025-03": 50, "2025-05": 101}), utc(2025, 6, 1))
    assert first is not None
    assert again is not None
    assert moved is not None
    assert first.id == again.id
    assert moved.id != first.id


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90),  # rank ⌈9⌉ = 9
        (list(range(1, 12)), 10),  # 11 values: rank ⌈9.9⌉ = 10
        ([5, 1, 3], 5),  # rank ⌈2.7⌉ = 3: the largest
        ([7], 7),
        (list(range(1, 21)), 18),
        ([100, 1, 50, 2, 60, 3, 70, 4, 80, 5], 80),  # unsorted
    ],
)
def test_nearest_rank_percentile(values: list[int], expected: int) -> None:
    assert nearest_rank_percentile(values, 90) == expected


def test_nearest_rank_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        nearest_rank_percentile([], 90)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([Fraction(3)], Fraction(3)),
        ([Fraction(1), Fraction(9), Fraction(5)], Fraction(5)),
        ([Fraction(4), Fraction(1), Fraction(10), Fraction(12)], Fraction(7)),  # even: mean of the middle two
        ([Fraction(1), Fraction(2)], Fraction(3, 2)),
    ],
)
def test_median(values: list[Fraction], expected: Fraction) -> None:
    assert median(values) == expected


# ---------------------------------------------------------------------- renewal.sizing


def renewal(
    plan: Plan | None = None,
    figures: SeatsPeak | MonthlyActives | CreditsOverYear | None = None,
    renewed: bool = False,
    price: UnitPrice | None = None,
) -> RenewalInput:
    plan = plan or make_plan(PlanType.SEATS, 100)
    return RenewalInput(plan, renewed, figures or SeatsPeak(100), price)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (YEAR_END - timedelta(days=90), True),  # exactly 90 days: within
        (YEAR_END - timedelta(days=90, microseconds=1), False),
        (YEAR_END - timedelta(days=1), True),
        (YEAR_END - timedelta(microseconds=1), True),
        (YEAR_END, False),  # ended
    ],
)
def test_renewal_sizing_for_a_plan_ending_within_90_days(now: datetime, due: bool) -> None:
    assert (renewal_sizing(renewal(), now) is not None) is due


@pytest.mark.parametrize(
    ("now", "due"),
    [(utc(2027, 12, 1), True), (utc(2027, 11, 30, 23, 59, 59, 999_999), False)],  # 90 days before 2028-02-29
)
def test_renewal_sizing_of_a_plan_ending_on_a_leap_day(now: datetime, due: bool) -> None:
    plan = make_plan(PlanType.SEATS, 100, LEAP_PLAN_START, LEAP_PLAN_END)
    item = renewal_sizing(renewal(plan), now)
    assert (item is not None) is due
    if item is not None:
        assert isinstance(item.evidence, RenewalSizingEvidence)
        assert (item.evidence.days_left, item.evidence.renewal_days) == (90, 365)


def test_a_renewed_plan_gets_no_renewal_sizing() -> None:
    assert renewal_sizing(renewal(renewed=True), utc(2026, 12, 1)) is None


@pytest.mark.parametrize(
    ("peak", "suggested"),
    [(0, 1), (1, 2), (9, 10), (10, 11), (100, 110), (101, 112), (55, 61)],
)
def test_renewal_of_seats_is_the_90_days_peak_plus_10_pct_rounded_up(peak: int, suggested: int) -> None:
    item = renewal_sizing(renewal(figures=SeatsPeak(peak)), utc(2026, 12, 1))
    assert item is not None
    assert isinstance(item.evidence, RenewalSizingEvidence)
    assert item.evidence.suggested_amount == suggested
    assert item.evidence.basis_value == peak
    assert item.action is not None
    assert (item.action.method, item.action.path) == ("POST", "/v1/orgs/org-1/plans/p-1/renewal")
    assert item.action.body == {"amount": suggested}


def test_renewal_of_mau_is_the_90th_percentile_of_complete_months() -> None:
    plan = make_plan(PlanType.MAU, 100)
    # by 2026-12-01: January to November are complete (11 months); December is not counted
    actives = {f"2026-{m:02d}": 10 * m for m in range(1, 12)} | {"2026-12": 9999}
    item = renewal_sizing(renewal(plan, MonthlyActives(actives)), utc(2026, 12, 1))
    assert item is not None
    assert isinstance(item.evidence, RenewalSizingEvidence)
    assert (item.evidence.suggested_amount, item.evidence.observed) == (100, 11)  # the 10th of 11


def test_renewal_of_mau_without_a_complete_month_is_not_suggested() -> None:
    plan = make_plan(PlanType.MAU, 100, utc(2026, 11, 10), YEAR_END)
    assert renewal_sizing(renewal(plan, MonthlyActives({"2026-11": 50})), utc(2026, 11, 20)) is None


@pytest.mark.parametrize(
    ("plan", "used", "days", "suggested"),
    [
        (make_plan(PlanType.MAUC, 1000), 300, 300, 365),
        (make_plan(PlanType.MAUC, 1000), 1000, 365, 1000),
        # ends 2027-03-01: its renewal runs to 2028-03-01, 366 days; ⌈1000 × 366 ÷ 275⌉
        (make_plan(PlanType.MAUC, 1000, utc(2026, 3, 1), utc(2027, 3, 1)), 1000, 275, 1331),
        (make_plan(PlanType.MAUC, 1000), 0, 300, 1),
    ],
)
def test_renewal_of_mauc_is_the_last_12_months_credits_scaled_to_a_year(
    plan: Plan, used: int, days: int, suggested: int
) -> None:
    item = renewal_sizing(renewal(plan, CreditsOverYear(used, days)), plan.end - timedelta(days=10))
    assert item is not None
    assert isinstance(item.evidence, RenewalSizingEvidence)
    assert item.evidence.suggested_amount == suggested


def test_renewal_of_mauc_needs_observed_days() -> None:
    plan = make_plan(PlanType.MAUC, 1000)
    assert renewal_sizing(renewal(plan, CreditsOverYear(10, 0)), utc(2026, 12, 1)) is None


def test_renewal_figures_must_match_the_plan_type() -> None:
    with pytest.raises(TypeError, match="SeatsPeak"):
        RenewalInput(make_plan(PlanType.SEATS, 10), False, MonthlyActives({}))
    with pytest.raises(TypeError, match="CreditsOverYear"):
        RenewalInput(make_plan(PlanType.MAUC, 10), False, SeatsPeak(3))


@pytest.mark.parametrize(
    ("left", "severity"),
    [(timedelta(days=30), Severity.WARNING), (timedelta(days=30, microseconds=1), Severity.INFO)],
)
def test_renewal_sizing_is_a_warning_within_30_days(left: timedelta, severity: Severity) -> None:
    item = renewal_sizing(renewal(), YEAR_END - left)
    assert item is not None
    assert item.severity is severity


def test_renewal_value_and_id_follow_the_suggested_amount() -> None:
    price = UnitPrice.parse("9.99", "USD")
    item = renewal_sizing(renewal(figures=SeatsPeak(100), price=price), utc(2026, 12, 1))
    same = renewal_sizing(renewal(figures=SeatsPeak(100), price=price), utc(2026, 12, 8))
    more = renewal_sizing(renewal(figures=SeatsPeak(101), price=price), utc(2026, 12, 1))
    assert item is not None
    assert same is not None
    assert more is not None
    assert isinstance(item.evidence, RenewalSizingEvidence)
    assert item.evidence.renewal_value == Money(Decimal("1098.90"), "USD")  # 110 × 9.99
    assert item.id == same.id
    assert more.id != item.id


# ---------------------------------------------------------------------- hard_limit.denials

HARD_PLAN = make_plan(PlanType.SEATS, 10, overdraft=2, enforcement=Enforcement.HARD)


def denials(count: int = 5, users: int = 3, last: datetime | None = None, plan: Plan = HARD_PLAN) -> DenialsInput:
    return DenialsInput(plan, count, users, last or utc(2026, 6, 10), 12)


@pytest.mark.parametrize(
    ("since_last", "severity"),
    [
        (timedelta(days=7), Severity.CRITICAL),
        (timedelta(days=7, microseconds=1), Severity.WARNING),
        (timedelta(hours=1), Severity.CRITICAL),
        (timedelta(days=29), Severity.WARNING),
    ],
)
def test_hard_limit_denials_are_critical_with_one_in_the_last_7_days(since_last: timedelta, severity: Severity) -> None:
    now = utc(2026, 6, 15)
    item = hard_limit_denials(denials(last=now - since_last), now)
    assert item is not None
    assert item.severity is severity


@pytest.mark.parametrize(
    ("count", "users", "overdraft", "suggested"),
    [(5, 3, 2, 5), (1, 1, 0, 1), (40, 12, 2, 14)],
)
def test_hard_limit_denials_suggest_the_overdraft_plus_the_distinct_users_refused(
    count: int, users: int, overdraft: int, suggested: int
) -> None:
    plan = replace(HARD_PLAN, overdraft=overdraft)
    item = hard_limit_denials(denials(count, users, plan=plan), utc(2026, 6, 15))
    assert item is not None
    evidence = as_json(item)["evidence"]
    assert (evidence["denials"], evidence["distinct_users"], evidence["suggested_overdraft"]) == (
        count,
        users,
        suggested,
    )
    assert evidence["hard_limit"] == 10 + overdraft
    assert item.action is None


@pytest.mark.parametrize(
    ("figures", "now"),
    [
        (denials(count=0, users=0), utc(2026, 6, 15)),
        (denials(plan=replace(HARD_PLAN, enforcement=Enforcement.SOFT)), utc(2026, 6, 15)),
        (denials(plan=replace(HARD_PLAN, type=PlanType.MAU)), utc(2026, 6, 15)),
        (denials(), YEAR_END),
    ],
)
def test_no_denials_item_without_denials_on_a_current_hard_limited_plan(figures: DenialsInput, now: datetime) -> None:
    assert hard_limit_denials(figures, now) is None


def test_hard_limit_denials_id_follows_the_suggested_overdraft() -> None:
    now = utc(2026, 6, 15)
    first = hard_limit_denials(denials(5, 3), now)
    more_denials = hard_limit_denials(denials(9, 3), now)
    more_users = hard_limit_denials(denials(9, 4), now)
    assert first is not None
    assert more_denials is not None
    assert more_users is not None
    assert first.id == more_denials.id
    assert more_users.id != first.id


# ---------------------------------------------------------------------- ai.low_adoption


def groups(*rows: tuple[str, int, int]) -> AdoptionInput:
    return AdoptionInput("org-1", [GroupConsumption(group, users, actions) for group, users, actions in rows])


@pytest.mark.parametrize(
    ("rows", "flagged"),
    [
        # median of 8, 8 and 1.8 is 8: a quarter is 2; "tiny" (4 users) is neither compared nor
        # flagged (compared, the median of 0, 1.8, 8, 8 would be 4.9 and "east" not flagged)
        ([("north", 5, 40), ("south", 5, 40), ("east", 5, 9), ("tiny", 4, 0)], ["east"]),
        ([("north", 5, 40), ("south", 5, 40), ("low5", 5, 1)], ["low5"]),  # 5 active users: compared
        ([("north", 5, 40), ("south", 5, 40), ("low4", 4, 0)], []),  # 4: not
        # an even count: the median is the mean of 4 and 10, 7, and a quarter 1.75 (strictly under)
        ([("x", 20, 34), ("a", 5, 20), ("b", 5, 50), ("c", 5, 60)], ["x"]),  # 1.7
        ([("x", 20, 35), ("a", 5, 20), ("b", 5, 50), ("c", 5, 60)], []),  # 1.75
        ([("north", 5, 0), ("south", 5, 0), ("east", 5, 0)], []),  # a median of 0: none under it
        ([("solo", 50, 0)], []),
        ([(UNASSIGNED_GROUP, 50, 0), ("north", 5, 40), ("south", 5, 40)], []),
        ([("b-low", 10, 1), ("a-low", 10, 1), ("c", 10, 50), ("d", 10, 50), ("e", 10, 50)], ["a-low", "b-low"]),
        ([("lowest", 10, 0), ("low", 10, 1), ("c", 10, 50), ("d", 10, 50), ("e", 10, 50)], ["lowest", "low"]),
    ],
)
def test_ai_low_adoption_flags_groups_under_a_quarter_of_the_median_group(
    rows: list[tuple[str, int, int]], flagged: list[str]
) -> None:
    items = ai_low_adoption(groups(*rows), utc(2026, 6, 15))
    assert [json.loads(json.dumps(insight_json(i)))["evidence"]["group"] for i in items] == flagged
    assert all(i.kind is InsightKind.AI_LOW_ADOPTION and i.severity is Severity.INFO for i in items)
    assert all(i.plan_id is None and i.action is None for i in items)


def test_ai_low_adoption_evidence_is_decimal_with_two_places() -> None:
    [item] = ai_low_adoption(groups(("x", 20, 34), ("a", 5, 20), ("b", 5, 50), ("c", 5, 60)), utc(2026, 6, 15))
    evidence = as_json(item)["evidence"]
    assert evidence == {
        "group": "x",
        "active_users": 20,
        "ai_actions": 34,
        "per_active_user": "1.70",
        "median_per_active_user": "7.00",
        "threshold_per_active_user": "1.75",
        "groups_compared": 4,
        "window_first": "2026-05-17",
        "window_last": "2026-06-15",
    }


def test_ai_low_adoption_id_is_per_organization_and_group() -> None:
    rows = (("north", 5, 40), ("south", 5, 40), ("east", 5, 1), ("west", 5, 0))
    items = ai_low_adoption(groups(*rows), utc(2026, 6, 15))
    later = ai_low_adoption(groups(("north", 5, 80), ("south", 5, 40), ("east", 5, 2), ("west", 5, 0)), utc(2026, 7, 1))
    other_org = ai_low_adoption(replace(groups(*rows), org_id="org-2"), utc(2026, 6, 15))
    assert [i.evidence.group for i in items if hasattr(i.evidence, "group")] == ["west", "east"]
    assert [i.id for i in items] == [i.id for i in later]
    assert len({i.id for i in items} | {i.id for i in other_org}) == 4


# ---------------------------------------------------------------------- ordering, digest, JSON


def sample_items() -> list[Insight]:
    now = utc(2026, 12, 2)
    items = [
        seats_reclaimable(reclaimable(idle=1, seats_in_use=10), now),  # info
        credits_run_out(credits(710, 300, price=UnitPrice.parse("2.50", "EUR")), now),  # critical
        renewal_sizing(renewal(), now),  # warning: 30 days left
        hard_limit_denials(denials(last=now - timedelta(days=10)), now),  # warning
    ]
    found = [i for i in items if i is not None]
    assert len(found) == 4
    return found + ai_low_adoption(groups(("north", 5, 40), ("south", 5, 40), ("east", 5, 1)), now)


def test_items_are_ordered_critical_warning_info_then_by_kind() -> None:
    ordered = order_insights(sample_items())
    assert [(i.severity, i.kind) for i in ordered] == [
        (Severity.CRITICAL, InsightKind.CREDITS_RUN_OUT),
        (Severity.WARNING, InsightKind.RENEWAL_SIZING),
        (Severity.WARNING, InsightKind.HARD_LIMIT_DENIALS),
        (Severity.INFO, InsightKind.SEATS_RECLAIMABLE),
        (Severity.INFO, InsightKind.AI_LOW_ADOPTION),
    ]


def test_digest_sends_new_warning_and_critical_items_once() -> None:
    items = sample_items()
    first = digest_items(items, sent_ids=[])
    assert [i.kind for i in first] == [
        InsightKind.CREDITS_RUN_OUT,
        InsightKind.RENEWAL_SIZING,
        InsightKind.HARD_LIMIT_DENIALS,
    ]
    sent = {i.id for i in first}
    assert digest_items(items, sent) == []  # the next week: nothing new
    changed = renewal_sizing(renewal(figures=SeatsPeak(200)), utc(2026, 12, 9))
    assert changed is not None
    assert digest_items([*items, changed], sent) == [changed]  # a changed item is new


def test_a_digest_names_at_most_its_cap_critical_first_and_the_rest_go_the_next_week() -> None:
    """An organization with many plans: one notice never outgrows SNS's 256 KB message."""
    critical, warning = next(i for i in sample_items() if i.severity is Severity.CRITICAL), next(
        i for i in sample_items() if i.severity is Severity.WARNING
    )
    items = [replace(warning, id=f"w{n:03d}", plan_id=f"pln_{n:016x}", detail="x" * 4000) for n in range(60)]
    items += [replace(critical, id=f"c{n:03d}", plan_id=f"pln_{n + 100:016x}") for n in range(5)]
    first = digest_items(items, sent_ids=[])
    assert len(first) == MAX_DIGEST_ITEMS
    assert [i.severity for i in first[:5]] == [Severity.CRITICAL] * 5
    notice = digest_notice("acme", first, utc(2026, 12, 7))
    assert len(notice.message.encode()) < 256 * 1024
    kept = digest_ids_kept(items, [], first)
    second = digest_items(items, kept)
    assert len(second) == MAX_DIGEST_ITEMS
    assert not {i.id for i in second} & kept
    third = digest_items(items, digest_ids_kept(items, kept, second))
    assert len(third) == len(items) - 2 * MAX_DIGEST_ITEMS


def test_every_item_is_json_without_floats() -> None:
    for item in sample_items():
        loaded = as_json(item)
        assert set(loaded) == {"id", "kind", "severity", "plan_id", "title", "detail", "evidence", "action"}
        assert loaded["kind"] == item.kind.value


def test_json_refuses_a_float() -> None:
    with pytest.raises(TypeError, match="float"):
        to_json_value({"x": 1.5})


def test_json_writes_instants_as_utc_seconds() -> None:
    assert to_json_value(utc(2028, 2, 29, 23, 59, 59, 999_999)) == "2028-02-29T23:59:59Z"
    assert to_json_value(date(2028, 2, 29)) == "2028-02-29"
    assert to_json_value(Money(Decimal("0.10"), "EUR")) == {"amount": "0.10", "currency": "EUR"}


# ---------------------------------------------------------------------- the vendor's ranking


@pytest.mark.parametrize(
    ("over_days", "excess", "price", "units", "money"),
    [
        (10, 5, "365.00", 50, "50.00"),  # 50 seat-days at a day's price
        (30, 1, "100.00", 30, "8.22"),  # 100 × 30 ÷ 365 = 8.219…
        (10, 5, None, 50, None),
        (0, 5, "365.00", 0, None),
        (10, 0, "365.00", 0, None),
    ],
)
def test_overdraft_opportunity_is_overdraft_days_times_excess(
    over_days: int, excess: int, price: str | None, units: int, money: str | None
) -> None:
    unit_price = UnitPrice.parse(price, "EUR") if price else None
    found = overdraft_opportunity(OverdraftInput(make_plan(PlanType.SEATS, 10), over_days, excess, unit_price))
    if units == 0:
        assert found is None
        return
    assert found is not None
    assert (found.kind, found.units) == (OpportunityKind.OVERDRAFT, units)
    assert found.money == (Money(Decimal(money), "EUR") if money else None)


def test_opportunities_from_items_carry_their_units_and_money() -> None:
    now = utc(2026, 12, 2)
    run_out = credits_run_out(credits(710, 300, price=UnitPrice.parse("2.50", "EUR")), now)
    over = mau_over_allowance(
        mau({"2025-03": 101, "2025-04": 150, "2025-05": 50}, price=UnitPrice.parse("1", "USD")), utc(2025, 6, 1)
    )
    idle = seats_reclaimable(reclaimable(), now)
    assert run_out is not None
    assert over is not None
    assert idle is not None
    assert insight_opportunity(run_out) == Opportunity(
        OpportunityKind.CREDITS_RUN_OUT, "org-1", "p-1", 10, Money(Decimal("25.00"), "EUR"), run_out.id
    )
    assert insight_opportunity(over) == Opportunity(
        OpportunityKind.MAU_OVER_ALLOWANCE, "org-1", "p-1", 50, Money(Decimal("50.00"), "USD"), over.id
    )
    assert insight_opportunity(idle) is None


def opportunity(org: str, units: int, money: str | None = None, currency: str = "EUR") -> Opportunity:
    value = Money(Decimal(money), currency) if money else None
    return Opportunity(OpportunityKind.OVERDRAFT, org, f"p-{org}", units, value)


def test_opportunities_rank_by_money_when_priced_then_by_units() -> None:
    items = [
        opportunity("units-small", 50),
        opportunity("eur-small", 9000, "500.00"),
        opportunity("usd", 1, "10.00", "USD"),
        opportunity("units-large", 1000),
        opportunity("eur-large", 1, "900.00"),
        opportunity("eur-tie-more-units", 7, "500.00"),
        opportunity("eur-cents", 1, "500.01"),
    ]
    random.Random(3).shuffle(items)
    assert [o.org_id for o in rank_opportunities(items)] == [
        "eur-large",
        "eur-cents",
        "eur-small",  # same money: more units first
        "eur-tie-more-units",
        "usd",  # another currency is never compared with euros
        "units-large",
        "units-small",
    ]


def test_the_overdraft_organization_ranks_first_on_money() -> None:
    price = UnitPrice.parse("120.00", "EUR")
    overdraft = overdraft_opportunity(
        OverdraftInput(make_plan(PlanType.SEATS, 10, org_id="overdraft-org"), 30, 8, price)
    )
    run_out = insight_opportunity(
        credits_run_out(
            CreditsInput(make_plan(PlanType.MAUC, 1000, org_id="credits-org"), 710, 300, price), utc(2026, 12, 2)
        )
        or pytest.fail("no credits.run_out")
    )
    assert overdraft is not None
    assert run_out is not None
    assert overdraft.money == Money(Decimal("78.90"), "EUR")  # 120 × 240 ÷ 365
    assert run_out.money == Money(Decimal("1200.00"), "EUR")
    assert [o.org_id for o in rank_opportunities([overdraft, run_out])] == ["credits-org", "overdraft-org"]
    cheaper_run_out = replace(run_out, money=Money(Decimal("12.00"), "EUR"))
    assert [o.org_id for o in rank_opportunities([cheaper_run_out, overdraft])] == ["overdraft-org", "credits-org"]


@pytest.mark.parametrize(
    ("consumed", "now", "renewed", "at_risk"),
    [
        (399, utc(2026, 12, 1), False, True),  # 39.9 %
        (400, utc(2026, 12, 1), False, False),  # 40 % is not under 40 %
        (0, YEAR_END - timedelta(days=90), False, True),  # exactly 90 days
        (0, YEAR_END - timedelta(days=90, microseconds=1), False, False),
        (0, utc(2026, 12, 1), True, False),
        (0, YEAR_END, False, False),
    ],
)
def test_renewals_at_risk_under_40_pct_within_90_days(
    consumed: int, now: datetime, renewed: bool, at_risk: bool
) -> None:
    found = renewal_at_risk(RenewalRiskInput(make_plan(PlanType.MAUC, 1000), consumed, renewed), now)
    assert (found is not None) is at_risk
    if found is not None:
        assert type(found.utilization_pct) is Decimal
        assert found.utilization_pct == Decimal(consumed) / 10


def test_renewal_at_risk_value_is_the_amount_at_the_unit_price() -> None:
    found = renewal_at_risk(
        RenewalRiskInput(make_plan(PlanType.SEATS, 50), 3, False, UnitPrice.parse("99.5", "EUR")), utc(2026, 12, 1)
    )
    assert found is not None
    assert found.value == Money(Decimal("4975.00"), "EUR")
    assert (found.utilization_pct, found.days_left) == (Decimal("6.0"), 31)


def test_renewals_at_risk_rank_soonest_end_then_lowest_utilization() -> None:
    now = utc(2026, 11, 1)

    def risk(plan_id: str, end: datetime, consumed: int) -> RenewalRiskInput:
        return RenewalRiskInput(
            make_plan(PlanType.SEATS, 100, end - timedelta(days=300), end, plan_id=plan_id), consumed, False
        )

    found = [
        renewal_at_risk(risk("late", utc(2027, 1, 20), 1), now),
        renewal_at_risk(risk("soon-busier", utc(2026, 12, 1), 30), now),
        renewal_at_risk(risk("soon-idle", utc(2026, 12, 1), 5), now),
        renewal_at_risk(risk("fine", utc(2026, 12, 1), 90), now),
    ]
    ranked = rank_renewals_at_risk(r for r in found if r is not None)
    assert [r.plan_id for r in ranked] == ["soon-idle", "soon-busier", "late"]


# ---------------------------------------------------------------------- ranking as text (the vendor index's order)


def _reference_opportunity_order(items: list[Opportunity]) -> list[Opportunity]:
    """The ranking as first written: a tuple per item (what the index's rank text must agree with)."""

    def key(o: Opportunity) -> tuple[int, str, Decimal, int, str, str, str]:
        if o.money is not None:
            return (0, o.money.currency, -o.money.amount, -o.units, o.org_id, o.plan_id, o.kind.value)
        return (1, "", Decimal(0), -o.units, o.org_id, o.plan_id, o.kind.value)

    return sorted(items, key=key)


ID_CHARS = "abcXYZ019._-"


def _random_id(rng: random.Random) -> str:
    return "".join(rng.choice(ID_CHARS) for _ in range(rng.randint(1, 4)))


@pytest.mark.parametrize("seed", range(40))
def test_the_rank_text_orders_opportunities_as_the_ranking_does(seed: int) -> None:
    rng = random.Random(seed)
    items = []
    for _ in range(rng.randint(1, 30)):
        currency = rng.choice(["EUR", "USD", "JPY", "KWD", None])
        units = rng.choice([1, 2, 10, 10**6, 10**15, rng.randint(1, 1000)])
        money = Money.of(Fraction(rng.randint(0, 10**9), 1000), currency) if currency else None
        kind = rng.choice(list(OpportunityKind))
        items.append(Opportunity(kind, _random_id(rng), _random_id(rng), units, money))
    assert rank_opportunities(items) == _reference_opportunity_order(items)


@pytest.mark.parametrize("seed", range(20))
def test_the_rank_text_orders_renewals_at_risk_soonest_then_least_used(seed: int) -> None:
    rng = random.Random(seed)
    found = []
    for _ in range(rng.randint(1, 20)):
        ends = YEAR_START + timedelta(days=rng.randint(0, 3), microseconds=rng.choice([0, 1, 999_999]))
        found.append(
            RenewalAtRisk(
                _random_id(rng),
                _random_id(rng),
                "seats",
                "learn",
                ends,
                3,
                100,
                1,
                Decimal(rng.randint(0, 399)) / 10,
                None,
            )
        )
    expected = sorted(found, key=lambda r: (r.ends_at, r.utilization_pct, r.org_id, r.plan_id))
    assert rank_renewals_at_risk(found) == expected


# ---------------------------------------------------------------------- from precomputed figures


def _denied(day: str, users: list[str], at: str, distinct: int | None = None) -> DayDenials:
    return DayDenials(len(users), frozenset(users), f"{day}T{at}.000000Z#e#a", distinct or len(set(users)))


def test_denials_add_up_the_last_30_days_only() -> None:
    plan = make_plan(PlanType.SEATS, 2, enforcement=Enforcement.HARD)
    now = utc(2026, 6, 30, 12)
    days = {
        "2026-05-31": _denied("2026-05-31", ["old"], "10:00:00"),  # 30 days before: outside
        "2026-06-01": _denied("2026-06-01", ["a", "b"], "09:00:00"),  # today − 29: inside
        "2026-06-30": _denied("2026-06-30", ["b", "c", "c"], "11:59:59"),
    }
    recent = recent_denials(days, now)
    assert (recent.denials, recent.distinct_users) == (5, 3)
    found = denials_input(plan, PlanCounters(seats_in_use=2), recent)
    assert (found.denials, found.distinct_users, found.seats_in_use) == (5, 3, 2)
    assert found.last_denied_at == utc(2026, 6, 30, 11, 59, 59)
    empty = denials_input(plan, PlanCounters(), recent_denials({}, now))
    assert (empty.denials, empty.distinct_users, empty.last_denied_at) == (0, 0, None)


def test_a_day_with_more_refused_users_than_it_keeps_still_counts_them() -> None:
    day = _denied("2026-06-30", ["a"], "10:00:00", distinct=1500)
    assert recent_denials({"2026-06-30": day}, utc(2026, 6, 30, 12)).distinct_users == 1500


def test_the_day_figures_keep_each_plans_refusals() -> None:
    events = [
        DayEvent("2026-06-30T10:00:00.000000Z#1#x", "seat.denied", user_id="a", plan_id="p-1"),
        DayEvent("2026-06-30T11:00:00.000000Z#2#x", "seat.denied", user_id="a", plan_id="p-1"),
        DayEvent("2026-06-30T09:00:00.000000Z#3#x", "seat.denied", user_id="b", plan_id="p-2"),
        DayEvent("2026-06-30T12:00:00.000000Z#4#x", "seat.claimed", user_id="c", plan_id="p-1"),
    ]
    figures = day_figures(events, {})
    assert figures.seat_denials["p-1"] == DayDenials(2, frozenset({"a"}), "2026-06-30T11:00:00.000000Z#2#x", 1)
    assert figures.seat_denials["p-2"].denials == 1
    assert set(figures.seat_denials) == {"p-1", "p-2"}


def _seats_counters(days: dict[str, tuple[int, int]], seats_in_use: int) -> PlanCounters:
    return PlanCounters(
        seats_in_use=seats_in_use,
        days={day: DayCounts(seats_taken=t, seats_released=r, seat_changes=t + r) for day, (t, r) in days.items()},
    )


def test_over_days_count_the_last_30_days_above_the_amount() -> None:
    plan = make_plan(PlanType.SEATS, 2)
    # 3 seats from 2026-06-10 on; one released on 2026-06-20 (2 left: not over from then).
    counters = _seats_counters({"2026-06-10": (3, 0), "2026-06-20": (0, 1)}, 2)
    now = utc(2026, 6, 30, 12)
    assert over_days(plan, counters, now) == 11  # 10th to the 20th (the 20th started at 3)
    assert over_days(plan, counters, utc(2026, 7, 25, 12)) == 0  # the window no longer holds them
    mauc = make_plan(PlanType.MAUC, 10)
    credits = PlanCounters(
        months={"2026-06": MonthCounts(12)},
        days={"2026-06-05": DayCounts(credits_used=10), "2026-06-28": DayCounts(credits_used=2)},
    )
    assert over_days(mauc, credits, now) == 3  # the 28th, 29th and today


def test_a_plan_starting_today_has_at_most_one_over_day() -> None:
    plan = make_plan(PlanType.SEATS, 1, start=utc(2026, 6, 30, 8))
    assert over_days(plan, _seats_counters({"2026-06-30": (3, 0)}, 3), utc(2026, 6, 30, 12)) == 1


def test_renewal_figures_from_the_counters() -> None:
    now = utc(2026, 12, 1, 12)
    seats = make_plan(PlanType.SEATS, 10)
    counters = _seats_counters({"2026-08-01": (7, 0), "2026-11-01": (0, 3)}, 4)
    assert renewal_figures(seats, counters, now) == SeatsPeak(7)  # the 90 days start on 2026-09-03
    mauc = make_plan(PlanType.MAUC, 100, start=utc(2026, 11, 2))
    days = PlanCounters(days={"2026-11-02": DayCounts(credits_used=5), "2026-12-01": DayCounts(credits_used=1)})
    assert renewal_figures(mauc, days, now) == CreditsOverYear(6, 30)  # 2 November to 1 December


def test_org_insights_come_from_the_plans_figures_alone() -> None:
    now = utc(2026, 12, 1, 12)
    seats = replace(make_plan(PlanType.SEATS, 4), unit_price="365.00", currency="EUR")
    counters = replace(_seats_counters({"2026-11-01": (4, 0)}, 4), inactive_assignments=2)
    figures = InsightFigures(seats, counters, renewed=False, seats=SeatFigures(idle_user_ids=("u1", "u2")))
    items = org_insights("org-1", [figures], [], now)
    kinds = [item.kind for item in items]
    assert kinds == [InsightKind.SEATS_RECLAIMABLE, InsightKind.RENEWAL_SIZING]  # warning, then info (31 days left)
    reclaim = items[0].evidence
    assert isinstance(reclaim, SeatsReclaimableEvidence)
    assert reclaim.tied_up == Money(Decimal("62.00"), "EUR")  # 365 × 2 × 31 days ÷ 365
    renewed = org_insights("org-1", [replace(figures, renewed=True)], [], now)
    assert [item.kind for item in renewed] == [InsightKind.SEATS_RECLAIMABLE]
    past = org_insights("org-1", [replace(figures, plan=replace(seats, end=utc(2026, 11, 30)))], [], now)
    assert past == []


def test_vendor_entries_hold_overdrafts_and_renewals_at_risk() -> None:
    now = utc(2026, 12, 1, 12)
    over = replace(make_plan(PlanType.SEATS, 2, plan_id="p-over"), unit_price="365.00", currency="EUR")
    idle = make_plan(PlanType.SEATS, 100, plan_id="p-idle")
    over_figures = InsightFigures(over, _seats_counters({"2026-11-01": (5, 0)}, 5), False)
    idle_figures = InsightFigures(idle, _seats_counters({"2026-11-01": (5, 0)}, 5), False)
    entries = vendor_entries([over_figures, idle_figures], [], now)
    [opportunity] = entries.opportunities
    assert (opportunity.kind, opportunity.plan_id, opportunity.units) == (OpportunityKind.OVERDRAFT, "p-over", 90)
    assert opportunity.money == Money(Decimal("90.00"), "EUR")  # 365 × 90 unit-days ÷ 365
    assert [r.plan_id for r in entries.renewals_at_risk] == ["p-idle"]  # 5 % used, 31 days left


def test_the_digest_notice_is_once_per_week_and_set_of_items() -> None:
    monday = utc(2026, 11, 30, 1)
    item = seats_reclaimable(
        SeatsReclaimableInput(make_plan(PlanType.SEATS, 4), 4, InactiveAssignments(2, ("u1", "u2"))), monday
    )
    assert item is not None
    assert digest_due(monday)
    assert not digest_due(monday + timedelta(days=1))
    notice = digest_notice("org-1", [item], monday)
    again = digest_notice("org-1", [item], monday + timedelta(hours=5))
    next_week = digest_notice("org-1", [item], monday + timedelta(days=7))
    assert notice.once_key == again.once_key != next_week.once_key
    assert notice.data.insight_ids == (item.id,)
    assert item.title in notice.message
    assert item.action is not None
    assert item.action.path in notice.message
    assert len(notice.subject) < 100


def test_on_the_first_of_the_month_a_busy_mau_plan_is_no_renewal_at_risk_and_still_over() -> None:
    plan = make_plan(PlanType.MAU, 10, start=utc(2026, 1, 1), end=utc(2027, 1, 1))
    counters = PlanCounters(months={"2026-11": MonthCounts(14), "2026-12": MonthCounts(1)})
    first = utc(2026, 12, 1, 0, 15)
    assert standing_consumption(plan, counters, first) == 14  # November's, not December's 1
    entries = vendor_entries([InsightFigures(plan, counters, False)], [], first)
    assert entries.renewals_at_risk == []
    [overdraft] = entries.opportunities
    assert overdraft.kind is OpportunityKind.OVERDRAFT
    assert standing_consumption(plan, PlanCounters(months={"2026-12": MonthCounts(3)}), first) == 3


def test_a_days_refused_ids_are_kept_within_a_byte_budget() -> None:
    long_ids = [f"{n:04d}" + "é" * 250 for n in range(1000)]  # 504 bytes each
    events = [DayEvent(f"2026-06-30T10:00:00.000000Z#{n}#x", "seat.denied", user_id=u, plan_id="p")
              for n, u in enumerate(long_ids)]  # fmt: skip
    kept = day_figures(events, {}).seat_denials["p"]
    assert (kept.denials, kept.distinct_users) == (1000, 1000)
    assert sum(len(u.encode()) for u in kept.user_ids) <= 100_000
    assert len(kept.user_ids) == 100_000 // 504


def test_the_digest_remembers_what_it_sent_and_forgets_what_went_away() -> None:
    now = utc(2026, 11, 30, 1)

    def idle(count: int) -> Insight:
        users = tuple(f"u{n}" for n in range(count))
        found = seats_reclaimable(
            SeatsReclaimableInput(make_plan(PlanType.SEATS, 4), 4, InactiveAssignments(count, users)), now
        )
        assert found is not None
        return found

    two, three = idle(2), idle(3)
    assert digest_ids_kept([two], [], [two]) == {two.id}
    # Sent before and still there: kept; sent before and gone: forgotten (new again if it returns).
    assert digest_ids_kept([two, three], [two.id, "ins_gone"], [three]) == {two.id, three.id}
