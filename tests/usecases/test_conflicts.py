"""Conflicts and retries: a commit whose condition failed is decided again from a fresh read, and
the result is what the actions would give one after the other."""

from __future__ import annotations

from datetime import timedelta

import pytest

from license_usage.domain.counting import Counting
from license_usage.domain.plan_user import Action, ActionKind, Change, ConsumptionConflict
from license_usage.domain.plans import Plan, PlanType
from license_usage.domain.timestamps import format_utc
from license_usage.usecases import counting
from license_usage.usecases.counting import count
from tests.usecases.memory import memory_ports
from tests.usecases.support import NOW, event, new_plan, send


def login(minutes_ago: int, event_id: str) -> Action:
    return Action(f"{format_utc(NOW - timedelta(minutes=minutes_ago))}#{event_id}", ActionKind.LOGIN)


def test_another_writer_between_the_read_and_the_commit_makes_count_decide_again() -> None:
    memory = memory_ports()
    plan = new_plan(memory, "org-a")
    earlier = login(60, "earliest")

    def other_writer(_: Plan, change: Change) -> None:
        memory.plan_users.before_commit.clear()  # once
        user = memory.plan_users.load([(plan.plan_id, "ann")])[(plan.plan_id, "ann")]
        other = user.apply(plan, earlier)
        assert memory.plan_users.commit(plan, other, NOW).value == "committed"

    memory.plan_users.before_commit.append(other_writer)
    outcome = count(memory.ports, "org-a", [Counting(plan, "ann", login(10, "later"))], NOW)
    # The later login's commit failed on the version; decided again, it finds the seat held since
    # the earlier login, and commits nothing.
    assert outcome.committed == ()
    ann = memory.plan_users.users[(plan.plan_id, "ann")]
    assert [p.start.order_key for p in ann.periods] == [earlier.order_key]
    assert ann.version == 1
    assert memory.plan_users.seats[plan.plan_id] == 1


def test_transaction_conflicts_are_retried_until_the_commit_lands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counting, "BACKOFF_SECONDS", 0.0)
    memory = memory_ports()
    plan = new_plan(memory, "org-b", PlanType.MAU)
    memory.plan_users.conflicts = 5
    outcome = count(memory.ports, "org-b", [Counting(plan, "ann", login(10, "a"))], NOW)
    assert len(outcome.committed) == 1
    assert memory.plan_users.conflicts == 0
    assert sum(t.active_users for t in memory.plan_users.months.values()) == 1


def test_a_user_that_keeps_changing_is_a_retryable_conflict_and_commits_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(counting, "BACKOFF_SECONDS", 0.0)
    memory = memory_ports()
    plan = new_plan(memory, "org-c", PlanType.MAU)
    memory.plan_users.conflicts = 1 + counting.ATTEMPTS  # the group's commit, then each of one action
    with pytest.raises(ConsumptionConflict):
        count(memory.ports, "org-c", [Counting(plan, "ann", login(10, "a"))], NOW)
    assert memory.plan_users.users == {}
    memory.plan_users.conflicts = 0
    assert len(count(memory.ports, "org-c", [Counting(plan, "ann", login(10, "a"))], NOW).committed) == 1


def test_concurrent_batches_for_the_same_users_settle_as_one_after_the_other() -> None:
    """Two requests counting the same users at once (threads on the in-memory store): every
    version conflict is decided again, and the figures are those of the events in time order."""
    from concurrent.futures import ThreadPoolExecutor

    memory = memory_ports(threads=4)
    plan = new_plan(memory, "org-d")
    mau = new_plan(memory, "org-d", PlanType.MAU, product="learn")
    batches = [
        [event("org-d", f"b{b}e{u}", "user.login", f"u{u}", NOW - timedelta(hours=b + 1)) for u in range(30)]
        for b in range(6)
    ]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda batch: send(memory, "org-d", batch), batches))
    assert sum(r.accepted for r in results) == 180
    assert memory.plan_users.seats[plan.plan_id] == 30
    for u in range(30):
        ann = memory.plan_users.users[(plan.plan_id, f"u{u}")]
        assert ann.periods[0].start.event_id == f"b5e{u}"  # the earliest login holds the seat
    assert sum(t.active_users for (p, _), t in memory.plan_users.months.items() if p == mau.plan_id) == 30
    # Counting the same again (a resend) commits nothing.
    commits = memory.plan_users.commits
    for batch in batches:
        assert send(memory, "org-d", batch).duplicates == 30
    assert memory.plan_users.commits == commits
