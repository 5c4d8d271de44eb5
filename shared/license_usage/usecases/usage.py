"""Reading consumption: a plan's usage, its users, its seat history, and every plan in
overdraft (SPEC §5). Each returns a typed result the router maps field by field."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from license_usage.domain.consumption import (
    PlanCounters,
    SeatDay,
    Usage,
    active_share,
    is_over,
    plan_usage,
    seat_days,
)
from license_usage.domain.plans import Plan, PlanStatus, PlanType, plan_months
from license_usage.domain.timestamps import display_utc
from license_usage.store.dirty_days import dirty_days_of
from license_usage.store.events import directory_changes
from license_usage.store.pages import Page
from license_usage.store.plan_users import list_plan_users
from license_usage.store.plans import flagged_over_amount, get_plan, plan_counters
from license_usage.store.seat_swings import seat_swings
from license_usage.store.users import users_by_id


def counters_of(plan: Plan) -> PlanCounters:
    """The plan's tallies, with the rollup's seat swings."""
    counters = plan_counters(plan)
    if plan.type is PlanType.SEATS:
        last = (plan.end - timedelta(microseconds=1)).date()
        counters = replace(counters, swings=seat_swings(plan.plan_id, plan.start.date(), last))
    return counters


@dataclass(frozen=True)
class PlanUsage:
    plan: Plan
    status: PlanStatus
    usage: Usage
    data_as_of: datetime
    freshness: str  # "current", or "aggregating" while a figure waits for the rollup
    inactive_assignments: int | None  # seats plans
    active_assigned: int | None = None  # seats plans that assign by role (SPEC §2)
    active_pct: float | None = None


def freshness_of(settled: bool) -> str:
    return "current" if settled else "aggregating"


def usage_of(org_id: str, plan_id: str, now: datetime) -> PlanUsage:
    plan = get_plan(org_id, plan_id)
    counters = counters_of(plan)
    usage = plan_usage(plan, counters, now)
    return PlanUsage(
        plan=plan,
        status=plan.status_at(now),
        usage=usage,
        # Counts are updated as each event is stored; only seat peaks within a day wait.
        data_as_of=now,
        freshness=freshness_of(usage.settled),
        inactive_assignments=counters.inactive_assignments if plan.type is PlanType.SEATS else None,
        active_assigned=counters.active_assigned if plan.assigns_by_role else None,
        active_pct=active_share(counters.active_assigned, counters.seats_in_use) if plan.assigns_by_role else None,
    )


def seat_history_of(org_id: str, plan_id: str, first: date, last: date) -> tuple[Plan, list[SeatDay]]:
    plan = get_plan(org_id, plan_id)
    return plan, seat_days(plan, counters_of(plan), first, last)


@dataclass(frozen=True)
class PlanUserRow:
    """Per-user consumption, as in the users CSV (SPEC §8)."""

    user_id: str
    status: str | None
    roles: list[str]
    group: str | None
    first_login: str | None
    last_login: str | None
    months: dict[str, int]
    seat_reason: str | None  # seats plans: login, role or claim


def users_of(org_id: str, plan_id: str, limit: int, cursor: str | None, now: datetime) -> Page[PlanUserRow]:
    plan = get_plan(org_id, plan_id)
    page = list_plan_users(plan_id, limit, cursor)
    # The directory holds what rollups wrote; the days still waiting for one add their entries.
    waiting = directory_changes(org_id, dirty_days_of(org_id))
    directory = users_by_id(org_id, [user.user_id for user in page.items], waiting)
    all_months = [month.month for month in plan_months(plan.start, plan.end)]
    rows = []
    for user in page.items:
        known = directory.get(user.user_id)
        used = user.seat_months(plan, now) if plan.type is PlanType.SEATS else user.consumed_months()
        rows.append(
            PlanUserRow(
                user_id=user.user_id,
                status=known.status if known else None,
                roles=list(known.roles) if known else [],
                group=known.group if known else None,
                first_login=display_utc(user.first_login) if user.first_login else None,
                last_login=display_utc(user.last_login) if user.last_login else None,
                months={month: int(month in used) for month in all_months},
                seat_reason=user.seat_reason if plan.type is PlanType.SEATS else None,
            )
        )
    return Page(rows, page.next_cursor)


@dataclass(frozen=True)
class Overdraft:
    org_id: str
    plan_id: str
    type: PlanType
    product: str
    amount: int
    consumed: int
    overage: int
    utilization_pct: float


def overdrafts(now: datetime, limit: int, cursor: str | None) -> Page[Overdraft]:
    """Every current plan using more than its amount, across organizations. Only the plans the
    sparse index flags are read, and each is checked again against its counters."""
    flagged = flagged_over_amount(limit, cursor)
    found = []
    for org_id, plan_id in flagged.items:
        plan = get_plan(org_id, plan_id)
        if plan.status_at(now) is not PlanStatus.CURRENT:
            continue
        usage = plan_usage(plan, counters_of(plan), now)
        if is_over(usage.consumed, plan.amount):
            found.append(
                Overdraft(
                    org_id=org_id,
                    plan_id=plan_id,
                    type=plan.type,
                    product=plan.product,
                    amount=plan.amount,
                    consumed=usage.consumed,
                    overage=usage.overage,
                    utilization_pct=usage.utilization_pct,
                )
            )
    return Page(found, flagged.next_cursor)
