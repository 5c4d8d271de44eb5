"""The License & AI Usage report (SPEC §6), from precomputed figures only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from license_usage.domain.consumption import plan_figures, window_figures
from license_usage.domain.plan_user import CombinedLicenses, combined_licenses
from license_usage.domain.plans import Plan, PlanType
from license_usage.domain.rollups import ActivitySections, ai_actions, consumption_by_group, user_activity
from license_usage.domain.timeframes import Window, resolve_window
from license_usage.domain.timestamps import display_utc
from license_usage.store.dirty_days import dirty_days_of
from license_usage.store.plan_users import all_plan_users
from license_usage.store.plans import plans_of_org
from license_usage.store.rollups import data_as_of, precomputed_sections, roles_at, stored_days
from license_usage.usecases.usage import counters_of


@dataclass(frozen=True)
class ReportPlan:
    """A plan's figures at the end of the window (now, for a window that has not ended)."""

    plan_id: str
    type: PlanType
    product: str
    amount: int
    consumed: int
    available: int
    utilization_pct: float
    overage: int
    peak: int
    monthly_average: float


@dataclass(frozen=True)
class LicenseAiUsage:
    org_id: str
    window: Window
    data_as_of: str | None
    freshness: str  # "current", or "aggregating" while a day of the window waits for the rollup
    plans: list[ReportPlan]
    combined: list[CombinedLicenses]
    roles_distribution: dict[str, int]
    sections: ActivitySections


def _plan_row(plan: Plan, window: Window, as_of: datetime, now: datetime) -> ReportPlan:
    counters = counters_of(plan)
    figures = plan_figures(plan, counters, as_of, now)
    over_window = window_figures(plan, counters, window.first, window.last, now)
    return ReportPlan(
        plan_id=plan.plan_id,
        type=plan.type,
        product=plan.product,
        amount=figures.amount,
        consumed=figures.consumed,
        available=figures.available,
        utilization_pct=figures.utilization_pct,
        overage=figures.overage,
        peak=over_window.peak,
        monthly_average=over_window.monthly_average,
    )


def _combined(plans: list[Plan], as_of: datetime) -> list[CombinedLicenses]:
    """Users consuming from plans of two or more products at ``as_of`` (their plans' user items:
    the reads grow with users, not with events)."""
    covering = [plan for plan in plans if plan.covers(as_of)]
    if len({plan.product for plan in covering}) < 2:
        return []  # one product: nobody can combine, and no user item needs reading
    products_of_user: dict[str, set[str]] = defaultdict(set)
    for plan in covering:
        for user in all_plan_users(plan.plan_id):
            if user.consumes_at(plan, as_of):
                products_of_user[user.user_id].add(plan.product)
    return combined_licenses(products_of_user)


def activity_sections(org_id: str, window: Window) -> ActivitySections:
    """The report's sections that add up days: user activity, groups and AI actions."""
    days, groups = stored_days(org_id, window.first, window.last)
    return ActivitySections(
        user_activity=user_activity(days, window, groups),
        consumption_by_group=consumption_by_group(groups),
        ai_actions=ai_actions(days, window),
    )


def license_ai_usage(
    org_id: str, timeframe: str, first: date | None, last: date | None, now: datetime
) -> LicenseAiUsage:
    window = resolve_window(timeframe, now.date(), first, last)
    as_of = min(now, window.ends_at)
    plans = [p for p in plans_of_org(org_id) if p.start <= window.ends_at and window.starts_at < p.end]
    sections = precomputed_sections(org_id, window) if window.name != "custom" else None
    if sections is None:
        sections = activity_sections(org_id, window)
    pending = [day for day in dirty_days_of(org_id) if window.first.isoformat() <= day <= window.last.isoformat()]
    rolled_up_at = data_as_of(org_id)
    return LicenseAiUsage(
        org_id=org_id,
        window=window,
        data_as_of=display_utc(rolled_up_at) if rolled_up_at else None,
        freshness="aggregating" if pending else "current",
        plans=[_plan_row(plan, window, as_of, now) for plan in plans],
        combined=_combined(plans, as_of),
        roles_distribution=roles_at(org_id, window.last),
        sections=sections,
    )
