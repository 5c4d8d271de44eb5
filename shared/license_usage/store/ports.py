"""The DynamoDB (and SNS, EventBridge) implementations of the use cases' ports
(``usecases/ports.py``), delegating to the store's functions. ``dynamo_ports()`` is called once, at
a function's entry. What only a rare path needs (the users directory, the outbox, publishing, the
audit entry of an API seat call) is imported on first use, so a cold start pays for what it runs."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, TypeVar

from license_usage.domain.access import Principal
from license_usage.domain.consumption import PlanCounters
from license_usage.domain.counting import SeatAudit
from license_usage.domain.directory import DirectoryChange
from license_usage.domain.events import UsageEvent
from license_usage.domain.plan_user import Change, PlanUser
from license_usage.domain.plans import Plan
from license_usage.store import dirty_days, events, plan_users, plans
from license_usage.store.io import io_pool
from license_usage.usecases.ports import (
    CommitResult,
    GroupResult,
    Outbox,
    Pending,
    Ports,
    PublishFailed,
    Stored,
    UserKey,
)

if TYPE_CHECKING:
    from license_usage.domain.notifications import Notice
    from license_usage.store.tables import LicensingItem

T = TypeVar("T")
R = TypeVar("R")

_RESULTS = {
    plan_users.CommitOutcome.COMMITTED: CommitResult.COMMITTED,
    plan_users.CommitOutcome.VERSION_CHANGED: CommitResult.VERSION_CHANGED,
    plan_users.CommitOutcome.SEAT_LIMIT: CommitResult.SEAT_LIMIT,
}


def _seat_audit(plan: Plan, user_id: str, audit: SeatAudit, now: datetime) -> LicensingItem:
    from license_usage.store.audit import audit_record

    def snapshot(held: bool) -> dict[str, object]:
        return {"user_id": user_id, "seat": "held" if held else "none"}

    action = "seat.claimed" if audit.taking else "seat.released"
    target = f"{plan.plan_id}/{user_id}"
    return audit_record(
        plan.org_id, audit.actor, action, target, now, snapshot(not audit.taking), snapshot(audit.taking)
    )


def _change_bytes(change: Change) -> int:
    """A generous estimate of what a change weighs in a transaction (its user's item dominates)."""
    marks = sum(len(mark.order_key) + len(mark.source) + 24 for mark in change.after.marks)
    return 2_000 + marks + 1_000 * plan_users.group_items(change)


def _groups(changes: Sequence[Change]) -> list[list[Change]]:
    """Consecutive changes in transactions of at most GROUP_ITEMS items and GROUP_BYTES bytes,
    keeping room for the group's tallies (one per day and month it touches) and seats."""
    groups: list[list[Change]] = []
    current: list[Change] = []
    items = size = 0
    keys: set[str] = set()
    for change in changes:
        more = plan_users.group_items(change)
        new_keys = keys | set(change.days) | set(change.months)
        weight = _change_bytes(change)
        if current and (
            items + more + len(new_keys) + 1 > plan_users.GROUP_ITEMS or size + weight > plan_users.GROUP_BYTES
        ):
            groups.append(current)
            current, items, size, new_keys = [], 0, 0, set(change.days) | set(change.months)
        current.append(change)
        items, size, keys = items + more, size + weight, new_keys
    if current:
        groups.append(current)
    return groups


GROUP_ATTEMPTS = 4
CONFLICT_BACKOFF_SECONDS = 0.01


def _commit_until_done(plan: Plan, group: list[Change], now: datetime) -> GroupResult:
    """One group: its stale users out, the rest again; a conflict again after a short random wait."""
    pending: list[Change] = group
    stale: list[str] = []
    for attempt in range(GROUP_ATTEMPTS):
        if not pending:
            break
        outcome = plan_users.commit_group(plan, pending, now)
        if outcome.committed:
            return GroupResult(tuple(c.after.user_id for c in pending), tuple(stale))
        if outcome.stale:
            stale += outcome.stale
            pending = [c for c in pending if c.after.user_id not in outcome.stale]
        else:
            time.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * 2**attempt))  # noqa: S311 (jitter)
    return GroupResult((), tuple(stale), tuple(c.after.user_id for c in pending))


class DynamoPlanUsers:
    def load(self, keys: Collection[UserKey], *, consistent: bool = False) -> dict[UserKey, PlanUser]:
        return plan_users.load_plan_users(keys, consistent=consistent)

    def commit(self, plan: Plan, change: Change, now: datetime, audit: SeatAudit | None = None) -> CommitResult:
        entry = _seat_audit(plan, change.after.user_id, audit, now) if audit is not None else None
        return _RESULTS[plan_users.commit(plan, change, now, entry)]

    def commit_groups(self, plan: Plan, changes: Sequence[Change], now: datetime) -> GroupResult:
        results = list(io_pool().map(lambda group: _commit_until_done(plan, group, now), _groups(changes)))
        return GroupResult(
            tuple(user for r in results for user in r.committed),
            tuple(user for r in results for user in r.stale),
            tuple(user for r in results for user in r.conflicted),
        )


class DynamoEvents:
    def store(self, batch: Sequence[UsageEvent]) -> list[Stored]:
        return [Stored(item.new, item.as_stored) for item in events.store_events(batch)]

    def earliest_login(
        self, org_id: str, user_id: str, product: str, after: str, before: str | None, days: Iterable[str]
    ) -> str | None:
        return plan_users.earliest_login(org_id, user_id, product, after, before, days)

    def directory_changes(self, org_id: str, days: Iterable[str]) -> list[DirectoryChange]:
        return events.directory_changes(org_id, days)

    def consuming_events(self, org_id: str, day: str) -> list[UsageEvent]:
        from license_usage.domain.plan_user import RELEASING_EVENT_TYPES, ROLE_EVENT_TYPES
        from license_usage.domain.timestamps import parse_rfc3339
        from license_usage.store.rollups import day_events

        types = RELEASING_EVENT_TYPES | ROLE_EVENT_TYPES | {"user.login"}
        found = []
        for event in day_events(org_id, day):
            if event.type not in types or event.user_id is None:
                continue
            stamp, _, event_id = event.order_key.partition("#")
            at = parse_rfc3339(stamp)
            found.append(
                UsageEvent(
                    org_id,
                    event_id,
                    event.type,
                    at,
                    at,
                    user_id=event.user_id,
                    product=event.product,
                    roles=event.roles,
                )
            )
        return found


class DynamoPlans:
    def of_org(self, org_id: str) -> list[Plan]:
        return plans.plans_of_org(org_id)

    def get(self, org_id: str, plan_id: str) -> Plan:
        return plans.get_plan(org_id, plan_id)

    def new_id(self) -> str:
        return plans.new_plan_id()

    def guard_version(self, plan: Plan) -> int:
        return plans.guard_version(plan)

    def save_new(self, plan: Plan, guard_version: int, actor: Principal, at: datetime) -> None:
        plans.save_new_plan(plan, guard_version, actor, at)

    def totals(self, plan: Plan) -> PlanCounters:
        return plans.plan_totals(plan)

    def set_overdraft_flag(self, plan: Plan, over: bool) -> None:
        plans.set_overdraft_flag(plan, over)


class DynamoDirtyDays:
    def waiting(self, org_id: str) -> list[str]:
        return dirty_days.dirty_days_of(org_id)

    def mark(self, org_id: str, days: Iterable[str], now: datetime, *, uncounted: bool = False) -> None:
        dirty_days.mark_days_dirty(org_id, days, now, uncounted)


class DynamoUsers:
    def histories(self, org_id: str) -> dict[str, list[DirectoryChange]]:
        from license_usage.store.users import user_histories

        return user_histories(org_id)


class DynamoNotices:
    def record_once(self, notice: Notice, lease_until: datetime) -> bool:
        from license_usage.store import notifications

        return notifications.record_once(notice, lease_until)

    def mark_published(self, notice_id: str, channel: str) -> None:
        from license_usage.store import notifications

        notifications.mark_published(notice_id, channel)

    def finish(self, notice_id: str) -> None:
        from license_usage.store import notifications

        notifications.finish(notice_id)

    def claim_pending(self, now: datetime, lease: timedelta) -> Iterator[Pending]:
        from license_usage.store import notifications

        for pending in notifications.claim_pending(now, lease):
            yield Pending(pending.notice, pending.published)


class SnsAndBus:
    """SNS (email subscribers) and the EventBridge bus (integrations)."""

    def to_topic(self, notice: Notice) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from license_usage.store import publishing

        try:
            publishing.publish_to_topic(notice.org_id, notice.kind.value, notice.subject, notice.message)
        except (publishing.PublishFailed, ClientError, BotoCoreError) as error:
            raise PublishFailed(str(error)) from error

    def to_bus(self, notice: Notice) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from license_usage.domain.notifications import notice_json
        from license_usage.store import publishing

        try:
            publishing.put_on_bus(notice.kind.value, notice_json(notice))
        except (publishing.PublishFailed, ClientError, BotoCoreError) as error:
            raise PublishFailed(str(error)) from error


class PoolRunner:
    """Independent pieces of I/O side by side, on the threads of one pool."""

    def __init__(self, pool: Callable[[], ThreadPoolExecutor]) -> None:
        self._pool = pool

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return self._pool().map(fn, items)


def dynamo_outbox() -> Outbox:
    return Outbox(DynamoNotices(), SnsAndBus())


@cache
def dynamo_ports() -> Ports:
    return Ports(
        plan_users=DynamoPlanUsers(),
        events=DynamoEvents(),
        plans=DynamoPlans(),
        dirty_days=DynamoDirtyDays(),
        users=DynamoUsers(),
        outbox=dynamo_outbox(),
        io=PoolRunner(io_pool),
    )
