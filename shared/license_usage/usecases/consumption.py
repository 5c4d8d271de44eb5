"""Counting consumption (SPEC §2, §4): load the user's aggregate, let the domain decide, commit
in one transaction, and on a conflict load and decide again. Ingest, the seat API and the
rollups all count through ``settle``; applying an action twice changes nothing, so a resend of
an event that was stored but not counted completes its count."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from license_usage.domain.consumption import PlanCounters, is_over_amount
from license_usage.domain.events import MAX_FUTURE_SKEW, UsageEvent
from license_usage.domain.plan_user import (
    Action,
    ActionKind,
    Change,
    ConsumptionConflict,
    LaterLoginWindow,
    PlanUser,
    action_of_event,
    day_of,
    plans_consumed_by,
    role_plan_actions,
)
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.observability import record_seat_denials
from license_usage.store import plan_users
from license_usage.store.dirty_days import dirty_days_of
from license_usage.store.events import directory_changes, writer_pool
from license_usage.store.plans import plan_totals, set_overdraft_flag
from license_usage.store.tables import LicensingItem
from license_usage.store.users import user_histories
from license_usage.usecases.notifications import raise_usage_notices

ATTEMPTS = 12
# Writers of one user's consumption collide only in bursts (many requests for one user at once):
# a short random wait before deciding again spreads them out.
BACKOFF_SECONDS = 0.005

AuditFor = Callable[[Change], LicensingItem | None]


@dataclass
class Counted:
    """What counting a batch changed: the plans, and the days whose figures a rollup must redo."""

    plans: dict[str, Plan] = field(default_factory=dict)
    days: set[str] = field(default_factory=set)
    refused: dict[str, list[str]] = field(default_factory=dict)  # plan id: users refused a seat

    def add(self, plan: Plan, change: Change) -> None:
        if change.is_empty:
            return
        self.plans[plan.plan_id] = plan
        self.days.update(change.days)
        self.days.update(day_of(step.mark.order_key) for step in (*change.steps_added, *change.steps_removed))
        if change.denied is not None:
            self.days.add(day_of(change.denied.order_key))
            self.refused.setdefault(plan.plan_id, []).append(change.after.user_id)


def _search_days(plan: Plan, user: PlanUser, first: str, last: str, recent: Iterable[str]) -> list[str]:
    """The days on which a login the aggregate did not keep can be: up to the user's last login
    the rollup settled, and the days no rollup has read yet (``recent``)."""
    settled_until = day_of(user.last_login) if user.last_login else ""
    waiting = set(recent) | set(dirty_days_of(plan.org_id))
    days = []
    day = datetime.fromisoformat(first).date()
    while day.isoformat() <= last:
        text = day.isoformat()
        if text <= settled_until or text in waiting:
            days.append(text)
        day += timedelta(days=1)
    return days


def _later_login(
    plan: Plan, user: PlanUser, window: LaterLoginWindow | None, now: datetime, recent: Iterable[str]
) -> str | None:
    """The earliest login in ``window`` among the raw events (the aggregate keeps only the logins
    that start a seat period)."""
    if window is None:
        return None
    latest_possible = (now + MAX_FUTURE_SKEW).date().isoformat()
    last = min(day_of(window.before), latest_possible) if window.before else latest_possible
    recent = {*recent, now.date().isoformat(), (now - timedelta(days=1)).date().isoformat()}
    days = _search_days(plan, user, day_of(window.after), last, recent)
    return plan_users.earliest_login(plan.org_id, user.user_id, plan.product, window.after, window.before, days)


def settle(
    plan: Plan,
    user: PlanUser,
    action: Action,
    now: datetime,
    *,
    audit_for: AuditFor | None = None,
    recent_days: Iterable[str] = (),
) -> tuple[PlanUser, Change]:
    """Apply one action to one user of one plan, exactly once. Returns the state after it and
    the change that was committed (empty when nothing changed)."""
    recent = set(recent_days)
    for attempt in range(ATTEMPTS):
        later = _later_login(plan, user, user.later_login_window(plan, action), now, recent)
        change = user.apply(plan, action, later_login=later)
        if change.is_empty:
            return change.after, change
        outcome = plan_users.commit(plan, change, now, audit_for(change) if audit_for else None)
        if outcome is plan_users.CommitOutcome.SEAT_LIMIT:
            change = user.apply(plan, action, seat_free=False, later_login=later)
            outcome = plan_users.commit(plan, change, now, audit_for(change) if audit_for else None)
        if outcome is plan_users.CommitOutcome.COMMITTED:
            after = replace(change.after, version=change.before.version + 1)
            if change.seats_delta < 0 and action.kind is ActionKind.RELEASE:
                # A login stored while this release was being decided: look again now that the
                # release is committed (a login committed after this sees the release itself).
                window = change.before.later_login_window(plan, action)
                found = _later_login(plan, after, window, now, recent)
                if found is not None:
                    after, _ = settle(plan, after, Action(found, ActionKind.LOGIN), now, recent_days=recent)
            return after, change
        time.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** min(attempt, 6)))  # noqa: S311 (jitter, not a secret)
        user = plan_users.load_plan_user(plan.plan_id, user.user_id)
    raise ConsumptionConflict(f"The consumption of {user.user_id} in plan {plan.plan_id} kept changing; retry.")


def apply_consumption(events: Sequence[UsageEvent], plans: Sequence[Plan], now: datetime) -> Counted:
    """Count a batch of stored events (new ones and resends alike: counting is idempotent)."""
    counted = Counted()
    work: dict[tuple[str, str], list[Action]] = defaultdict(list)
    plan_by_id = {plan.plan_id: plan for plan in plans}
    for event in events:
        if event.user_id is None:
            continue
        for plan in plans_consumed_by(event.type, event.product, event.timestamp, plans):
            action = action_of_event(event.type, event.order_key, plan, event.roles)
            if action is not None:
                work[(plan.plan_id, event.user_id)].append(action)
    if not work:
        return counted
    users = plan_users.load_plan_users(work)
    recent = {event.day for event in events}
    # Users are independent of each other, so their actions run side by side, each user's in
    # time order. Under a hard seat limit users compete for seats: there a plan's actions run in
    # time order, so the earliest logins of the batch get the seats.
    lanes: dict[str, list[tuple[Action, str, str]]] = defaultdict(list)
    for (plan_id, user_id), actions in work.items():
        plan = plan_by_id[plan_id]
        hard = plan.enforcement is Enforcement.HARD and plan.type is PlanType.SEATS
        lane = plan_id if hard else f"{plan_id}/{user_id}"
        lanes[lane].extend((action, plan_id, user_id) for action in actions)

    def run(lane: list[tuple[Action, str, str]]) -> list[tuple[Plan, Change]]:
        done = []
        for action, plan_id, user_id in sorted(lane):
            plan = plan_by_id[plan_id]
            users[(plan_id, user_id)], change = settle(plan, users[(plan_id, user_id)], action, now, recent_days=recent)
            done.append((plan, change))
        return done

    for changes in writer_pool().map(run, lanes.values()):
        for plan, change in changes:
            counted.add(plan, change)
    for plan in counted.plans.values():
        after_counting(plan, now, counted.refused.get(plan.plan_id, ()))
    return counted


def after_counting(plan: Plan, now: datetime, refused: Sequence[str] = ()) -> PlanCounters:
    """After a plan's counts changed: keep the sparse overdrafts index in step with the counters
    (a write only when it flips) and raise the usage notices they cross (SPEC §7: at once, not
    only daily). Returns the counters it read."""
    record_seat_denials(len(refused))
    totals = plan_totals(plan)
    over = is_over_amount(plan, totals, now)
    if over != totals.flagged_over_amount:
        set_overdraft_flag(plan, over)
    raise_usage_notices(plan, totals, now, refused)
    return totals


def assign_existing_roles(plan: Plan, now: datetime) -> Counted:
    """A plan that assigns by role, once created (or renewed), gives seats to the users who hold its
    roles: from the users directory and the lifecycle events still waiting for a rollup, in time
    order (under a hard limit the earliest get the seats)."""
    counted = Counted()
    if not plan.assigns_by_role:
        return counted
    histories = user_histories(plan.org_id)
    for waiting in directory_changes(plan.org_id, dirty_days_of(plan.org_id)):
        history = histories.setdefault(waiting.user_id, [])
        if all(entry.order_key != waiting.order_key for entry in history):
            history.append(waiting)
    lane = sorted(
        (action, user_id) for user_id, history in histories.items() for action in role_plan_actions(plan, history)
    )
    users = plan_users.load_plan_users({(plan.plan_id, user_id) for _, user_id in lane})
    for action, user_id in lane:
        users[(plan.plan_id, user_id)], change = settle(plan, users[(plan.plan_id, user_id)], action, now)
        counted.add(plan, change)
    if counted.plans:
        after_counting(plan, now, counted.refused.get(plan.plan_id, ()))
    return counted
