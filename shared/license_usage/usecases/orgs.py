"""The organizations, for the vendor (SPEC §5 ``GET /v1/orgs``): each with its current plans."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from license_usage.domain.plans import Plan, PlanStatus
from license_usage.domain.timestamps import display_utc
from license_usage.store.orgs import org_page
from license_usage.store.pages import Page
from license_usage.store.plans import plans_of_org

PLAN_READERS = 16


@dataclass(frozen=True)
class Organization:
    org_id: str
    created_at: str
    current_plans: list[Plan]


def organizations(limit: int, cursor: str | None, now: datetime) -> Page[Organization]:
    page = org_page(limit, cursor)
    # One query per organization of the page, side by side (a page may list a thousand).
    with ThreadPoolExecutor(max_workers=PLAN_READERS) as pool:
        plans = list(pool.map(plans_of_org, [org_id for org_id, _ in page.items]))
    items = [
        Organization(
            org_id=org_id,
            created_at=display_utc(created_at),
            current_plans=[p for p in org_plans if p.status_at(now) is PlanStatus.CURRENT],
        )
        for (org_id, created_at), org_plans in zip(page.items, plans, strict=True)
    ]
    return Page(items, page.next_cursor)
