"""The daily notifications run (SPEC §7), after the rollups: publish what the outbox still holds,
then decide every plan's notices at its instant (with forecasts), and the weekly insights digest."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from license_usage.domain.consumption import plan_usage
from license_usage.domain.notifications import (
    Notice,
    UsageSnapshot,
    digest_due,
    expiry_notices,
    is_renewed,
    mau_month_forecast,
    not_sent,
    usage_notices,
)
from license_usage.domain.plans import Plan, PlanStatus, PlanType
from license_usage.store.orgs import all_org_ids
from license_usage.store.plans import plan_counters, plans_of_org
from license_usage.usecases.insights import send_digest
from license_usage.usecases.outbox import deliver, drain_outbox
from license_usage.usecases.ports import Outbox

logger = Logger(child=True)

RUN_THREADS = 8


def notices_due(plan: Plan, plans: Sequence[Plan], now: datetime) -> list[Notice]:
    """Every notice the plan is due at ``now`` (the daily run's view, with forecasts)."""
    notices = expiry_notices(plan, now, is_renewed(plan, plans))
    if plan.status_at(now) is PlanStatus.CURRENT:
        usage = plan_usage(plan, plan_counters(plan), now)
        forecast = (
            mau_month_forecast(plan, usage.consumed, now) if plan.type is PlanType.MAU else usage.forecast_exhausted_on
        )
        notices += usage_notices(plan, UsageSnapshot(usage.consumed, forecast, forecast_known=True), now)
    return not_sent(notices, plan.notices_sent)


@dataclass(frozen=True)
class NotificationRun:
    organizations: int
    plans: int
    sent: int
    republished: int


class RunIncomplete(RuntimeError):
    """Some plans could not be decided; the run is safe to repeat (EventBridge retries it)."""


def _run_org(outbox: Outbox, org_id: str, now: datetime) -> tuple[int, int, int]:
    """(plans, notices sent, plans or digests that failed) of one organization."""
    plans = plans_of_org(org_id)
    sent = failed = 0
    for plan in plans:
        try:
            sent += deliver(outbox, notices_due(plan, plans, now))
        except Exception:  # one plan's failure must not cost the others their notices
            logger.exception("notices of a plan not decided", extra={"org_id": org_id, "plan_id": plan.plan_id})
            failed += 1
    if digest_due(now):
        try:
            sent += send_digest(outbox, org_id, plans, now)
        except Exception:
            logger.exception("insights digest not decided", extra={"org_id": org_id})
            failed += 1
    return len(plans), sent, failed


def run_notifications(outbox: Outbox, now: datetime) -> NotificationRun:
    """Publish what the outbox holds, then decide every plan's notices at ``now``. Raises
    ``RunIncomplete`` at the end if a plan failed, after every other plan was done."""
    republished = drain_outbox(outbox)
    orgs = list(all_org_ids())
    with ThreadPoolExecutor(max_workers=RUN_THREADS, thread_name_prefix="notify") as pool:
        results = list(pool.map(lambda org_id: _run_org(outbox, org_id, now), orgs))
    run = NotificationRun(
        organizations=len(orgs),
        plans=sum(plans for plans, _, _ in results),
        sent=sum(sent for _, sent, _ in results),
        republished=republished,
    )
    failed = sum(failed for _, _, failed in results)
    if failed:
        raise RunIncomplete(f"{failed} plan(s) failed ({run}); a repeated run decides them again.")
    return run
