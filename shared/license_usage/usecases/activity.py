"""The entitlement activity log of a plan (SPEC §5): logins, seat claims, releases and denials,
deactivations, refreshes and feature use, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from license_usage.domain.errors import InvalidRequest
from license_usage.domain.events import (
    ACTIVITY_TYPES,
    MAX_EVENT_AGE,
    MAX_FUTURE_SKEW,
    MAX_PROPERTIES_DEPTH,
    nesting_depth,
)
from license_usage.domain.timestamps import display_utc
from license_usage.store.dirty_days import dirty_days_of
from license_usage.store.events import activity_log
from license_usage.store.pages import Page
from license_usage.store.plans import get_plan
from license_usage.store.rollups import activity_days


@dataclass(frozen=True)
class ActivityItem:
    timestamp: str
    type: str
    user_id: str | None
    ip: str | None
    instance_id: str | None
    product: str | None
    details: dict[str, Any]


def _readable(properties: dict[str, Any] | None) -> dict[str, Any]:
    """An event's properties as the log shows them: ingest keeps them to 32 levels, but an event
    stored before that rule must not break the page that lists it."""
    if properties is None:
        return {}
    if nesting_depth(properties) > MAX_PROPERTIES_DEPTH:
        return {"properties_omitted": f"nested deeper than {MAX_PROPERTIES_DEPTH} levels"}
    return dict(properties)


def activity_types(requested: Iterable[str] | None) -> frozenset[str]:
    """``type`` given as a comma list, repeated, or both; none given means every type."""
    names = frozenset(name for value in requested or () for name in value.split(",") if name)
    if not names:
        return ACTIVITY_TYPES
    if not names <= ACTIVITY_TYPES:
        unknown = ", ".join(sorted(names - ACTIVITY_TYPES))
        raise InvalidRequest(
            f"Unknown activity type: {unknown}.",
            [{"field": "type", "message": f"one of {', '.join(sorted(ACTIVITY_TYPES))}"}],
        )
    return names


def activity_of(
    org_id: str,
    plan_id: str,
    types: frozenset[str],
    first: datetime | None,
    last: datetime | None,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> Page[ActivityItem]:
    plan = get_plan(org_id, plan_id)
    if first is not None and last is not None and first > last:
        raise InvalidRequest("from is after to.", [{"field": "from", "message": "must not be after to"}])
    start = max(first or plan.start, now - MAX_EVENT_AGE - timedelta(days=1))
    end = min(last or now, now + MAX_FUTURE_SKEW)
    if start > end:
        return Page([], None)  # a window wholly before the kept history or after now holds nothing
    # The days that hold events: those the rollups indexed, and those still waiting for one.
    days = set(activity_days(org_id, start.date(), end.date())) | set(dirty_days_of(org_id))
    page = activity_log(org_id, plan_id, plan.product, types, start, end, days, limit, cursor)
    items = []
    for record in page.items:
        properties = _readable(record.properties)
        instance = record.instance_id
        if record.feature:
            properties["feature"] = record.feature
        items.append(
            ActivityItem(
                timestamp=display_utc(record.timestamp),
                type=record.type,
                user_id=record.user_id,
                ip=record.ip,
                instance_id=str(instance) if instance else None,
                product=record.product,
                details=properties,
            )
        )
    return Page(items, page.next_cursor)
