"""Reading consumption: a plan's usage, its users, and every plan in overdraft (SPEC §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from license_usage.domain.consumption import plan_usage
from license_usage.domain.plans import Plan, PlanStatus, PlanType, plan_months
from license_usage.domain.seats import months_holding_seat
from license_usage.domain.timestamps import format_utc_seconds
from license_usage.store.consumption import PlanUser, list_plan_users
from license_usage.store.dirty_days import dirty_days_of
from license_usage.store.events import directory_changes
from license_usage.store.pages import Page
from license_usage.store.plans import flagged_over_amount, get_plan, plan_as_dict, plan_counters
from license_usage.store.users import users_by_id


def plan_with_status(plan: Plan, now: datetime) -> dict[str, Any]:
    return {**plan_as_dict(plan), "status": plan.status_at(now).value}


def usage_of(org_id: str, plan_id: str, now: datetime) -> dict[str, Any]:
    plan = get_plan(org_id, plan_id)
    counters = plan_counters(plan, now)
    usage = plan_usage(plan, counters, now)
    answer: dict[str, Any] = {
        "plan_id": plan.plan_id,
        "type": plan.type,
        "product": plan.product,
        "status": plan.status_at(now).value,
        "amount": usage.amount,
        "consumed": usage.consumed,
        "available": usage.available,
        "utilization_pct": usage.utilization_pct,
        "overage": usage.overage,
        "forecast_exhausted_on": usage.forecast_exhausted_on,
        "months": usage.months,
        # Counts are updated as each event is stored, so they are current when read.
        "data_as_of": format_utc_seconds(now),
        "freshness": "current",
    }
    if plan.type is PlanType.SEATS:
        answer["hard_limit"] = plan.hard_limit
        answer["inactive_assignments"] = counters.inactive_assignments
    return answer


def _month_flags(plan: Plan, user: PlanUser) -> dict[str, int]:
    used = months_holding_seat(plan, user.seat.periods) if plan.type is PlanType.SEATS else user.months
    return {month.month: int(month.month in used) for month in plan_months(plan.start, plan.end)}


def users_of(org_id: str, plan_id: str, limit: int, cursor: str | None) -> Page[dict[str, Any]]:
    """Per-user consumption, as in the users CSV (SPEC §8)."""
    plan = get_plan(org_id, plan_id)
    page = list_plan_users(plan_id, limit, cursor)
    # The directory holds what rollups wrote; the days still waiting for one add their entries.
    waiting = directory_changes(org_id, dirty_days_of(org_id))
    directory = users_by_id(org_id, [user.user_id for user in page.items], waiting)
    items = []
    for user in page.items:
        known = directory.get(user.user_id)
        items.append(
            {
                "user_id": user.user_id,
                "status": known.status if known else None,
                "roles": list(known.roles or []) if known else [],
                "group": known.group if known else None,
                "first_login": user.first_login[:19] + "Z" if user.first_login else None,
                "last_login": user.last_login[:19] + "Z" if user.last_login else None,
                "months": _month_flags(plan, user),
            }
        )
    return Page(items, page.next_cursor)


def overdrafts(now: datetime) -> list[dict[str, Any]]:
    """Every current plan using more than its amount, across organizations. Only the plans the
    sparse index flags are read, and each is checked again against its counters."""
    found = []
    for org_id, plan_id in flagged_over_amount():
        plan = get_plan(org_id, plan_id)
        if plan.status_at(now) is not PlanStatus.CURRENT:
            continue
        usage = plan_usage(plan, plan_counters(plan, now), now)
        if usage.consumed > plan.amount:
            found.append(
                {
                    "org_id": org_id,
                    "plan_id": plan_id,
                    "type": plan.type,
                    "product": plan.product,
                    "amount": plan.amount,
                    "consumed": usage.consumed,
                    "overage": usage.overage,
                    "utilization_pct": usage.utilization_pct,
                }
            )
    return found
