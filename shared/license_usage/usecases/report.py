"""The License & AI Usage report (SPEC §6), from precomputed figures only."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from license_usage.domain.consumption import plan_usage, seats_month_rows
from license_usage.domain.plans import Plan, PlanType
from license_usage.domain.rollups import ai_actions, consumption_by_group, user_activity
from license_usage.domain.timeframes import Window, resolve_window
from license_usage.domain.timestamps import format_utc_seconds
from license_usage.store.dirty_days import dirty_days_of
from license_usage.store.plans import plan_counters, plans_of_org
from license_usage.store.rollups import data_as_of, precomputed_sections, roles_at, stored_days


def _plan_row(plan: Plan, as_of: datetime, now: datetime) -> dict[str, Any]:
    """A plan's figures at the end of the window (now, for a window that has not ended)."""
    counters = plan_counters(plan, now)
    if plan.type is PlanType.SEATS and as_of < now:
        rows = seats_month_rows(plan, counters, as_of)
        counters = replace(counters, seats_in_use=rows[-1]["seats_in_use_end"] if rows else 0)
    usage = plan_usage(plan, counters, as_of)
    return {
        "plan_id": plan.plan_id,
        "type": plan.type.value,
        "product": plan.product,
        "amount": plan.amount,
        "consumed": usage.consumed,
        "available": usage.available,
        "utilization_pct": usage.utilization_pct,
        "overage": usage.overage,
    }


def _window_end(window: Window) -> datetime:
    return datetime.combine(window.last + timedelta(days=1), time(), UTC)


def activity_sections(org_id: str, window: Window) -> dict[str, Any]:
    """The report's sections that add up days: user activity, groups and AI actions."""
    days, groups = stored_days(org_id, window.first, window.last)
    return {
        "user_activity": user_activity(days, window),
        "consumption_by_group": consumption_by_group(groups),
        "ai_actions": ai_actions(days, window),
    }


def license_ai_usage(
    org_id: str, timeframe: str, first: date | None, last: date | None, now: datetime
) -> dict[str, Any]:
    window = resolve_window(timeframe, now.date(), first, last)
    window_start = datetime.combine(window.first, time(), UTC)
    as_of = min(now, _window_end(window) - timedelta(microseconds=1))
    plans = [p for p in plans_of_org(org_id) if p.start < _window_end(window) and window_start < p.end]
    sections = precomputed_sections(org_id, window) if window.name != "custom" else None
    if sections is None:
        sections = activity_sections(org_id, window)
    pending = [day for day in dirty_days_of(org_id) if window.first.isoformat() <= day <= window.last.isoformat()]
    rolled_up_at = data_as_of(org_id)
    return {
        "org_id": org_id,
        "timeframe": {"name": window.name, "from": window.first.isoformat(), "to": window.last.isoformat()},
        "data_as_of": rolled_up_at[:19] + "Z" if rolled_up_at else None,
        # Events of the window's days are waiting for the next rollup.
        "freshness": "aggregating" if pending else "current",
        "license_usage": {"plans": [_plan_row(plan, as_of, now) for plan in plans]},
        "roles_distribution": roles_at(org_id, window.last),
        **sections,
        "generated_at": format_utc_seconds(now),
    }
