"""In-memory implementations of the use cases' ports (``usecases/ports.py``): real implementations,
with the store's conditions (a commit conditioned on the version read and, for a seat taken under
a hard limit, on seats in use; first write wins for events; a notice stored once per once key),
so the use cases run in milliseconds. ``tests/store/test_ports_contract.py`` runs the same
contract against these and against DynamoDB Local.

Hooks for the tests, each a plain list or set the test fills:
- ``MemoryPlanUsers.before_commit``: callables run at the start of a commit, before its conditions
  are checked (another writer interleaves there);
- ``MemoryPlanUsers.conflicts``: how many commits to refuse as if another transaction held an item
  (a single commit reports it as a changed version, as the store does; a group as a conflict);
- ``MemoryPublisher.failing``: channels (``sns``, ``bus``) that refuse every notice.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from license_usage.domain.access import Principal
from license_usage.domain.consumption import MonthCounts, PlanCounters
from license_usage.domain.counting import SeatAudit
from license_usage.domain.directory import DirectoryChange, lifecycle_change
from license_usage.domain.errors import Conflict, NotFound
from license_usage.domain.events import DIRECTORY_EVENT_TYPES, UsageEvent
from license_usage.domain.notifications import Notice
from license_usage.domain.plan_user import Change, PlanUser, Tally
from license_usage.domain.plans import Enforcement, Plan
from license_usage.domain.timestamps import format_utc
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

T = TypeVar("T")
R = TypeVar("R")


class MemoryPlanUsers:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[UserKey, PlanUser] = {}
        self.seats: dict[str, int] = defaultdict(int)  # plan id: seats in use
        self.months: dict[tuple[str, str], Tally] = defaultdict(Tally)
        self.days: dict[tuple[str, str], Tally] = defaultdict(Tally)
        self.audits: list[tuple[str, str, SeatAudit]] = []
        self.before_commit: list[Callable[[Plan, Change], None]] = []
        self.conflicts = 0
        self.commits = 0

    def load(self, keys: Collection[UserKey], *, consistent: bool = False) -> dict[UserKey, PlanUser]:
        with self.lock:
            return {key: self.users.get(key) or PlanUser(*key) for key in keys}

    def commit(self, plan: Plan, change: Change, now: datetime, audit: SeatAudit | None = None) -> CommitResult:
        for hook in list(self.before_commit):
            hook(plan, change)
        key = (change.after.plan_id, change.after.user_id)
        with self.lock:
            if self.conflicts > 0:
                self.conflicts -= 1
                return CommitResult.VERSION_CHANGED  # as DynamoDB's TransactionConflict is reported
            stored = self.users.get(key)
            if (stored.version if stored else 0) != change.before.version:
                return CommitResult.VERSION_CHANGED
            hard = plan.enforcement is Enforcement.HARD
            if hard and change.takes_seat and self.seats[plan.plan_id] >= plan.hard_limit:
                return CommitResult.SEAT_LIMIT
            self.users[key] = replace(change.after, version=change.before.version + 1)
            self.seats[plan.plan_id] += change.seats_delta
            for day, tally in change.days.items():
                self.days[(plan.plan_id, day)] += tally
            for month, tally in change.months.items():
                self.months[(plan.plan_id, month)] += tally
            if audit is not None:
                self.audits.append((plan.plan_id, change.after.user_id, audit))
            self.commits += 1
            return CommitResult.COMMITTED

    def commit_groups(self, plan: Plan, changes: Sequence[Change], now: datetime) -> GroupResult:
        """Each change as its own commit (the store groups them; every condition is the same)."""
        committed, stale, conflicted = [], [], []
        for change in changes:
            user_id = change.after.user_id
            with self.lock:
                conflict = self.conflicts > 0
                self.conflicts -= conflict
            if conflict:  # another transaction was writing one of its items: nothing written
                conflicted.append(user_id)
            elif self.commit(plan, change, now) is CommitResult.COMMITTED:
                committed.append(user_id)
            else:
                stale.append(user_id)
        return GroupResult(tuple(committed), tuple(stale), tuple(conflicted))


class MemoryEvents:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[tuple[str, str], UsageEvent] = {}
        self.logins: dict[tuple[str, str, str | None], list[UsageEvent]] = defaultdict(list)  # (org, user, product)
        self.searches = 0

    def store(self, events: Sequence[UsageEvent]) -> list[Stored]:
        answers = []
        with self.lock:
            seen: set[tuple[str, str]] = set()
            for event in events:
                key = (event.org_id, event.id)
                if key in seen:
                    answers.append(Stored(False, None))  # a second copy in this batch
                elif key in self.events:
                    first = self.events[key]
                    answers.append(Stored(False, first))
                else:
                    self.events[key] = event
                    if event.type == "user.login":
                        self.logins[(event.org_id, event.user_id or "", event.product)].append(event)
                    answers.append(Stored(True, event))
                seen.add(key)
        return answers

    def earliest_login(
        self, org_id: str, user_id: str, product: str, after: str, before: str | None, days: Iterable[str]
    ) -> str | None:
        wanted = set(days)
        with self.lock:
            self.searches += 1
            found = [
                e.order_key
                for e in self.logins.get((org_id, user_id, product), ())
                if e.day in wanted and after < e.order_key and (before is None or e.order_key < before)
            ]
        return min(found, default=None)

    def consuming_events(self, org_id: str, day: str) -> list[UsageEvent]:
        types = {"user.login", "user.deactivated", "user.deleted", "user.created", "user.roles_changed"}
        with self.lock:
            return sorted(
                (e for (org, _), e in self.events.items() if org == org_id and e.day == day and e.type in types),
                key=lambda e: e.order_key,
            )

    def directory_changes(self, org_id: str, days: Iterable[str]) -> list[DirectoryChange]:
        wanted = set(days)
        with self.lock:
            events = sorted(
                (e for (org, _), e in self.events.items() if org == org_id and e.day in wanted),
                key=lambda e: e.order_key,
            )
        changes = []
        for e in events:
            if e.type in DIRECTORY_EVENT_TYPES:
                change = lifecycle_change(e.type, e.user_id, e.order_key, e.roles, e.group)
                if change is not None:
                    changes.append(change)
        return changes


class MemoryPlans:
    def __init__(self, plan_users: MemoryPlanUsers) -> None:
        self.lock = threading.Lock()
        self.plan_users = plan_users
        self.plans: dict[str, Plan] = {}
        self.guards: dict[tuple[str, str, str], int] = defaultdict(int)
        self.flags: dict[str, bool] = {}
        self.next_id = 0

    def of_org(self, org_id: str) -> list[Plan]:
        with self.lock:
            return sorted((p for p in self.plans.values() if p.org_id == org_id), key=lambda p: (p.start, p.plan_id))

    def get(self, org_id: str, plan_id: str) -> Plan:
        with self.lock:
            plan = self.plans.get(plan_id)
        if plan is None or plan.org_id != org_id:
            raise NotFound(f"No plan {plan_id} in organization {org_id}.")
        return plan

    def new_id(self) -> str:
        with self.lock:
            self.next_id += 1
            return f"pln_{self.next_id:016d}"

    def _guard(self, plan: Plan) -> tuple[str, str, str]:
        return plan.org_id, plan.product, plan.type.value

    def guard_version(self, plan: Plan) -> int:
        with self.lock:
            return self.guards[self._guard(plan)]

    def save_new(self, plan: Plan, guard_version: int, actor: Principal, at: datetime) -> None:
        with self.lock:
            if self.guards[self._guard(plan)] != guard_version:
                raise Conflict("Another plan of this product and type was created meanwhile.")
            self.guards[self._guard(plan)] += 1
            self.plans[plan.plan_id] = plan

    def totals(self, plan: Plan) -> PlanCounters:
        """Seats in use and the month tallies (as the store's read after counting: no day tallies)."""
        users = self.plan_users
        with users.lock:
            months = {
                month: MonthCounts(active_users=tally.active_users)
                for (plan_id, month), tally in sorted(users.months.items())
                if plan_id == plan.plan_id and tally.active_users
            }
            seats = users.seats.get(plan.plan_id, 0)
        with self.lock:
            flagged = self.flags.get(plan.plan_id, False)
        return PlanCounters(seats_in_use=seats, months=months, flagged_over_amount=flagged)

    def set_overdraft_flag(self, plan: Plan, over: bool) -> None:
        with self.lock:
            self.flags[plan.plan_id] = over

    def notice_sent(self, plan_id: str, once_key: str) -> bool:
        """Record a notice's once key on its plan; False when it was there already."""
        with self.lock:
            plan = self.plans.get(plan_id)
            if plan is None or once_key in plan.notices_sent:
                return False
            self.plans[plan_id] = replace(plan, notices_sent=plan.notices_sent | {once_key})
            return True


class MemoryDirtyDays:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.marks: dict[tuple[str, str], int] = defaultdict(int)
        self.uncounted: set[tuple[str, str]] = set()
        self.reads = 0

    def waiting(self, org_id: str) -> list[str]:
        with self.lock:
            self.reads += 1
            return sorted(day for (org, day), marks in self.marks.items() if org == org_id and marks)

    def mark(self, org_id: str, days: Iterable[str], now: datetime, *, uncounted: bool = False) -> None:
        with self.lock:
            for day in set(days):
                self.marks[(org_id, day)] += 1
                if uncounted:
                    self.uncounted.add((org_id, day))


@dataclass
class MemoryUsers:
    directory: dict[str, dict[str, list[DirectoryChange]]] = field(default_factory=dict)

    def histories(self, org_id: str) -> dict[str, list[DirectoryChange]]:
        return {user: list(history) for user, history in self.directory.get(org_id, {}).items()}


class MemoryNotices:
    def __init__(self, plans: MemoryPlans) -> None:
        self.lock = threading.Lock()
        self.plans = plans
        self.stored: dict[str, Notice] = {}  # notice id: the notice (the organization's list)
        self.org_keys: set[tuple[str, str]] = set()
        self.outbox: dict[str, tuple[Notice, frozenset[str], str | None]] = {}  # id: notice, published, lease

    def record_once(self, notice: Notice, lease_until: datetime) -> bool:
        if notice.plan_id is not None:
            if not self.plans.notice_sent(notice.plan_id, notice.once_key):
                return False
        else:
            with self.lock:
                if (notice.org_id, notice.once_key) in self.org_keys:
                    return False
                self.org_keys.add((notice.org_id, notice.once_key))
        with self.lock:
            self.stored[notice.notice_id] = notice
            self.outbox[notice.notice_id] = (notice, frozenset(), format_utc(lease_until))
        return True

    def mark_published(self, notice_id: str, channel: str) -> None:
        with self.lock:
            if notice_id in self.outbox:
                notice, published, lease = self.outbox[notice_id]
                self.outbox[notice_id] = (notice, published | {channel}, lease)

    def finish(self, notice_id: str) -> None:
        with self.lock:
            self.outbox.pop(notice_id, None)

    def claim_pending(self, now: datetime, lease: timedelta) -> Iterator[Pending]:
        stamp = format_utc(now)
        with self.lock:
            due = [k for k, (_, _, until) in self.outbox.items() if until is None or until <= stamp]
        for notice_id in due:
            with self.lock:
                if notice_id not in self.outbox:
                    continue
                notice, published, until = self.outbox[notice_id]
                if until is not None and until > stamp:
                    continue  # another drain took it
                self.outbox[notice_id] = (notice, published, format_utc(now + lease))
            yield Pending(notice, published)


class MemoryPublisher:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.topic: list[Notice] = []
        self.bus: list[Notice] = []
        self.failing: set[str] = set()

    def to_topic(self, notice: Notice) -> None:
        if "sns" in self.failing:
            raise PublishFailed("SNS refused the message")
        with self.lock:
            self.topic.append(notice)

    def to_bus(self, notice: Notice) -> None:
        if "bus" in self.failing:
            raise PublishFailed("EventBridge refused the event")
        with self.lock:
            self.bus.append(notice)


class ThreadRunner:
    """Side by side on threads, as the DynamoDB adapter does (``threads=1``: one after the other)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        if self.threads == 1:
            return map(fn, items)
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            return iter(list(pool.map(fn, items)))


@dataclass
class Memory:
    """The in-memory ports and their state, for the tests to arrange and inspect."""

    plan_users: MemoryPlanUsers
    events: MemoryEvents
    plans: MemoryPlans
    dirty_days: MemoryDirtyDays
    users: MemoryUsers
    notices: MemoryNotices
    publisher: MemoryPublisher
    ports: Ports


def memory_ports(threads: int = 4) -> Memory:
    plan_users = MemoryPlanUsers()
    events = MemoryEvents()
    plans = MemoryPlans(plan_users)
    dirty_days = MemoryDirtyDays()
    users = MemoryUsers()
    notices = MemoryNotices(plans)
    publisher = MemoryPublisher()
    ports = Ports(
        plan_users=plan_users,
        events=events,
        plans=plans,
        dirty_days=dirty_days,
        users=users,
        outbox=Outbox(notices, publisher),
        io=ThreadRunner(threads),
    )
    return Memory(plan_users, events, plans, dirty_days, users, notices, publisher, ports)
