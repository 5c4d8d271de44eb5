"""Insights (SPEC §11): recommendations with the evidence behind them and, where the API has one,
the exact call that acts on them; the vendor's ranking of expansion opportunities and renewals at
risk; which items a weekly ``insights.digest`` (SPEC §7) sends; and the money they are worth
(SPEC §5 plan ``unit_price`` and ``currency``).

Pure: every rule takes a typed input that a use case fills from precomputed figures (the plan's
counters, the daily rollup's figures), never from raw events, and ``now`` (UTC). Money is
``Decimal`` (exact ratios as ``Fraction`` until rounded once), never a float; every item turns into
JSON without one (``insight_json``)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from fractions import Fraction
from typing import TypeAlias
from urllib.parse import quote

from license_usage.domain.consumption import (
    FORECAST_WINDOW_DAYS,
    INACTIVE_AFTER_DAYS,
    PlanCounters,
    consumed_at,
    days_between,
    forecast_exhausted_on,
    seat_days,
    trailing_credits,
    utilization_pct,
)
from license_usage.domain.money import (
    Money,
    UnitPrice,
    round_half_up,
    unit_price_of,
)
from license_usage.domain.notifications import (
    FORECAST_NOTICE_DAYS,
    Notice,
    NoticeFigures,
    NoticeKind,
    subject_line,
)
from license_usage.domain.plan_user import PlanUser, is_inactive_assignment
from license_usage.domain.plans import Enforcement, Plan, PlanStatus, PlanType, one_year_after, plan_months
from license_usage.domain.rollups import UNASSIGNED_GROUP, DayDenials, GroupConsumption, RecentDenials, SeatFigures
from license_usage.domain.timestamps import format_utc, format_utc_seconds, order_key_instant

# SPEC §11 thresholds.
MAX_LISTED_USERS = 100  # seats.reclaimable names at most this many users
RENEWAL_WINDOW_DAYS = 90  # renewal.sizing and renewals at risk: end within this many days (inclusive)
SEATS_HEADROOM_PCT = 10  # renewal.sizing, seats: the 90 days' peak plus 10 %
COVERAGE_PCT = 90  # mau: the allowance covering 90 % of the months (nearest rank)
OVER_MONTHS_NEEDED = 2  # mau.over_allowance: over in at least 2 ...
OVER_MONTHS_LOOKED_AT = 3  # ... of the last 3 complete plan months
DENIAL_WINDOW_DAYS = 30  # hard_limit.denials looks at the last 30 days
OVERDRAFT_WINDOW_DAYS = 30  # the vendor's overdraft opportunities count the over-days of the last 30
AI_WINDOW_DAYS = 30  # ai.low_adoption: AI actions per active user over the last 30 days
ADOPTION_MIN_ACTIVE_USERS = 5  # ai.low_adoption compares groups of at least 5 active users
ADOPTION_SHARE = Fraction(1, 4)  # ... flagging those under a quarter of the median group
AT_RISK_UTILIZATION_PCT = 40  # renewals at risk: utilization under 40 %
# Severities (this module's choice; see each rule).
IDLE_SHARE_WARNING_PCT = 20  # seats.reclaimable is a warning from 20 % of the seats in use idle
RENEWAL_WARNING_DAYS = 30  # renewal.sizing is a warning within 30 days of end
RECENT_DENIAL_DAYS = 7  # hard_limit.denials is critical with a denial in the last 7 days

_DAY = timedelta(days=1)


def plan_year_days(plan: Plan) -> int:
    """The days of the plan's year, start to one year later: what ``unit_price`` is "per year" of
    (366 when it holds a 29 February, else 365), whether the plan runs a full year or ends earlier."""
    return (one_year_after(plan.start) - plan.start) // _DAY


def days_left(plan: Plan, now: datetime) -> int:
    """Whole UTC days from ``now`` to the plan's end, a part of a day counting as a day (0 at or
    after end)."""
    return max(0, math.ceil((plan.end - now) / _DAY))


# ---------------------------------------------------------------------- the items


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class InsightKind(StrEnum):
    SEATS_RECLAIMABLE = "seats.reclaimable"
    CREDITS_RUN_OUT = "credits.run_out"
    MAU_OVER_ALLOWANCE = "mau.over_allowance"
    RENEWAL_SIZING = "renewal.sizing"
    HARD_LIMIT_DENIALS = "hard_limit.denials"
    AI_LOW_ADOPTION = "ai.low_adoption"


_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
_KIND_ORDER = {kind: index for index, kind in enumerate(InsightKind)}


@dataclass(frozen=True)
class InsightAction:
    """The exact API call that acts on an item: ``path`` is ready to send (ids percent-encoded)."""

    summary: str
    method: str
    path: str
    body: Mapping[str, int] | None = None


@dataclass(frozen=True)
class SeatsReclaimableEvidence:
    idle_seats: int  # seats held with no login in the last 30 days
    user_ids: tuple[str, ...]  # the first MAX_LISTED_USERS of them, sorted
    seats_in_use: int
    amount: int
    inactive_after_days: int
    days_left: int  # whole days to the plan's end (a part of a day counts)
    plan_year_days: int
    unit_price: UnitPrice | None
    tied_up: Money | None  # unit_price × idle_seats × days_left ÷ plan_year_days


@dataclass(frozen=True)
class CreditsRunOutEvidence:
    forecast_exhausted_on: date
    amount: int
    credits_used: int
    credits_remaining: int  # max(0, amount − used)
    credits_last_30_days: int
    days_left: int
    credits_to_add: int  # to reach end at the trailing 30 days' rate
    unit_price: UnitPrice | None
    cost: Money | None  # credits_to_add × unit_price


@dataclass(frozen=True)
class MonthOverAllowance:
    month: str
    active_users: int
    overage: int


@dataclass(frozen=True)
class MauOverAllowanceEvidence:
    amount: int
    last_complete_months: tuple[MonthOverAllowance, ...]  # the last 3, oldest first
    over_months: tuple[str, ...]
    months_counted: int  # complete plan months the covering allowance looks at
    covering_allowance: int  # nearest-rank 90th percentile of their active users
    extra_allowance: int  # max(0, covering_allowance − amount)
    unit_price: UnitPrice | None
    extra_cost: Money | None  # extra_allowance × unit_price, per year


@dataclass(frozen=True)
class RenewalSizingEvidence:
    plan_type: str
    amount: int
    suggested_amount: int
    basis: str  # peak_seats_90_days_plus_10_pct | p90_monthly_active_users | credits_last_12_months_per_year
    basis_value: int  # the peak, the percentile, or the credits used in the observed days
    observed: int  # days (seats: 90; mauc: days observed) or months (mau) the basis covers
    ends_at: datetime
    days_left: int
    renewal_days: int  # the renewal's length (end to one year later)
    unit_price: UnitPrice | None
    renewal_value: Money | None  # suggested_amount × unit_price


@dataclass(frozen=True)
class HardLimitDenialsEvidence:
    denials: int  # logins and claims refused in the last 30 days
    distinct_users: int
    window_days: int
    last_denied_at: datetime | None
    seats_in_use: int
    amount: int
    overdraft: int
    hard_limit: int
    suggested_overdraft: int  # overdraft + distinct_users


@dataclass(frozen=True)
class AiLowAdoptionEvidence:
    group: str
    active_users: int
    ai_actions: int
    per_active_user: Decimal  # two decimals, half up (the comparison itself is exact)
    median_per_active_user: Decimal
    threshold_per_active_user: Decimal  # a quarter of the median
    groups_compared: int
    window_first: date
    window_last: date


Evidence: TypeAlias = (
    SeatsReclaimableEvidence
    | CreditsRunOutEvidence
    | MauOverAllowanceEvidence
    | RenewalSizingEvidence
    | HardLimitDenialsEvidence
    | AiLowAdoptionEvidence
)


@dataclass(frozen=True)
class Insight:
    """One item of SPEC §11 (``org_id`` is for the vendor's ranking and the digest; the
    organization's own route need not show it)."""

    id: str
    kind: InsightKind
    severity: Severity
    org_id: str
    plan_id: str | None
    title: str
    detail: str
    evidence: Evidence
    action: InsightAction | None


def insight_id(kind: InsightKind, org_id: str, plan_id: str | None, identity: Sequence[str | int]) -> str:
    """Deterministic from the kind, the organization and plan, and the figures that make the item
    "the same" (``identity``): the digest sends an id once, and a changed item has a new id. Figures
    that move every day (money left, a count of the last 30 days) are kept out of ``identity``."""
    text = json.dumps([kind.value, org_id, plan_id, list(identity)], separators=(",", ":"), ensure_ascii=False)
    return "ins_" + hashlib.sha256(text.encode()).hexdigest()[:20]


def _item(
    kind: InsightKind,
    severity: Severity,
    plan: Plan,
    identity: Sequence[str | int],
    title: str,
    detail: str,
    evidence: Evidence,
    action: InsightAction | None = None,
) -> Insight:
    return Insight(
        id=insight_id(kind, plan.org_id, plan.plan_id, identity),
        kind=kind,
        severity=severity,
        org_id=plan.org_id,
        plan_id=plan.plan_id,
        title=title,
        detail=detail,
        evidence=evidence,
        action=action,
    )


def _is_current(plan: Plan, now: datetime) -> bool:
    return plan.status_at(now) is PlanStatus.CURRENT


def _segment(text: str) -> str:
    return quote(text, safe="")


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _money_text(money: Money) -> str:
    return f"{money.amount:,} {money.currency}"


def nearest_rank_percentile(values: Iterable[int], percent: int) -> int:
    """The smallest value with at least ``percent`` % of the values at or below it (nearest rank:
    the ⌈percent × n ÷ 100⌉-th smallest). Raises ValueError when there is none."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = -(-percent * len(ordered) // 100)
    return ordered[max(rank, 1) - 1]


def median(values: Iterable[Fraction]) -> Fraction:
    """The middle value, or the mean of the two middle ones for an even count (exact)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _two_places(value: Fraction) -> Decimal:
    return round_half_up(value, 2)


# ---------------------------------------------------------------------- seats.reclaimable


@dataclass(frozen=True)
class InactiveAssignments:
    """SPEC §2 inactive assignments of a seats plan as the daily rollup finds them: how many, and
    the first ``MAX_LISTED_USERS`` user ids in sorted order."""

    count: int
    user_ids: tuple[str, ...]


def inactive_assignments(holders: Iterable[PlanUser], now: datetime) -> InactiveAssignments:
    """The daily rollup's pass over the plan's users (it makes this pass today for the count):
    a seat held by a user with no login in the last 30 days (``is_inactive_assignment``; a login
    exactly 30 days before ``now`` is in the last 30 days, so that seat is not idle)."""
    active_since = format_utc(now - timedelta(days=INACTIVE_AFTER_DAYS))
    idle = sorted(user.user_id for user in holders if is_inactive_assignment(user, active_since))
    return InactiveAssignments(count=len(idle), user_ids=tuple(idle[:MAX_LISTED_USERS]))


@dataclass(frozen=True)
class SeatsReclaimableInput:
    """- ``seats_in_use``: ``PlanCounters.seats_in_use`` (the plan's counter).
    - ``inactive``: the daily rollup's ``inactive_assignments(...)`` of the plan; today the counter
      keeps only the count (``PlanCounters.inactive_assignments``), the listed ids are to be kept.
    - ``unit_price``: ``unit_price_of(plan.unit_price, plan.currency)``."""

    plan: Plan
    seats_in_use: int
    inactive: InactiveAssignments
    unit_price: UnitPrice | None = None


def seat_release_path(org_id: str, user_id: str, product: str) -> str:
    """SPEC §5 ``DELETE /v1/orgs/{org_id}/seats/{user_id}`` for the plan's product."""
    return f"/v1/orgs/{_segment(org_id)}/seats/{_segment(user_id)}?product={_segment(product)}"


def seats_reclaimable(figures: SeatsReclaimableInput, now: datetime) -> Insight | None:
    """SPEC §11 seats.reclaimable: a current seats plan with seats held by users with no login in
    the last 30 days. With a price, the money they tie up for the rest of the plan:
    ``unit_price × idle seats × days_left ÷ plan_year_days`` (rounded once to the minor unit).

    Severity: warning when the idle seats are at least 20 % of the seats in use, or the plan is at
    or over its amount (reclaiming them avoids overage or a refused login); info otherwise.

    The action is one exact call, releasing the first listed user: SPEC's ``action`` is one call
    and the API releases one seat per call, so the dashboard's button repeats it for each id of
    ``evidence.user_ids`` (``seat_release_path``) after one confirmation.
    Same item while the idle count and the listed users stay the same."""
    plan, inactive = figures.plan, figures.inactive
    if plan.type is not PlanType.SEATS or not _is_current(plan, now) or inactive.count <= 0 or not inactive.user_ids:
        return None
    left, year = days_left(plan, now), plan_year_days(plan)
    price = figures.unit_price
    tied_up = price.times(Fraction(inactive.count * left, year)) if price else None
    idle_share_high = inactive.count * 100 >= IDLE_SHARE_WARNING_PCT * figures.seats_in_use
    severity = Severity.WARNING if idle_share_high or figures.seats_in_use >= plan.amount else Severity.INFO
    seats = _plural(inactive.count, "seat")
    detail = (
        f"{seats} of the {figures.seats_in_use:,} in use on the {plan.product} seats plan "
        f"belong to users with no login in the last {INACTIVE_AFTER_DAYS} days."
    )
    if tied_up is not None:
        detail += f" They tie up {_money_text(tied_up)} for the {_plural(left, 'day')} left of the plan."
    first = inactive.user_ids[0]
    listed = len(inactive.user_ids)
    action = InsightAction(
        summary=(
            f"Release the {listed:,} idle seat{'' if listed == 1 else 's'} listed in the evidence, one call per "
            f"user (this call releases {first})"
        ),
        method="DELETE",
        path=seat_release_path(plan.org_id, first, plan.product),
    )
    evidence = SeatsReclaimableEvidence(
        idle_seats=inactive.count,
        user_ids=inactive.user_ids,
        seats_in_use=figures.seats_in_use,
        amount=plan.amount,
        inactive_after_days=INACTIVE_AFTER_DAYS,
        days_left=left,
        plan_year_days=year,
        unit_price=price,
        tied_up=tied_up,
    )
    identity: list[str | int] = [inactive.count, *inactive.user_ids]
    title = f"{seats} held by inactive users can be released"
    return _item(InsightKind.SEATS_RECLAIMABLE, severity, plan, identity, title, detail, evidence, action)


# ---------------------------------------------------------------------- credits.run_out


@dataclass(frozen=True)
class CreditsInput:
    """- ``credits_used``: the plan's credits used so far, the sum of ``PlanCounters.months``
      (the usage API's ``consumed``).
    - ``credits_last_30_days``: the sum of ``PlanCounters.days[d].credits_used`` over
      ``consumption.trailing_days(now)`` (exactly what the usage API's forecast uses)."""

    plan: Plan
    credits_used: int
    credits_last_30_days: int
    unit_price: UnitPrice | None = None


def credits_to_add(plan: Plan, credits_used: int, credits_last_30_days: int, now: datetime) -> int:
    """Credits to add so the plan reaches its end at the trailing 30 days' rate:
    ``⌈credits_last_30_days × days_left ÷ 30⌉ − (amount − credits_used)``, at least 1
    (``days_left`` counts a part of a day as a day, as the forecast does)."""
    needed = -(-credits_last_30_days * days_left(plan, now) // FORECAST_WINDOW_DAYS)
    return max(1, needed - (plan.amount - credits_used))


def credits_run_out(figures: CreditsInput, now: datetime) -> Insight | None:
    """SPEC §11 credits.run_out: a current mauc plan whose forecast (SPEC §2, the usage API's
    ``forecast_exhausted_on``) exhausts its credits before ``end``; a forecast landing on the end
    day is none. Severity: critical when the date is within 30 days (as
    ``usage.forecast_exhaustion``), warning otherwise. Same item while the forecast stays in the same
    month and the severity the same (the date drifts a little with every day's rate)."""
    plan = figures.plan
    if plan.type is not PlanType.MAUC or not _is_current(plan, now):
        return None
    forecast = forecast_exhausted_on(plan, figures.credits_used, figures.credits_last_30_days, now)
    if forecast is None:
        return None
    to_add = credits_to_add(plan, figures.credits_used, figures.credits_last_30_days, now)
    price = figures.unit_price
    cost = price.times(to_add) if price else None
    soon = forecast <= now.date() + timedelta(days=FORECAST_NOTICE_DAYS)
    severity = Severity.CRITICAL if soon else Severity.WARNING
    evidence = CreditsRunOutEvidence(
        forecast_exhausted_on=forecast,
        amount=plan.amount,
        credits_used=figures.credits_used,
        credits_remaining=max(0, plan.amount - figures.credits_used),
        credits_last_30_days=figures.credits_last_30_days,
        days_left=days_left(plan, now),
        credits_to_add=to_add,
        unit_price=price,
        cost=cost,
    )
    title = f"Credits run out on {forecast.isoformat()}, before the plan ends"
    detail = (
        f"At the last {FORECAST_WINDOW_DAYS} days' rate ({figures.credits_last_30_days:,} credits) the "
        f"{plan.product} plan's {plan.amount:,} credits run out on {forecast.isoformat()}; "
        f"{_plural(to_add, 'credit')} more would reach its end on {format_utc_seconds(plan.end)}"
        + (f" ({_money_text(cost)})." if cost else ".")
    )
    identity = [forecast.strftime("%Y-%m"), severity.value]
    return _item(InsightKind.CREDITS_RUN_OUT, severity, plan, identity, title, detail, evidence)


# ---------------------------------------------------------------------- mau.over_allowance


@dataclass(frozen=True)
class MauInput:
    """``month_actives``: active users per plan month, ``PlanCounters.months[m].active_users``
    (the monthly rollup's month figures; only complete months are read)."""

    plan: Plan
    month_actives: Mapping[str, int]
    unit_price: UnitPrice | None = None


def complete_months(plan: Plan, now: datetime) -> list[str]:
    """The plan months that have ended by ``now`` (a month ending exactly at ``now`` has)."""
    return [month.month for month in plan_months(plan.start, plan.end) if month.ends_at <= now]


def mau_over_allowance(figures: MauInput, now: datetime) -> Insight | None:
    """SPEC §11 mau.over_allowance: a current mau plan over its amount (active users > amount) in
    at least 2 of its last 3 complete plan months (a clipped first month counts once it ended);
    none with fewer than 3. The allowance that would have covered 90 % of its months is the
    nearest-rank 90th percentile of every complete month's active users.
    Severity: critical when all 3 were over, warning for 2. Same item while the months over and
    the covering allowance stay the same."""
    plan = figures.plan
    if plan.type is not PlanType.MAU or not _is_current(plan, now):
        return None
    months = complete_months(plan, now)
    if len(months) < OVER_MONTHS_LOOKED_AT:
        return None
    actives = {month: figures.month_actives.get(month, 0) for month in months}
    last = [
        MonthOverAllowance(month, actives[month], max(0, actives[month] - plan.amount))
        for month in months[-OVER_MONTHS_LOOKED_AT:]
    ]
    over = tuple(row.month for row in last if row.active_users > plan.amount)
    if len(over) < OVER_MONTHS_NEEDED:
        return None
    covering = nearest_rank_percentile(actives.values(), COVERAGE_PCT)
    extra = max(0, covering - plan.amount)
    price = figures.unit_price
    extra_cost = price.times(extra) if price else None
    severity = Severity.CRITICAL if len(over) == OVER_MONTHS_LOOKED_AT else Severity.WARNING
    evidence = MauOverAllowanceEvidence(
        amount=plan.amount,
        last_complete_months=tuple(last),
        over_months=over,
        months_counted=len(months),
        covering_allowance=covering,
        extra_allowance=extra,
        unit_price=price,
        extra_cost=extra_cost,
    )
    title = f"Over the monthly allowance in {len(over)} of the last {OVER_MONTHS_LOOKED_AT} months"
    detail = (
        f"The {plan.product} plan allows {plan.amount:,} monthly active users and had more in "
        f"{', '.join(over)}. An allowance of {covering:,} would have covered {COVERAGE_PCT} % of its "
        f"{_plural(len(months), 'complete month')}"
        + (f" ({_money_text(extra_cost)} a year more)." if extra_cost and extra else ".")
    )
    identity: list[str | int] = [*over, covering]
    return _item(InsightKind.MAU_OVER_ALLOWANCE, severity, plan, identity, title, detail, evidence)


# ---------------------------------------------------------------------- renewal.sizing


@dataclass(frozen=True)
class SeatsPeak:
    """Seats: the highest seats in use on a day of the last 90 days (today included), the max of
    ``SeatDay.max`` of ``consumption.seat_days(plan, counters, today − 89 days, today)``."""

    peak_seats: int


@dataclass(frozen=True)
class MonthlyActives:
    """mau: ``PlanCounters.months[m].active_users`` per plan month (complete months are read)."""

    by_month: Mapping[str, int]


@dataclass(frozen=True)
class CreditsOverYear:
    """mauc: ``credits_used``, the sum of ``PlanCounters.days[d].credits_used`` over the
    ``days_observed`` UTC days from max(the plan's first day, today − 364 days) to today, both
    included (the last 12 months, or as much of them as the plan has)."""

    credits_used: int
    days_observed: int


RenewalFigures: TypeAlias = SeatsPeak | MonthlyActives | CreditsOverYear
_RENEWAL_FIGURES: dict[PlanType, type[SeatsPeak] | type[MonthlyActives] | type[CreditsOverYear]] = {
    PlanType.SEATS: SeatsPeak,
    PlanType.MAU: MonthlyActives,
    PlanType.MAUC: CreditsOverYear,
}


@dataclass(frozen=True)
class RenewalInput:
    """- ``renewed``: ``notifications.is_renewed(plan, plans_of_org)``.
    - ``figures``: the plan type's figures (``SeatsPeak``, ``MonthlyActives``, ``CreditsOverYear``)."""

    plan: Plan
    renewed: bool
    figures: RenewalFigures
    unit_price: UnitPrice | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.figures, _RENEWAL_FIGURES[self.plan.type]):
            raise TypeError(f"a {self.plan.type} plan's renewal takes {_RENEWAL_FIGURES[self.plan.type].__name__}")


def ends_within(plan: Plan, now: datetime, days: int) -> bool:
    """The plan is current and its end is at most ``days`` days away (exactly ``days``: yes, as
    ``plan.expiring`` counts its 90 days)."""
    return _is_current(plan, now) and plan.end - now <= timedelta(days=days)


def renewal_days(plan: Plan) -> int:
    """The length of the renewal, which starts at this plan's end and runs a year."""
    return (one_year_after(plan.end) - plan.end) // _DAY


def suggested_renewal(plan: Plan, figures: RenewalFigures, now: datetime) -> tuple[int, str, int, int] | None:
    """(suggested amount, basis, basis value, observed days or months), or None without figures:
    seats ⌈peak × 1.1⌉; mau the nearest-rank 90th percentile of the complete months' active users
    (none before a month is complete); mauc ⌈credits used × renewal_days ÷ days observed⌉.
    Every suggestion is at least 1 (a plan's amount is positive)."""
    if isinstance(figures, SeatsPeak):
        amount = -(-figures.peak_seats * (100 + SEATS_HEADROOM_PCT) // 100)
        return max(1, amount), "peak_seats_90_days_plus_10_pct", figures.peak_seats, RENEWAL_WINDOW_DAYS
    if isinstance(figures, MonthlyActives):
        months = complete_months(plan, now)
        if not months:
            return None
        p90 = nearest_rank_percentile((figures.by_month.get(m, 0) for m in months), COVERAGE_PCT)
        return max(1, p90), "p90_monthly_active_users", p90, len(months)
    if figures.days_observed <= 0:
        return None
    amount = -(-figures.credits_used * renewal_days(plan) // figures.days_observed)
    return max(1, amount), "credits_last_12_months_per_year", figures.credits_used, figures.days_observed


def renewal_path(org_id: str, plan_id: str) -> str:
    return f"/v1/orgs/{_segment(org_id)}/plans/{_segment(plan_id)}/renewal"


def renewal_sizing(figures: RenewalInput, now: datetime) -> Insight | None:
    """SPEC §11 renewal.sizing: a current plan, not renewed, ending within 90 days (exactly 90
    included): a suggested ``amount`` and the renewal call with it (vendor_admin).
    Severity: warning within 30 days of end, info before. Same item while the suggestion stays."""
    plan = figures.plan
    if figures.renewed or not ends_within(plan, now, RENEWAL_WINDOW_DAYS):
        return None
    suggestion = suggested_renewal(plan, figures.figures, now)
    if suggestion is None:
        return None
    amount, basis, basis_value, observed = suggestion
    left = days_left(plan, now)
    price = figures.unit_price
    value = price.times(amount) if price else None
    severity = Severity.WARNING if plan.end - now <= timedelta(days=RENEWAL_WARNING_DAYS) else Severity.INFO
    evidence = RenewalSizingEvidence(
        plan_type=plan.type.value,
        amount=plan.amount,
        suggested_amount=amount,
        basis=basis,
        basis_value=basis_value,
        observed=observed,
        ends_at=plan.end,
        days_left=left,
        renewal_days=renewal_days(plan),
        unit_price=price,
        renewal_value=value,
    )
    action = InsightAction(
        summary=f"Renew the {plan.product} {plan.type.value} plan with an amount of {amount:,} (vendor_admin)",
        method="POST",
        path=renewal_path(plan.org_id, plan.plan_id),
        body={"amount": amount},
    )
    title = f"The {plan.product} {plan.type.value} plan ends in {_plural(left, 'day')}: renew with {amount:,}"
    detail = (
        f"The plan ends on {format_utc_seconds(plan.end)} with an amount of {plan.amount:,}; "
        f"{basis.replace('_', ' ')}: {basis_value:,}, so {amount:,} is suggested for the renewal"
        + (f" ({_money_text(value)} a year)." if value else ".")
    )
    return _item(InsightKind.RENEWAL_SIZING, severity, plan, [amount], title, detail, evidence, action)


# ---------------------------------------------------------------------- hard_limit.denials


@dataclass(frozen=True)
class DenialsInput:
    """Denied seats of the last 30 days (the UTC days today − 29 to today), none kept today:
    - ``denials``: the sum of a per-day tally of the plan's ``seat.denied`` entries;
    - ``distinct_users``: the distinct users among them (per-day sets of denied user ids, merged);
    - ``last_denied_at``: the latest denial (the latest day with one is precise enough).
    ``seats_in_use``: ``PlanCounters.seats_in_use``."""

    plan: Plan
    denials: int
    distinct_users: int
    last_denied_at: datetime | None
    seats_in_use: int


def hard_limit_denials(figures: DenialsInput, now: datetime) -> Insight | None:
    """SPEC §11 hard_limit.denials: logins or claims a current hard-limited seats plan refused in
    the last 30 days: how many, how many distinct users, and a suggested ``overdraft`` = the
    current overdraft + the distinct users refused (enough for each of them to have had a seat at
    once). No action: SPEC §5 has no call that changes a plan's overdraft (the vendor sets it).
    Severity: critical with a denial in the last 7 days, warning otherwise. Same item while the
    suggested overdraft stays the same."""
    plan = figures.plan
    hard = plan.type is PlanType.SEATS and plan.enforcement is Enforcement.HARD
    if not hard or not _is_current(plan, now) or figures.denials <= 0:
        return None
    suggested = plan.overdraft + figures.distinct_users
    recent = figures.last_denied_at is not None and figures.last_denied_at >= now - timedelta(days=RECENT_DENIAL_DAYS)
    severity = Severity.CRITICAL if recent else Severity.WARNING
    evidence = HardLimitDenialsEvidence(
        denials=figures.denials,
        distinct_users=figures.distinct_users,
        window_days=DENIAL_WINDOW_DAYS,
        last_denied_at=figures.last_denied_at,
        seats_in_use=figures.seats_in_use,
        amount=plan.amount,
        overdraft=plan.overdraft,
        hard_limit=plan.hard_limit,
        suggested_overdraft=suggested,
    )
    title = f"{_plural(figures.denials, 'login')} refused by the hard limit in the last {DENIAL_WINDOW_DAYS} days"
    detail = (
        f"The {plan.product} seats plan's hard limit of {plan.hard_limit:,} seats refused "
        f"{_plural(figures.distinct_users, 'user')}; an overdraft of {suggested:,} "
        f"(now {plan.overdraft:,}) would have seated them."
    )
    return _item(InsightKind.HARD_LIMIT_DENIALS, severity, plan, [suggested], title, detail, evidence)


# ---------------------------------------------------------------------- ai.low_adoption


@dataclass(frozen=True)
class AdoptionInput:
    """``groups``: the ``consumption_by_group`` of the organization's ``last_30_days`` report
    sections, which the daily rollup precomputes (active users and AI actions per group over the
    UTC days today − 29 to today)."""

    org_id: str
    groups: Sequence[GroupConsumption]


def ai_low_adoption(figures: AdoptionInput, now: datetime) -> list[Insight]:
    """SPEC §11 ai.low_adoption: groups of at least 5 active users whose AI actions per active user
    are under (strictly) a quarter of the median of those groups (the mean of the two middle ones
    for an even count). Users without a group (``unassigned``) are no group: not compared, not
    flagged. Exact fractions decide; the evidence shows two decimals. Severity: info (adoption is
    advice, not a licensing risk, so the digest does not send it). Same item per group.
    Sorted by the lowest rate first."""
    compared = [
        g for g in figures.groups if g.active_users >= ADOPTION_MIN_ACTIVE_USERS and g.group != UNASSIGNED_GROUP
    ]
    if not compared:
        return []
    rates = {g.group: Fraction(g.ai_actions, g.active_users) for g in compared}
    middle = median(rates.values())
    threshold = middle * ADOPTION_SHARE
    today = now.date()
    first = today - timedelta(days=AI_WINDOW_DAYS - 1)
    items = []
    for group in sorted(compared, key=lambda g: (rates[g.group], g.group)):
        rate = rates[group.group]
        if rate >= threshold:
            continue
        evidence = AiLowAdoptionEvidence(
            group=group.group,
            active_users=group.active_users,
            ai_actions=group.ai_actions,
            per_active_user=_two_places(rate),
            median_per_active_user=_two_places(middle),
            threshold_per_active_user=_two_places(threshold),
            groups_compared=len(compared),
            window_first=first,
            window_last=today,
        )
        items.append(
            Insight(
                id=insight_id(InsightKind.AI_LOW_ADOPTION, figures.org_id, None, [group.group]),
                kind=InsightKind.AI_LOW_ADOPTION,
                severity=Severity.INFO,
                org_id=figures.org_id,
                plan_id=None,
                title=f"Low AI adoption in {group.group}",
                detail=(
                    f"{group.group}'s {group.active_users:,} active users took {evidence.per_active_user} AI "
                    f"actions each in the last {AI_WINDOW_DAYS} days, under a quarter of the median group's "
                    f"{evidence.median_per_active_user} ({len(compared)} groups of "
                    f"{ADOPTION_MIN_ACTIVE_USERS} or more active users compared)."
                ),
                evidence=evidence,
                action=None,
            )
        )
    return items


# ---------------------------------------------------------------------- lists, digest, JSON


def order_insights(items: Iterable[Insight]) -> list[Insight]:
    """Critical first, then warning, then info; then by kind (SPEC §11's order), plan and id."""
    return sorted(items, key=lambda i: (_SEVERITY_ORDER[i.severity], _KIND_ORDER[i.kind], i.plan_id or "", i.id))


# One digest names at most this many items (an item's lines are at most about 5 KB), so the notice
# stays far below SNS's 256 KB and DynamoDB's 400 KB; the rest, not remembered as sent, go next week.
MAX_DIGEST_ITEMS = 25


def digest_items(items: Iterable[Insight], sent_ids: Iterable[str]) -> list[Insight]:
    """SPEC §7 ``insights.digest``: the warning and critical items whose id was not sent before
    (an item that changed has a new id, so it is sent again; info items never are), in the
    insights' order (critical first), at most ``MAX_DIGEST_ITEMS`` of them."""
    sent = set(sent_ids)
    due = [i for i in items if i.severity in (Severity.WARNING, Severity.CRITICAL) and i.id not in sent]
    return order_insights(due)[:MAX_DIGEST_ITEMS]


def digest_ids_kept(items: Iterable[Insight], sent_ids: Iterable[str], due: Iterable[Insight]) -> frozenset[str]:
    """The ids to remember after a digest: those just sent, and of those sent before only the items
    that still exist (one that went away and comes back is new again)."""
    current = {item.id for item in items}
    return frozenset(set(sent_ids) & current) | {item.id for item in due}


JsonValue: TypeAlias = str | int | bool | list["JsonValue"] | dict[str, "JsonValue"] | None


def to_json_value(value: object) -> JsonValue:
    """Dataclasses as objects, Decimal as decimal text, dates as ISO dates, instants as UTC
    seconds ``…Z``, enums as their value. A float is refused: money and evidence never hold one."""
    if isinstance(value, Enum):
        return to_json_value(value.value)
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_utc_seconds(value)
    if isinstance(value, date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json_value(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    raise TypeError(f"not JSON for an insight: {type(value).__name__}")


def insight_json(item: Insight) -> dict[str, JsonValue]:
    """The SPEC §11 item as the API answers it (and the digest stores it)."""
    return {
        "id": item.id,
        "kind": item.kind.value,
        "severity": item.severity.value,
        "plan_id": item.plan_id,
        "title": item.title,
        "detail": item.detail,
        "evidence": to_json_value(item.evidence),
        "action": to_json_value(item.action),
    }


# ---------------------------------------------------------------------- the vendor's view


class OpportunityKind(StrEnum):
    OVERDRAFT = "overdraft"
    CREDITS_RUN_OUT = "credits.run_out"
    MAU_OVER_ALLOWANCE = "mau.over_allowance"


@dataclass(frozen=True)
class OverdraftInput:
    """A current plan using more than its amount (the sparse ``overdrafts`` index lists them):
    - ``over_days``: the days of the last 30 on which it used more than its amount (seats: a day
      whose ``SeatDay.max`` > amount; mau: a day whose month had more active users than the amount
      by its end), to be kept by the daily rollup;
    - ``excess``: consumed − amount now (the usage API's ``overage``)."""

    plan: Plan
    over_days: int
    excess: int
    unit_price: UnitPrice | None = None


@dataclass(frozen=True)
class Opportunity:
    """An expansion opportunity (SPEC §11 ``GET /v1/insights``): ``units`` and, with a price, ``money``."""

    kind: OpportunityKind
    org_id: str
    plan_id: str
    units: int
    money: Money | None
    insight_id: str | None = None  # the organization's item it comes from, if any


def overdraft_opportunity(figures: OverdraftInput) -> Opportunity | None:
    """Overdraft: ``units`` = over_days × excess (unit-days above the amount); ``money`` =
    unit_price × units ÷ plan_year_days (what those unit-days are worth at the yearly price)."""
    units = max(0, figures.over_days) * max(0, figures.excess)
    if units <= 0:
        return None
    plan, price = figures.plan, figures.unit_price
    money = price.times(Fraction(units, plan_year_days(plan))) if price else None
    return Opportunity(OpportunityKind.OVERDRAFT, plan.org_id, plan.plan_id, units, money)


def insight_opportunity(item: Insight) -> Opportunity | None:
    """credits.run_out: the credits to add (and their cost); mau.over_allowance: the allowance to
    add per month (and its yearly cost). Other kinds are no expansion."""
    evidence = item.evidence
    if item.plan_id is None:
        return None
    if isinstance(evidence, CreditsRunOutEvidence):
        units, money = evidence.credits_to_add, evidence.cost
        kind = OpportunityKind.CREDITS_RUN_OUT
    elif isinstance(evidence, MauOverAllowanceEvidence):
        units, money = evidence.extra_allowance, evidence.extra_cost
        kind = OpportunityKind.MAU_OVER_ALLOWANCE
    else:
        return None
    if units <= 0:
        return None
    return Opportunity(kind, item.org_id, item.plan_id, units, money, item.id)


# Rank texts: fixed-width figures, so that the texts sort as the ranking does (the vendor index
# keeps its entries under them, and every reader merges its shards in that order). Ids are
# ``[A-Za-z0-9._-]`` and kinds letters, dots and underscores: all sort after the ``#`` between them.
_MONEY_SCALE = 10**3  # every currency's minor unit is at most 3 decimals
_MONEY_WIDTH = 40
_UNITS_WIDTH = 32


def _descending(value: int, width: int) -> str:
    """A non-negative integer as text that sorts largest first."""
    if not 0 <= value < 10**width:
        raise ValueError(f"{value} does not fit {width} digits")
    return f"{10**width - 1 - value:0{width}d}"


def opportunity_rank_text(o: Opportunity) -> str:
    """Priced opportunities first, by money (largest first); then the unpriced, by units. Money
    of different currencies is never compared (the product keeps no exchange rates): priced items
    are grouped by currency code, each group by money. Ties: units, then organization, plan, kind."""
    units = _descending(max(0, o.units), _UNITS_WIDTH)
    tail = f"{o.org_id}#{o.plan_id}#{o.kind.value}"
    if o.money is not None:
        money = _descending(int(o.money.amount * _MONEY_SCALE), _MONEY_WIDTH)
        return f"0#{o.money.currency}#{money}#{units}#{tail}"
    return f"1#{units}#{tail}"


def rank_opportunities(items: Iterable[Opportunity]) -> list[Opportunity]:
    """The vendor's order of expansion opportunities (``opportunity_rank_text``)."""
    return sorted(items, key=opportunity_rank_text)


@dataclass(frozen=True)
class RenewalRiskInput:
    """- ``consumed``: the usage API's ``consumed`` (seats in use; mau this month's active users;
      mauc credits used), from ``PlanCounters``;
    - ``renewed``: ``notifications.is_renewed(plan, plans_of_org)``."""

    plan: Plan
    consumed: int
    renewed: bool
    unit_price: UnitPrice | None = None


@dataclass(frozen=True)
class RenewalAtRisk:
    org_id: str
    plan_id: str
    plan_type: str
    product: str
    ends_at: datetime
    days_left: int
    amount: int
    consumed: int
    utilization_pct: Decimal  # one decimal, exactly the usage API's figure
    value: Money | None  # amount × unit_price: the yearly value of renewing as is


def renewal_at_risk(figures: RenewalRiskInput, now: datetime) -> RenewalAtRisk | None:
    """A current plan, not renewed, ending within 90 days (exactly 90 included) whose utilization
    is under 40 % (decided on integers: consumed × 100 < 40 × amount)."""
    plan = figures.plan
    if figures.renewed or not ends_within(plan, now, RENEWAL_WINDOW_DAYS):
        return None
    if figures.consumed * 100 >= AT_RISK_UTILIZATION_PCT * plan.amount:
        return None
    price = figures.unit_price
    return RenewalAtRisk(
        org_id=plan.org_id,
        plan_id=plan.plan_id,
        plan_type=plan.type.value,
        product=plan.product,
        ends_at=plan.end,
        days_left=days_left(plan, now),
        amount=plan.amount,
        consumed=figures.consumed,
        # the usage API's one-decimal figure, as text: equal to it, and no float leaves here
        utilization_pct=Decimal(repr(utilization_pct(figures.consumed, plan.amount))),
        value=price.times(plan.amount) if price else None,
    )


def renewal_rank_text(r: RenewalAtRisk) -> str:
    """The soonest end first (the vendor has to act before it), then the lowest utilization, then
    organization and plan."""
    tenths = int(r.utilization_pct * 10)
    return f"{format_utc(r.ends_at)}#{tenths:04d}#{r.org_id}#{r.plan_id}"


def rank_renewals_at_risk(items: Iterable[RenewalAtRisk]) -> list[RenewalAtRisk]:
    return sorted(items, key=renewal_rank_text)


# ---------------------------------------------------------------------- from precomputed figures


@dataclass(frozen=True)
class InsightFigures:
    """What the rollups and counters keep of one plan, as the insights read it:
    - ``counters``: the plan's counters with the rollup's seat swings (``usecases.usage.counters_of``);
    - ``seats``: a seats plan's ``SeatFigures``;
    - ``renewed``: ``notifications.is_renewed(plan, plans_of_org)``."""

    plan: Plan
    counters: PlanCounters
    renewed: bool
    seats: SeatFigures = field(default_factory=SeatFigures)


def denial_window(now: datetime) -> tuple[date, date]:
    """The UTC days of hard_limit.denials' last 30 days: today − 29 to today."""
    today = now.date()
    return today - timedelta(days=DENIAL_WINDOW_DAYS - 1), today


def recent_denials(days: Mapping[str, DayDenials], now: datetime) -> RecentDenials:
    """The daily rollup's summary of a plan's refusals over ``denial_window(now)`` (from its days'
    ``DayDenials``): the count, the distinct users, the latest."""
    first, last = (d.isoformat() for d in denial_window(now))
    kept = [d for day, d in days.items() if first <= day <= last]
    users = frozenset().union(*(d.user_ids for d in kept)) if kept else frozenset()
    return RecentDenials(
        denials=sum(d.denials for d in kept),
        # Exact unless a day refused more users than it keeps ids of (then at least that day's count).
        distinct_users=max([len(users), *(d.distinct_users for d in kept)]),
        last_order_key=max((d.last_order_key for d in kept), default=None),
    )


def denials_input(plan: Plan, counters: PlanCounters, recent: RecentDenials) -> DenialsInput:
    return DenialsInput(
        plan=plan,
        denials=recent.denials,
        distinct_users=recent.distinct_users,
        last_denied_at=order_key_instant(recent.last_order_key) if recent.last_order_key else None,
        seats_in_use=counters.seats_in_use,
    )


def renewal_figures(plan: Plan, counters: PlanCounters, now: datetime) -> RenewalFigures:
    """SPEC §11 renewal.sizing's basis from the counters: seats the peak of the last 90 days (today
    included); mau every month's active users; mauc the credits of the last 12 months (or of the
    plan's days so far, when it is younger)."""
    today = now.date()
    if plan.type is PlanType.SEATS:
        rows = seat_days(plan, counters, today - timedelta(days=RENEWAL_WINDOW_DAYS - 1), today)
        return SeatsPeak(max((row.max for row in rows), default=counters.seats_in_use))
    if plan.type is PlanType.MAU:
        return MonthlyActives(_month_actives(counters))
    first = max(plan.start.date(), today - timedelta(days=364))
    days = days_between(first, today)
    credits = sum(counters.days[d.isoformat()].credits_used for d in days if d.isoformat() in counters.days)
    return CreditsOverYear(credits_used=credits, days_observed=len(days))


def _month_actives(counters: PlanCounters) -> dict[str, int]:
    """mau: each plan month's active users (mauc: its credits)."""
    return {month: counts.active_users for month, counts in counters.months.items()}


def plan_insights(figures: InsightFigures, now: datetime) -> list[Insight]:
    """Every plan-bound kind of SPEC §11 for one plan, from its precomputed figures."""
    plan, counters = figures.plan, figures.counters
    price = unit_price_of(plan.unit_price, plan.currency)
    found: list[Insight | None] = []
    if plan.type is PlanType.SEATS:
        inactive = InactiveAssignments(counters.inactive_assignments, figures.seats.idle_user_ids)
        found.append(seats_reclaimable(SeatsReclaimableInput(plan, counters.seats_in_use, inactive, price), now))
        found.append(hard_limit_denials(denials_input(plan, counters, figures.seats.recent_denials), now))
    if plan.type is PlanType.MAUC:
        credits = CreditsInput(plan, consumed_at(plan, counters, now, now), trailing_credits(counters, now), price)
        found.append(credits_run_out(credits, now))
    if plan.type is PlanType.MAU:
        found.append(mau_over_allowance(MauInput(plan, _month_actives(counters), price), now))
    if ends_within(plan, now, RENEWAL_WINDOW_DAYS) and not figures.renewed:
        found.append(renewal_sizing(RenewalInput(plan, False, renewal_figures(plan, counters, now), price), now))
    return [item for item in found if item is not None]


def org_insights(
    org_id: str, plans: Sequence[InsightFigures], groups: Sequence[GroupConsumption], now: datetime
) -> list[Insight]:
    """SPEC §11 for one organization: every current plan's items and the groups' AI adoption,
    in ``order_insights`` order."""
    items = [item for figures in plans if _is_current(figures.plan, now) for item in plan_insights(figures, now)]
    items += ai_low_adoption(AdoptionInput(org_id, groups), now)
    return order_insights(items)


def over_days(plan: Plan, counters: PlanCounters, now: datetime) -> int:
    """The days of the last 30 (today included, clipped to the plan) on which the plan used more
    than its amount: seats a day whose highest seats in use exceeded it; mau a day of a plan month
    with more active users (the current month: so far; a month's active users are not kept per
    day); mauc a day by whose end more credits were used."""
    today = now.date()
    first = max(today - timedelta(days=OVERDRAFT_WINDOW_DAYS - 1), plan.start.date())
    last = min(today, (plan.end - timedelta(microseconds=1)).date())
    if plan.type is PlanType.SEATS:
        return sum(row.max > plan.amount for row in seat_days(plan, counters, first, last))
    ends = [min(now, datetime.combine(d, time.max, UTC)) for d in days_between(first, last)]
    return sum(consumed_at(plan, counters, end, now) > plan.amount for end in ends)


def standing_consumption(plan: Plan, counters: PlanCounters, now: datetime) -> int:
    """What the vendor's view measures a current plan by: its consumption now (the usage API's
    ``consumed``); for a mau plan the higher of this plan month's active users and the last complete
    month's, since a month just begun has few (on the 1st a busy plan is no renewal at risk, and an
    overdraft has not ended)."""
    consumed = consumed_at(plan, counters, now, now)
    if plan.type is not PlanType.MAU:
        return consumed
    months = complete_months(plan, now)
    last = counters.months[months[-1]].active_users if months and months[-1] in counters.months else 0
    return max(consumed, last)


class VendorCategory(StrEnum):
    OPPORTUNITY = "opportunity"
    RENEWAL_AT_RISK = "renewal_at_risk"


VendorEntry: TypeAlias = Opportunity | RenewalAtRisk  # one entry of the vendor's list


def category_of(entry: VendorEntry) -> VendorCategory:
    return VendorCategory.OPPORTUNITY if isinstance(entry, Opportunity) else VendorCategory.RENEWAL_AT_RISK


# SPEC §11's vendor list: the expansion opportunities first, then the renewals at risk.
_CATEGORY_RANK = {VendorCategory.OPPORTUNITY: "1#", VendorCategory.RENEWAL_AT_RISK: "2#"}


def category_rank_prefix(category: VendorCategory) -> str:
    return _CATEGORY_RANK[category]


def vendor_rank_text(entry: VendorEntry) -> str:
    """The entry's place in the vendor's whole list, as text that sorts in that order."""
    rank = opportunity_rank_text(entry) if isinstance(entry, Opportunity) else renewal_rank_text(entry)
    return _CATEGORY_RANK[category_of(entry)] + rank


def index_is_current(written_at: datetime | None, now: datetime) -> bool:
    """The vendor's index is current when today's (UTC) daily rollup wrote it; aggregating before."""
    return written_at is not None and written_at.date() >= now.date()


@dataclass(frozen=True)
class VendorEntries:
    """What one organization puts in the vendor's index (SPEC §11 ``GET /v1/insights``)."""

    opportunities: list[Opportunity]
    renewals_at_risk: list[RenewalAtRisk]


def vendor_entries(plans: Sequence[InsightFigures], items: Sequence[Insight], now: datetime) -> VendorEntries:
    """Expansion opportunities (a current plan in overdraft: over-days × excess; and the
    organization's credits.run_out and mau.over_allowance items) and renewals at risk."""
    opportunities = [o for o in (insight_opportunity(item) for item in items) if o is not None]
    renewals = []
    for figures in plans:
        plan, counters = figures.plan, figures.counters
        if not _is_current(plan, now):
            continue
        consumed = standing_consumption(plan, counters, now)
        price = unit_price_of(plan.unit_price, plan.currency)
        if consumed > plan.amount:
            overdraft = overdraft_opportunity(
                OverdraftInput(plan, over_days(plan, counters, now), consumed - plan.amount, price)
            )
            if overdraft is not None:
                opportunities.append(overdraft)
        risk = renewal_at_risk(RenewalRiskInput(plan, consumed, figures.renewed, price), now)
        if risk is not None:
            renewals.append(risk)
    return VendorEntries(rank_opportunities(opportunities), rank_renewals_at_risk(renewals))


# ---------------------------------------------------------------------- the weekly digest (SPEC §7)


def digest_notice(org_id: str, items: Sequence[Insight], now: datetime) -> Notice:
    """One notice for the organization's new warning and critical items (``digest_items``). Once
    per ISO week and set of items: a repeated run that week stores nothing new."""
    week = now.isocalendar()
    ids = tuple(item.id for item in items)
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]
    critical = sum(item.severity is Severity.CRITICAL for item in items)
    counts = f"{_plural(len(items), 'new insight')}" + (f", {critical:,} critical" if critical else "")
    lines = [f"Organization: {org_id}", f"{counts} this week:", ""]
    for item in items:
        lines.append(f"- [{item.severity.value}] {item.title}")
        lines.append(f"  {item.detail}")
        if item.action is not None:
            lines.append(f"  Action: {item.action.summary}: {item.action.method} {item.action.path}")
    lines += ["", f"Every insight with its evidence: the dashboard's Insights view, GET /v1/orgs/{org_id}/insights."]
    return Notice(
        org_id=org_id,
        kind=NoticeKind.INSIGHTS_DIGEST,
        plan_id=None,
        threshold=None,
        created_at=now,
        subject=subject_line(f"[{org_id}] {counts}: {items[0].title}" if items else f"[{org_id}] {counts}"),
        message="\n".join(lines),
        data=NoticeFigures(insight_ids=ids),
        period=f"{week.year}-W{week.week:02d}/{digest}",
    )
