"""Counting is one unit of work (SPEC §2, §4): ``count`` commits what a set of actions changes and
returns an ``Outcome`` (plain data); ``finish`` does everything that must follow (the dirty-day
marks a rollup needs, the overdraft flags, the notices). Ingest, seat claims and releases and
plan creation call these two and nothing else.

``count`` goes one way. It reads the users (and, when a release may hand a seat to a later login,
the days no rollup has read, once); then per action: the evidence a release needs (the earliest
login the aggregate did not keep), the domain's decision (pure), the commit. A commit whose
condition failed is decided again from a fresh read. After the commits: the changed plans'
totals, and the flags and notices they call for (pure). Applying an action twice changes
nothing, so a resend of an event that was stored but not counted completes its count."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from license_usage.domain.consumption import PlanCounters
from license_usage.domain.counting import (
    Counting,
    FlagChange,
    Outcome,
    combined,
    countings_of_events,
    days_of,
    flag_change,
    notices_after,
)
from license_usage.domain.events import MAX_FUTURE_SKEW
from license_usage.domain.plan_user import (
    Action,
    ActionKind,
    Change,
    ConsumptionConflict,
    LaterLoginWindow,
    PlanUser,
    day_of,
    role_plan_actions,
)
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.observability import record_seat_denials
from license_usage.usecases.outbox import deliver
from license_usage.usecases.ports import CommitResult, Ports, UserKey

if TYPE_CHECKING:  # the notices' rules load only when a plan's totals call for one
    from license_usage.domain.notifications import Notice

logger = Logger(child=True)

ATTEMPTS = 12
# Writers of one user's consumption collide only in bursts (many requests for one user at once):
# a short random wait before deciding again spreads them out.
BACKOFF_SECONDS = 0.005


@dataclass(frozen=True)
class _Search:
    """Where a login the aggregate did not keep can be: read once per count, before deciding."""

    ports: Ports
    org_id: str
    waiting: frozenset[str]  # days no rollup has read yet, and the batch's own days
    now: datetime

    def days(self, user: PlanUser, first: str, last: str) -> list[str]:
        """Up to the user's last login the rollup settled, and the days no rollup has read yet."""
        settled_until = day_of(user.last_login) if user.last_login else ""
        days = []
        day = datetime.fromisoformat(first).date()
        while day.isoformat() <= last:
            text = day.isoformat()
            if text <= settled_until or text in self.waiting:
                days.append(text)
            day += timedelta(days=1)
        return days

    def later_login(self, plan: Plan, user: PlanUser, window: LaterLoginWindow | None) -> str | None:
        """The earliest login in ``window`` among the raw events (the evidence a release needs)."""
        if window is None:
            return None
        latest_possible = (self.now + MAX_FUTURE_SKEW).date().isoformat()
        last = min(day_of(window.before), latest_possible) if window.before else latest_possible
        days = self.days(user, day_of(window.after), last)
        return self.ports.events.earliest_login(
            self.org_id, user.user_id, plan.product, window.after, window.before, days
        )


def _may_need_evidence(counting: Counting) -> bool:
    plan = counting.plan
    return plan.type is PlanType.SEATS and not plan.assigns_by_role and counting.action.kind is ActionKind.RELEASE


def _settle(
    ports: Ports, search: _Search, counting: Counting, user: PlanUser, now: datetime
) -> tuple[PlanUser, list[Change]]:
    """Apply one action to one user exactly once: evidence, decision, commit; on a failed
    condition, a fresh read and the same again. Returns the state after and the changes committed."""
    plan, action = counting.plan, counting.action
    for attempt in range(ATTEMPTS):
        later = search.later_login(plan, user, user.later_login_window(plan, action))
        change = user.apply(plan, action, later_login=later)
        if change.is_empty:
            return change.after, []
        result = ports.plan_users.commit(plan, change, now, counting.audit_of(change))
        if result is CommitResult.SEAT_LIMIT:
            change = user.apply(plan, action, seat_free=False, later_login=later)
            result = ports.plan_users.commit(plan, change, now, counting.audit_of(change))
        if result is CommitResult.COMMITTED:
            after = replace(change.after, version=change.before.version + 1)
            done = [change]
            if change.seats_delta < 0 and action.kind is ActionKind.RELEASE:
                # A login stored while this release was being decided: look again now that the
                # release is committed (a login committed after this sees the release itself).
                found = search.later_login(plan, after, change.before.later_login_window(plan, action))
                if found is not None:
                    following = replace(counting, action=Action(found, ActionKind.LOGIN), audit=None)
                    after, more = _settle(ports, search, following, after, now)
                    done += more
            return after, done
        time.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** min(attempt, 6)))  # noqa: S311 (jitter, not a secret)
        user = ports.plan_users.load([counting.key], consistent=True)[counting.key]
    raise ConsumptionConflict(f"The consumption of {user.user_id} in plan {plan.plan_id} kept changing; retry.")


def _groupable(counting: Counting) -> bool:
    """An action decided without evidence on a plan without a hard limit, and no API call's audit:
    committed with other users' changes in one transaction."""
    plan = counting.plan
    hard = plan.enforcement is Enforcement.HARD
    return not hard and counting.audit is None and not _may_need_evidence(counting)


def _decide_together(
    countings: Iterable[Counting], states: dict[UserKey, PlanUser]
) -> dict[str, tuple[Plan, list[Change]]]:
    """Per plan: each user's actions in time order on the state read (pure), one combined change
    per user whose state they change."""
    work: dict[UserKey, list[Counting]] = defaultdict(list)
    for counting in countings:
        work[counting.key].append(counting)
    decided: dict[str, tuple[Plan, list[Change]]] = {}
    for key, user_countings in work.items():
        plan, state, changes = user_countings[0].plan, states[key], []
        for counting in sorted(user_countings, key=lambda c: c.action):
            change = state.apply(plan, counting.action)
            if not change.is_empty:
                changes.append(change)
            state = change.after
        if changes:
            decided.setdefault(plan.plan_id, (plan, []))[1].append(combined(changes, state))
    return decided


def _lanes(countings: Iterable[Counting]) -> list[list[Counting]]:
    """Users are independent of each other, so their actions run side by side, each user's in time
    order. Under a hard seat limit users compete for seats: there a plan's actions run in time
    order, so the earliest get the seats."""
    lanes: dict[str, list[Counting]] = defaultdict(list)
    for counting in countings:
        plan = counting.plan
        hard = plan.enforcement is Enforcement.HARD and plan.type is PlanType.SEATS
        lanes[plan.plan_id if hard else f"{plan.plan_id}/{counting.user_id}"].append(counting)
    return [sorted(lane, key=lambda c: (c.action, c.user_id)) for lane in lanes.values()]


def _after(
    plan: Plan, ports: Ports, refused: Sequence[str], now: datetime
) -> tuple[PlanCounters, FlagChange | None, list[Notice]]:
    counters = ports.plans.totals(plan)
    try:
        notices = notices_after(plan, counters, refused, now)
    except Exception:  # the events are counted; a notice must not fail the request (the daily run decides again)
        logger.exception("usage notices not decided", extra={"plan_id": plan.plan_id})
        notices = []
    return counters, flag_change(plan, counters, now), notices


def count(
    ports: Ports,
    org_id: str,
    countings: Sequence[Counting],
    now: datetime,
    *,
    recent_days: Iterable[str] = (),
    consistent: bool = False,
    totals_of: Collection[Plan] = (),
    deadline: float | None = None,
) -> Outcome:
    """Commit what ``countings`` change, then read the changed plans' totals (and those of
    ``totals_of``) and decide their flags and notices. ``recent_days``: days the caller just wrote
    events of (a login there may not be in any rollup yet). ``consistent``: read the users
    consistently (an API call answers from what it commits). ``deadline`` (``time.monotonic()``):
    no user's counting starts after it; what is left is in ``Outcome.leftover``."""

    def late() -> bool:
        return deadline is not None and time.monotonic() > deadline

    if not countings and not totals_of:
        return Outcome(org_id)
    states = ports.plan_users.load({counting.key for counting in countings}, consistent=consistent)
    waiting: set[str] = set()
    if any(_may_need_evidence(counting) for counting in countings):
        waiting = {*ports.dirty_days.waiting(org_id), *recent_days}
        waiting |= {now.date().isoformat(), (now - timedelta(days=1)).date().isoformat()}
    search = _Search(ports, org_id, frozenset(waiting), now)

    # Users whose actions need no evidence, on plans without a hard limit: decided together, and
    # committed a plan's users at a time, in as few transactions as the store allows.
    together = [c for c in countings if _groupable(c)]
    alone_keys = {c.key for c in countings if not _groupable(c)}
    together = [c for c in together if c.key not in alone_keys]
    committed: list[tuple[Plan, Change]] = []
    again: set[UserKey] = set()
    leftover: list[Counting] = []
    for plan, changes in _decide_together(together, states).values():
        if late():
            users = {change.after.user_id for change in changes}
            leftover += [c for c in together if c.plan.plan_id == plan.plan_id and c.user_id in users]
            continue
        result = ports.plan_users.commit_groups(plan, changes, now)
        written = set(result.committed)
        committed += [(plan, change) for change in changes if change.after.user_id in written]
        again |= {(plan.plan_id, user_id) for user_id in (*result.stale, *result.conflicted)}
    if again:  # another writer changed them: read again, then one action at a time
        states.update(ports.plan_users.load(again, consistent=True))
    alone = [c for c in countings if c.key in alone_keys or c.key in again]

    def run(lane: list[Counting]) -> tuple[list[tuple[Plan, Change]], list[Counting]]:
        done: list[tuple[Plan, Change]] = []
        for index, counting in enumerate(lane):
            if late():
                return done, lane[index:]
            states[counting.key], changes = _settle(ports, search, counting, states[counting.key], now)
            done += [(counting.plan, change) for change in changes]
        return done, []

    for lane_done, left in ports.io.map(run, _lanes(alone)):
        committed += lane_done
        leftover += left
    days: set[str] = set()
    refused: dict[str, list[str]] = defaultdict(list)
    changed: dict[str, Plan] = {plan.plan_id: plan for plan in totals_of}
    for plan, change in committed:
        days |= days_of(change)
        changed[plan.plan_id] = plan
        if change.denied is not None:
            refused[plan.plan_id].append(change.after.user_id)
    counters: dict[str, PlanCounters] = {}
    flags: list[FlagChange] = []
    notices: list[Notice] = []
    for plan in changed.values():
        counters[plan.plan_id], flag, due = _after(plan, ports, refused.get(plan.plan_id, ()), now)
        flags += [flag] if flag is not None else []
        notices += due
    return Outcome(
        org_id,
        committed=tuple(committed),
        days=frozenset(days),
        refused={plan_id: tuple(users) for plan_id, users in refused.items()},
        counters=counters,
        flags=tuple(flags),
        notices=tuple(notices),
        leftover=tuple(leftover),
    )


def finish(ports: Ports, outcome: Outcome, now: datetime) -> None:
    """What follows a count: mark the days a rollup must read again, keep the sparse overdrafts
    index in step (a write only when a flag flips), send the notices due (stored once, published,
    failures left in the outbox; a notice never fails its caller)."""
    if outcome.days:
        ports.dirty_days.mark(outcome.org_id, outcome.days, now)
    if outcome.leftover:  # the daily rollup counts these days again before reading them
        logger.warning("counting left for the rollup", extra={"org_id": outcome.org_id, "left": len(outcome.leftover)})
        ports.dirty_days.mark(outcome.org_id, outcome.uncounted_days, now, uncounted=True)
    for flag in outcome.flags:
        ports.plans.set_overdraft_flag(flag.plan, flag.over)
    if outcome.counters:
        record_seat_denials(sum(len(users) for users in outcome.refused.values()))
    if outcome.notices:
        try:
            deliver(ports.outbox, outcome.notices)
        except Exception:  # the events are stored and counted; a notice must not fail the request
            logger.exception("usage notices not sent", extra={"org_id": outcome.org_id})


def role_countings(ports: Ports, plan: Plan) -> list[Counting]:
    """A plan that assigns by role, once created (or renewed), gives seats to the users who hold
    its roles: from the users directory and the lifecycle events still waiting for a rollup."""
    if not plan.assigns_by_role:
        return []
    histories = ports.users.histories(plan.org_id)
    for waiting in ports.events.directory_changes(plan.org_id, ports.dirty_days.waiting(plan.org_id)):
        history = histories.setdefault(waiting.user_id, [])
        if all(entry.order_key != waiting.order_key for entry in history):
            history.append(waiting)
    return [
        Counting(plan, user_id, action)
        for user_id, history in histories.items()
        for action in role_plan_actions(plan, history)
    ]


def recount_days(ports: Ports, org_id: str, days: Collection[str], plans: Sequence[Plan], now: datetime) -> Outcome:
    """Count the stored events of ``days`` again (the rollup, for days marked uncounted: an ingest
    ran out of time, or died between storing and counting). Counting is idempotent, so what was
    counted before changes nothing. ``days`` are not marked again: their caller reads them next."""
    events = [event for day in sorted(set(days)) for event in ports.events.consuming_events(org_id, day)]
    outcome = count(ports, org_id, countings_of_events(events, plans), now, recent_days=days)
    finish(ports, replace(outcome, days=outcome.days - frozenset(days)), now)
    return outcome
