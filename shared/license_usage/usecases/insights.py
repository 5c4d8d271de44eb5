"""Insights (SPEC §11): an organization's recommendations, the vendor's ranked opportunities and
renewals at risk, the daily rollup's refresh of the vendor's index, and the weekly digest (SPEC §7).

Every figure is precomputed: the plans' counters (with the rollup's seat swings, idle seat
holders and refused seats) and the rollup's last-30-days report sections. An organization's
reads grow with its plans and the days of a plan, never with its users or events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from license_usage.domain.insights import (
    Insight,
    InsightFigures,
    VendorEntry,
    digest_ids_kept,
    digest_items,
    digest_notice,
    index_is_current,
    org_insights,
    vendor_entries,
)
from license_usage.domain.notifications import is_renewed
from license_usage.domain.plans import Plan, PlanStatus, PlanType
from license_usage.domain.rollups import SeatFigures
from license_usage.domain.timestamps import display_utc, format_utc_seconds
from license_usage.store import insights as stored
from license_usage.store.dirty_days import dirty_days_of
from license_usage.store.pages import Page
from license_usage.store.plans import plans_of_org
from license_usage.store.rollups import data_as_of, rolled_up_sections
from license_usage.store.seat_swings import seat_figures
from license_usage.usecases.outbox import deliver
from license_usage.usecases.ports import Outbox
from license_usage.usecases.usage import counters_of, freshness_of

logger = Logger(child=True)

ADOPTION_TIMEFRAME = "last_30_days"  # ai.low_adoption reads the rollup's sections of this timeframe


def insight_figures(plans: list[Plan], now: datetime) -> list[InsightFigures]:
    """The precomputed figures of the organization's current plans (``plans``: all of its plans)."""
    return [
        InsightFigures(
            plan=plan,
            counters=counters_of(plan),
            renewed=is_renewed(plan, plans),
            seats=seat_figures(plan.plan_id) if plan.type is PlanType.SEATS else SeatFigures(),
        )
        for plan in plans
        if plan.status_at(now) is PlanStatus.CURRENT
    ]


def _items(org_id: str, figures: list[InsightFigures], now: datetime) -> list[Insight]:
    sections = rolled_up_sections(org_id, ADOPTION_TIMEFRAME)
    groups = sections.consumption_by_group if sections else []
    return org_insights(org_id, figures, groups, now)


@dataclass(frozen=True)
class OrgInsights:
    org_id: str
    items: list[Insight]
    data_as_of: str | None  # when the daily rollup last settled the organization's figures
    freshness: str  # "aggregating" while a day of the organization waits for the rollup


def insights_of(org_id: str, now: datetime) -> OrgInsights:
    """SPEC §11 ``GET /v1/orgs/{org_id}/insights``."""
    items = _items(org_id, insight_figures(plans_of_org(org_id), now), now)
    rolled_up_at = data_as_of(org_id)
    return OrgInsights(
        org_id=org_id,
        items=items,
        data_as_of=display_utc(rolled_up_at) if rolled_up_at else None,
        freshness=freshness_of(not dirty_days_of(org_id)),
    )


# ---------------------------------------------------------------------- the vendor's view


def refresh_vendor_insights(org_id: str, plans: list[Plan], now: datetime) -> int:
    """The daily rollup: the organization's entries in the vendor's index, as of ``now``."""
    figures = insight_figures(plans, now)
    return stored.replace_vendor_entries(org_id, vendor_entries(figures, _items(org_id, figures, now), now))


def finish_vendor_refresh(now: datetime) -> None:
    stored.set_index_written(now)


@dataclass(frozen=True)
class VendorInsights:
    page: Page[VendorEntry]
    data_as_of: str | None
    freshness: str


def vendor_insights(category: str | None, limit: int, cursor: str | None, now: datetime) -> VendorInsights:
    """SPEC §11 ``GET /v1/insights``: the index as the last daily rollup wrote it; ``current`` when
    that was today (UTC), ``aggregating`` until today's rollup has run."""
    written_at = stored.index_written_at()
    return VendorInsights(
        page=stored.vendor_entries_page(category, limit, cursor),
        data_as_of=format_utc_seconds(written_at) if written_at else None,
        freshness=freshness_of(index_is_current(written_at, now)),
    )


# ---------------------------------------------------------------------- the weekly digest


def send_digest(outbox: Outbox, org_id: str, plans: list[Plan], now: datetime) -> int:
    """SPEC §7 ``insights.digest``: the organization's new warning and critical insights, once
    (stored once and published as every notice is). Returns how many were sent."""
    items = _items(org_id, insight_figures(plans, now), now)
    sent_before = stored.digest_sent(org_id)
    due = digest_items(items, sent_before)
    if not due:
        return 0
    sent = deliver(outbox, [digest_notice(org_id, due, now)])
    stored.set_digest_sent(org_id, digest_ids_kept(items, sent_before, due))
    return sent
