"""The ports the use cases depend on: small ``typing.Protocol`` interfaces, each sized to what the
use cases call, in domain types only (no store record crosses a port). The DynamoDB store
implements them (``store/ports.py``); each function wires them once, at its entry, and passes
them in. The use-case tests run against in-memory implementations (``tests/usecases/memory.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:  # annotations only: importing the ports costs a cold start nothing more
    from license_usage.domain.access import Principal
    from license_usage.domain.consumption import PlanCounters
    from license_usage.domain.counting import SeatAudit
    from license_usage.domain.directory import DirectoryChange
    from license_usage.domain.events import UsageEvent
    from license_usage.domain.notifications import Notice
    from license_usage.domain.plan_user import Change, PlanUser
    from license_usage.domain.plans import Plan

UserKey = tuple[str, str]  # (plan_id, user_id)
T = TypeVar("T")
R = TypeVar("R")


class CommitResult(StrEnum):
    COMMITTED = "committed"
    VERSION_CHANGED = "version_changed"  # another writer changed the user since it was read
    SEAT_LIMIT = "seat_limit"  # the hard limit's condition on seats in use failed


@dataclass(frozen=True)
class GroupResult:
    """What ``commit_groups`` did with each user's change: committed, stale (another writer changed
    the user since it was read: read again and decide again) or not written for conflicts."""

    committed: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    conflicted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stored:
    """One event of a batch once stored: ``new`` when stored now; ``as_stored`` is the event as
    the table holds it (a duplicate keeps its first version), None for a duplicate that raced."""

    new: bool
    as_stored: UsageEvent | None


@dataclass(frozen=True)
class Pending:
    """A notice of the outbox, and the channels it was published to already."""

    notice: Notice
    published: frozenset[str]


class PublishFailed(Exception):
    """A channel did not take the notice; it stays in the outbox for the next run."""


class PlanUserStore(Protocol):
    def load(self, keys: Collection[UserKey], *, consistent: bool = False) -> dict[UserKey, PlanUser]: ...

    def commit(self, plan: Plan, change: Change, now: datetime, audit: SeatAudit | None = None) -> CommitResult: ...

    def commit_groups(self, plan: Plan, changes: Sequence[Change], now: datetime) -> GroupResult:
        """A plan without a hard limit: each user's one change (each user once), conditioned on
        the version it was decided on, in as few transactions as the store allows, their tallies
        added up."""
        ...


class EventStore(Protocol):
    def store(self, events: Sequence[UsageEvent]) -> list[Stored]: ...

    def earliest_login(
        self, org_id: str, user_id: str, product: str, after: str, before: str | None, days: Iterable[str]
    ) -> str | None: ...

    def directory_changes(self, org_id: str, days: Iterable[str]) -> list[DirectoryChange]: ...

    def consuming_events(self, org_id: str, day: str) -> list[UsageEvent]:
        """The day's stored events that can consume from a plan (logins, deactivations, role
        events), with what counting reads of them."""
        ...


class PlanStore(Protocol):
    def of_org(self, org_id: str) -> list[Plan]: ...

    def get(self, org_id: str, plan_id: str) -> Plan: ...

    def new_id(self) -> str: ...

    def guard_version(self, plan: Plan) -> int: ...

    def save_new(self, plan: Plan, guard_version: int, actor: Principal, at: datetime) -> None: ...

    def totals(self, plan: Plan) -> PlanCounters: ...

    def set_overdraft_flag(self, plan: Plan, over: bool) -> None: ...


class DirtyDayStore(Protocol):
    def waiting(self, org_id: str) -> list[str]: ...

    def mark(self, org_id: str, days: Iterable[str], now: datetime, *, uncounted: bool = False) -> None: ...


class UserDirectory(Protocol):
    def histories(self, org_id: str) -> dict[str, list[DirectoryChange]]: ...


class NoticeStore(Protocol):
    def record_once(self, notice: Notice, lease_until: datetime) -> bool: ...

    def mark_published(self, notice_id: str, channel: str) -> None: ...

    def finish(self, notice_id: str) -> None: ...

    def claim_pending(self, now: datetime, lease: timedelta) -> Iterator[Pending]: ...


class Publisher(Protocol):
    """Raises ``PublishFailed`` when a channel does not take the notice."""

    def to_topic(self, notice: Notice) -> None: ...

    def to_bus(self, notice: Notice) -> None: ...


class Runner(Protocol):
    """Runs independent pieces of I/O side by side (the adapter owns the threads)."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...


@dataclass(frozen=True)
class Outbox:
    notices: NoticeStore
    publisher: Publisher


@dataclass(frozen=True)
class Ports:
    plan_users: PlanUserStore
    events: EventStore
    plans: PlanStore
    dirty_days: DirtyDayStore
    users: UserDirectory
    outbox: Outbox
    io: Runner
