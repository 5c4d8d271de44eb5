"""Notifications (SPEC §7): deciding, storing once, publishing, and the daily run.

Every notice goes through ``deliver``: the store's conditional write decides whether it is new,
and only the caller that stored it publishes it, to SNS and then to the bus. What could not be
published stays in the outbox; ``run_notifications`` (the daily schedule) first publishes what an
earlier writer left there, then decides the notices every plan is due at its instant."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from license_usage.domain.access import Principal
from license_usage.domain.consumption import PlanCounters, consumed_at, plan_usage
from license_usage.domain.errors import InvalidRequest, NotFound
from license_usage.domain.notifications import (
    Notice,
    NoticeKind,
    TooManyOrganizations,
    UsageSnapshot,
    digest_due,
    expiry_notices,
    hard_limit_notice,
    is_renewed,
    mau_month_forecast,
    not_sent,
    notice_json,
    subscription_id,
    usage_notices,
)
from license_usage.domain.plans import Plan, PlanStatus, PlanType
from license_usage.domain.timestamps import display_utc, utc_now
from license_usage.faults import fault_point
from license_usage.observability import record_notification_sent
from license_usage.store import notifications as stored
from license_usage.store import subscriptions
from license_usage.store.audit import record_audit
from license_usage.store.orgs import all_org_ids
from license_usage.store.pages import Page
from license_usage.store.plans import plan_counters, plans_of_org
from license_usage.store.publishing import BUS, SNS, PublishFailed, publish_to_topic, put_on_bus
from license_usage.store.subscriptions import StoredSubscription

logger = Logger(child=True)

# How long the writer of a notice has to publish it before a run takes it over (wall clock;
# NOTICE_LEASE_SECONDS shortens it for the tests that crash a writer on purpose).
LEASE = timedelta(seconds=int(os.environ.get("NOTICE_LEASE_SECONDS") or 60))
RUN_THREADS = 8


def _publish(pending: stored.Pending) -> bool:
    """Publish to the channels not done yet; out of the outbox when both are."""
    notice = pending.notice
    done = set(pending.published)
    try:
        if SNS not in done:
            publish_to_topic(notice.org_id, notice.kind.value, notice.subject, notice.message)
            done.add(SNS)
        if BUS not in done:
            put_on_bus(notice.kind.value, notice_json(notice))
            done.add(BUS)
    except (PublishFailed, ClientError, BotoCoreError) as error:
        logger.warning("notice left in the outbox", extra={"notice_id": notice.notice_id, "error": str(error)})
        for channel in done - pending.published:
            stored.mark_published(notice.notice_id, channel)
        return False
    stored.finish(notice.notice_id)
    record_notification_sent()
    return True


def deliver(notices: Iterable[Notice]) -> int:
    """Store each notice unless it was sent before; publish the ones stored here. Returns how many
    were new."""
    new = 0
    for notice in notices:
        if stored.record_once(notice, utc_now() + LEASE):
            new += 1
            fault_point("after_notice_stored")
            _publish(stored.Pending(notice, frozenset()))
    return new


def drain_outbox() -> int:
    """Publish what earlier writers stored but did not publish (a crash, a failed channel)."""
    return sum(_publish(pending) for pending in stored.claim_pending(utc_now(), LEASE))


def raise_usage_notices(plan: Plan, counters: PlanCounters, now: datetime, refused: Sequence[str] = ()) -> int:
    """At ingest and seat claims: usage.threshold and usage.overdraft from the counters just read,
    and usage.hard_limit when a seat was refused. Never fails its caller: what it could not send,
    the daily run decides again (a refusal is logged)."""
    snapshot = UsageSnapshot(consumed=consumed_at(plan, counters, now, now))
    notices = usage_notices(plan, snapshot, now)
    if refused:
        notices.append(hard_limit_notice(plan, counters.seats_in_use, refused[0], now))
    due = not_sent(notices, plan.notices_sent)
    if not due:
        return 0
    try:
        return deliver(due)
    except Exception:  # the events are stored and counted; a notice must not fail the request
        logger.exception("usage notices not sent", extra={"plan_id": plan.plan_id, "refused": list(refused)})
        return 0


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


def _run_org(org_id: str, now: datetime) -> tuple[int, int, int]:
    """(plans, notices sent, plans or digests that failed) of one organization."""
    plans = plans_of_org(org_id)
    sent = failed = 0
    for plan in plans:
        try:
            sent += deliver(notices_due(plan, plans, now))
        except Exception:  # one plan's failure must not cost the others their notices
            logger.exception("notices of a plan not decided", extra={"org_id": org_id, "plan_id": plan.plan_id})
            failed += 1
    if digest_due(now):
        # Imported here: ingest and the API raise notices too, and need none of the insights' rules.
        from license_usage.usecases.insights import send_digest

        try:
            sent += send_digest(org_id, plans, now)
        except Exception:
            logger.exception("insights digest not decided", extra={"org_id": org_id})
            failed += 1
    return len(plans), sent, failed


def run_notifications(now: datetime) -> NotificationRun:
    """Publish what the outbox holds, then decide every plan's notices at ``now``. Raises
    ``RunIncomplete`` at the end if a plan failed, after every other plan was done."""
    republished = drain_outbox()
    orgs = list(all_org_ids())
    with ThreadPoolExecutor(max_workers=RUN_THREADS, thread_name_prefix="notify") as pool:
        results = list(pool.map(lambda org_id: _run_org(org_id, now), orgs))
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


def list_notifications(org_id: str, limit: int, cursor: str | None) -> Page[Notice]:
    return stored.list_notices(org_id, limit, cursor)


# ---------------------------------------------------------------------- email subscriptions


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    email: str
    kinds: list[str]
    status: str  # pending until the address confirms, then confirmed
    created_at: str


def _subscription(found: StoredSubscription, pending: bool) -> Subscription:
    return Subscription(
        subscription_id=found.subscription_id,
        email=found.email,
        kinds=list(found.kinds),
        status="pending" if pending else "confirmed",
        created_at=display_utc(found.created_at),
    )


def subscribe(org_id: str, email: str, kinds: Sequence[NoticeKind], actor: Principal, now: datetime) -> Subscription:
    """SPEC §5: subscribe an address to this organization's notices only (of ``kinds``, if any).
    An address another organization subscribed is answered exactly as a new one (issue 20): SNS
    keeps one subscription per address, whose policy then names both organizations
    (store/subscriptions.py)."""
    chosen = tuple(sorted({kind.value for kind in kinds}))
    sub_id = subscription_id(org_id, email)
    before = subscriptions.get_subscription(org_id, sub_id)
    try:
        arn = subscriptions.add_organization(email, org_id, chosen)
    except subscriptions.SnsRefused as refusal:
        raise InvalidRequest(
            f"SNS refused the subscription: {refusal}", [{"field": "email", "message": str(refusal)}]
        ) from None
    except TooManyOrganizations as refusal:
        raise InvalidRequest(str(refusal), [{"field": "email", "message": str(refusal)}]) from None
    found = subscriptions.save_subscription(org_id, sub_id, email, chosen, arn, now)
    record_audit(
        org_id,
        actor,
        "subscription.updated" if before else "subscription.created",
        sub_id,
        now,
        {"email": before.email, "kinds": list(before.kinds)} if before else None,
        {"email": email, "kinds": list(chosen)},
    )
    return _subscription(found, subscriptions.is_pending(found.arn))


def subscriptions_of(org_id: str, limit: int, cursor: str | None) -> Page[Subscription]:
    page = subscriptions.list_subscriptions(org_id, limit, cursor)
    return Page([_subscription(s, subscriptions.is_pending(s.arn)) for s in page.items], page.next_cursor)


def unsubscribe(org_id: str, sub_id: str, actor: Principal, now: datetime) -> None:
    found = subscriptions.get_subscription(org_id, sub_id)
    if found is None:
        raise NotFound(f"No subscription {sub_id} in organization {org_id}.")
    subscriptions.remove_organization(found.email, org_id)
    subscriptions.delete_subscription(org_id, found)
    record_audit(
        org_id, actor, "subscription.deleted", sub_id, now, {"email": found.email, "kinds": list(found.kinds)}, None
    )
