"""Counting consumption as plain data (SPEC §2, §4): what to count (``Counting``), what counting
did (``Outcome``), and the pure decisions around it: which actions a batch of stored events
means, which days a change touches, and which flags and notices a plan's new totals call for.
The use case (``usecases/counting.py``) reads, asks these, commits and finishes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from license_usage.domain.consumption import PlanCounters, is_over_amount
from license_usage.domain.plan_user import (
    Action,
    Change,
    PlanUser,
    SeatStep,
    Tally,
    action_of_event,
    day_of,
    plans_consumed_by,
)
from license_usage.domain.plans import Plan

if TYPE_CHECKING:
    from license_usage.domain.access import Principal
    from license_usage.domain.events import UsageEvent
    from license_usage.domain.notifications import Notice


@dataclass(frozen=True)
class SeatAudit:
    """The audit entry of a seat claim or release through the API, written with its change."""

    actor: Principal
    taking: bool  # a claim (True) or a release


@dataclass(frozen=True)
class Counting:
    """One action for one user of one plan (from an event, an API call or a role plan)."""

    plan: Plan
    user_id: str
    action: Action
    audit: SeatAudit | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.plan.plan_id, self.user_id

    def audit_of(self, change: Change) -> SeatAudit | None:
        """The audit entry goes with a change that takes (claim) or frees (release) a seat."""
        if self.audit is None:
            return None
        done = change.takes_seat if self.audit.taking else change.seats_delta < 0
        return self.audit if done else None


@dataclass(frozen=True)
class FlagChange:
    plan: Plan
    over: bool  # the plan's consumption is over its amount: in the sparse overdrafts index


@dataclass(frozen=True)
class Outcome:
    """What one count did, as plain data; ``finish`` does the rest from it."""

    org_id: str
    committed: tuple[tuple[Plan, Change], ...] = ()
    days: frozenset[str] = frozenset()  # days a rollup must read again
    refused: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # plan id: users refused a seat
    counters: Mapping[str, PlanCounters] = field(default_factory=dict)  # plan id: totals read after counting
    flags: tuple[FlagChange, ...] = ()
    notices: tuple[Notice, ...] = ()
    leftover: tuple[Counting, ...] = ()  # not counted before the deadline: their days are marked uncounted

    def with_days(self, days: Iterable[str]) -> Outcome:
        return replace(self, days=self.days | frozenset(days))

    @property
    def uncounted_days(self) -> frozenset[str]:
        return frozenset(day_of(counting.action.order_key) for counting in self.leftover)

    def changes_of(self, plan_id: str, user_id: str) -> list[Change]:
        return [c for p, c in self.committed if p.plan_id == plan_id and c.after.user_id == user_id]


def countings_of_events(events: Iterable[UsageEvent], plans: Sequence[Plan]) -> list[Counting]:
    """What a batch of stored events means for the organization's plans (new events and resends
    alike: counting is idempotent)."""
    countings = []
    for event in events:
        if event.user_id is None:
            continue
        for plan in plans_consumed_by(event.type, event.product, event.timestamp, plans):
            action = action_of_event(event.type, event.order_key, plan, event.roles)
            if action is not None:
                countings.append(Counting(plan, event.user_id, action))
    return countings


def days_of(change: Change) -> set[str]:
    """The days whose figures a change touched (its tallies, its seat steps, a denial)."""
    days = set(change.days)
    days.update(day_of(step.mark.order_key) for step in (*change.steps_added, *change.steps_removed))
    if change.denied is not None:
        days.add(day_of(change.denied.order_key))
    return days


def combined(changes: Sequence[Change], after: PlanUser) -> Change:
    """One change with the effect of ``changes`` applied one after the other to one user (each
    decided on the state the one before left; ``after``: the state after the last): committed
    as one, conditioned on the version the first was decided on. Seat steps added then removed
    cancel out; tallies add up."""
    first = changes[0]
    added: dict[SeatStep, None] = {}
    removed: dict[SeatStep, None] = {}
    days: dict[str, Tally] = {}
    months: dict[str, Tally] = {}
    for change in changes:
        for step in change.steps_removed:
            if step in added:
                del added[step]
            else:
                removed[step] = None
        for step in change.steps_added:
            if step in removed:
                del removed[step]
            else:
                added[step] = None
        for day, tally in change.days.items():
            days[day] = _plus(days.get(day), tally)
        for month, tally in change.months.items():
            months[month] = _plus(months.get(month), tally)
    return Change(
        before=first.before,
        after=after,
        seats_delta=sum(change.seats_delta for change in changes),
        steps_added=tuple(added),
        steps_removed=tuple(removed),
        days={day: tally for day, tally in days.items() if not tally.is_zero},
        months={month: tally for month, tally in months.items() if not tally.is_zero},
        denied=next((change.denied for change in reversed(changes) if change.denied is not None), None),
    )


def _plus(left: Tally | None, right: Tally) -> Tally:
    if left is None:
        return right
    return Tally(
        left.active_users + right.active_users,
        left.credits_used + right.credits_used,
        left.seats_taken + right.seats_taken,
        left.seats_released + right.seats_released,
        left.seat_changes + right.seat_changes,
    )


def flag_change(plan: Plan, counters: PlanCounters, now: datetime) -> FlagChange | None:
    """The overdraft flag to write, when the totals moved the plan across its amount."""
    over = is_over_amount(plan, counters, now)
    return FlagChange(plan, over) if over != counters.flagged_over_amount else None


def notices_after(plan: Plan, counters: PlanCounters, refused: Sequence[str], now: datetime) -> list[Notice]:
    """SPEC §7 at ingest and seat claims: usage.threshold and usage.overdraft from the totals just
    read, and usage.hard_limit when a seat was refused; only those not sent before."""
    # Imported here: most counts cross no line, and a cold start need not load the notices' rules.
    from license_usage.domain.consumption import consumed_at
    from license_usage.domain.notifications import UsageSnapshot, hard_limit_notice, not_sent, usage_notices

    notices = usage_notices(plan, UsageSnapshot(consumed=consumed_at(plan, counters, now, now)), now)
    if refused:
        notices.append(hard_limit_notice(plan, counters.seats_in_use, refused[0], now))
    return not_sent(notices, plan.notices_sent)
