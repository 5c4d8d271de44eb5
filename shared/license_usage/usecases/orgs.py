"""The organizations, for the vendor (SPEC §5 ``GET /v1/orgs``): each with its current plans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from license_usage.domain.plans import Plan, PlanStatus
from license_usage.domain.timestamps import display_utc
from license_usage.store.orgs import org_page
from license_usage.store.pages import Page
from license_usage.store.plans import plans_of_org


@dataclass(frozen=True)
class Organization:
    org_id: str
    created_at: str
    current_plans: list[Plan]


def organizations(limit: int, cursor: str | None, now: datetime) -> Page[Organization]:
    page = org_page(limit, cursor)
    items = [
        Organization(
            org_id=org_id,
            created_at=display_utc(created_at),
            current_plans=[p for p in plans_of_org(org_id) if p.status_at(now) is PlanStatus.CURRENT],
        )
        for org_id, created_at in page.items
    ]
    return Page(items, page.next_cursor)
