"""Plans and plan months (SPEC §2): annual entitlements of one organization for one product."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from license_usage.domain.errors import Conflict, InvalidRequest
from license_usage.domain.timestamps import LATEST, add_capped

# SPEC §5: notify_at, percents of amount, 1 to 1000, default [80, 100].
DEFAULT_NOTIFY_AT = (80, 100)
NOTIFY_AT_RANGE = (1, 1000)


class PlanType(StrEnum):
    SEATS = "seats"
    MAU = "mau"
    MAUC = "mauc"


class Enforcement(StrEnum):
    SOFT = "soft"
    HARD = "hard"


class PlanStatus(StrEnum):
    FUTURE = "future"
    CURRENT = "current"
    GRACE = "grace"
    PAST = "past"


class PlanOverlaps(Conflict):
    code = "plan_overlaps"


@dataclass(frozen=True)
class Plan:
    plan_id: str
    org_id: str
    type: PlanType
    product: str
    amount: int
    start: datetime
    end: datetime
    overdraft: int = 0
    enforcement: Enforcement = Enforcement.SOFT
    grace_days: int = 0
    assign_roles: tuple[str, ...] = ()  # seats plans: seats follow these roles, not logins (SPEC §2)
    notify_at: tuple[int, ...] = DEFAULT_NOTIFY_AT  # usage.threshold percents (SPEC §5, §7)
    renewed_from: str | None = None  # the plan this one renews
    unit_price: str | None = None  # SPEC §5: decimal text, per unit per year (with currency)
    currency: str | None = None  # ISO 4217
    notices_sent: frozenset[str] = frozenset()  # once keys of the notices sent (domain.notifications)

    @property
    def assigns_by_role(self) -> bool:
        return self.type is PlanType.SEATS and bool(self.assign_roles)

    @property
    def hard_limit(self) -> int:
        """Seats in use never exceed this under hard enforcement (SPEC §2)."""
        return self.amount + self.overdraft

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def status_at(self, now: datetime) -> PlanStatus:
        """SPEC §2: future before start, current in [start, end), grace in [end, end + grace_days), past after."""
        if now < self.start:
            return PlanStatus.FUTURE
        if now < self.end:
            return PlanStatus.CURRENT
        if now < add_capped(self.end, timedelta(days=self.grace_days)):
            return PlanStatus.GRACE
        return PlanStatus.PAST


def one_year_after(start: datetime) -> datetime:
    """The same instant a calendar year later; 29 February maps to 28 February. A plan starting
    in 9999 ends at the end of 9999 at the latest (no instant after it is taken)."""
    year = start.year + 1
    if year > LATEST.year:
        return LATEST
    day = min(start.day, calendar.monthrange(year, start.month)[1])
    return start.replace(year=year, day=day)


def check_plan_terms(
    plan_type: PlanType,
    start: datetime,
    end: datetime,
    amount: int,
    overdraft: int,
    grace_days: int,
    enforcement: Enforcement = Enforcement.SOFT,
    assign_roles: tuple[str, ...] = (),
    notify_at: tuple[int, ...] = DEFAULT_NOTIFY_AT,
    unit_price: str | None = None,
    currency: str | None = None,
) -> None:
    """SPEC §2: annual plans (end after start, at most one year later), a positive amount;
    enforcement and assignment by role apply to seats plans only. SPEC §5: a price needs its
    currency and a currency its price (money is never shown without both)."""
    problems = []
    if (unit_price is None) != (currency is None):
        missing = "currency" if currency is None else "unit_price"
        problems.append({"field": missing, "message": "unit_price and currency are given together or not at all"})
    if assign_roles and plan_type is not PlanType.SEATS:
        problems.append({"field": "assign_roles", "message": "assignment by role applies to seats plans only"})
    if enforcement is Enforcement.HARD and plan_type is not PlanType.SEATS:
        problems.append({"field": "enforcement", "message": "hard enforcement applies to seats plans only"})
    low, high = NOTIFY_AT_RANGE
    if any(not low <= percent <= high for percent in notify_at):
        problems.append({"field": "notify_at", "message": f"each percent must be {low} to {high}"})
    if len(set(notify_at)) != len(notify_at):
        problems.append({"field": "notify_at", "message": "percents must not repeat"})
    if amount <= 0:
        problems.append({"field": "amount", "message": "must be greater than 0"})
    if overdraft < 0:
        problems.append({"field": "overdraft", "message": "must be 0 or more"})
    if grace_days < 0:
        problems.append({"field": "grace_days", "message": "must be 0 or more"})
    if end <= start:
        problems.append({"field": "end", "message": "must be after start"})
    elif end > one_year_after(start):
        problems.append({"field": "end", "message": "may be at most one year after start"})
    if problems:
        raise InvalidRequest("The plan's terms are not valid.", problems)


def overlaps(start: datetime, end: datetime, other_start: datetime, other_end: datetime) -> bool:
    """Two half-open intervals [start, end) and [other_start, other_end) share an instant."""
    return start < other_end and other_start < end


def check_no_overlap(new: Plan, existing: Iterable[Plan]) -> None:
    """SPEC §2: plans of the same organization, product and type may not overlap."""
    for plan in existing:
        same_kind = (plan.org_id, plan.type, plan.product) == (new.org_id, new.type, new.product)
        same_kind = same_kind and plan.plan_id != new.plan_id
        if same_kind and overlaps(plan.start, plan.end, new.start, new.end):
            raise PlanOverlaps(
                f"The {new.type} plan for {new.product} overlaps plan {plan.plan_id} "
                f"({plan.start.isoformat()} to {plan.end.isoformat()}).",
            )


@dataclass(frozen=True)
class PlanMonth:
    """A calendar month in UTC clipped to the plan: [starts_at, ends_at)."""

    month: str  # YYYY-MM
    starts_at: datetime
    ends_at: datetime

    @property
    def first_day(self) -> date:
        return self.starts_at.date()

    @property
    def last_day(self) -> date:
        """The last UTC day the month includes (its end is exclusive)."""
        return (self.ends_at - timedelta(microseconds=1)).date()


def month_of(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m")


def _next_month_start(instant: datetime) -> datetime:
    if instant.month == 12 and instant.year == LATEST.year:
        return LATEST
    if instant.month == 12:
        return datetime(instant.year + 1, 1, 1, tzinfo=UTC)
    return datetime(instant.year, instant.month + 1, 1, tzinfo=UTC)


def plan_months(start: datetime, end: datetime) -> list[PlanMonth]:
    """SPEC §2: calendar months in UTC, clipped to [start, end). A plan from 2025-03-15 to
    2026-03-15 has 13: 2025-03 (15th to 31st) … 2026-03 (1st to 14th)."""
    months = []
    cursor = start.astimezone(UTC)
    end = end.astimezone(UTC)
    while cursor < end:
        boundary = min(_next_month_start(cursor), end)
        months.append(PlanMonth(month=month_of(cursor), starts_at=cursor, ends_at=boundary))
        cursor = boundary
    return months


class ProductAmbiguous(InvalidRequest):
    code = "product_required"


def implied_product(plans: Iterable[Plan], at: datetime) -> str | None:
    """SPEC §4: ``product`` may be omitted when the organization has one current plan; then it
    is that plan's product. With no current plan the event is activity only (None); with plans
    for several products the event must name one."""
    products = sorted({plan.product for plan in plans if plan.covers(at)})
    if len(products) > 1:
        raise ProductAmbiguous(f"product is required: the organization has current plans for {', '.join(products)}")
    return products[0] if products else None
