"""A fault between storing the events and counting them (the function dies in between): the events
are durable, nothing is counted, and a resend of the same batch completes the count exactly once."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from license_usage.domain.plans import PlanType
from license_usage.faults import InjectedFault
from tests.usecases.memory import memory_ports
from tests.usecases.support import NOW, event, new_plan, send


def test_a_resend_after_a_fault_between_store_and_count_counts_exactly_once(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = memory_ports()
    seats = new_plan(memory, "org-f")
    mau = new_plan(memory, "org-f", PlanType.MAU, product="learn")
    rng = random.Random(7)
    batch = [
        event(
            "org-f",
            f"e{i}",
            rng.choice(["user.login"] * 4 + ["user.deactivated"]),
            f"u{rng.randrange(25)}",
            NOW - timedelta(days=rng.randrange(5), minutes=rng.randrange(1440)),
        )
        for i in range(200)
    ]
    monkeypatch.setenv("LICENSE_USAGE_FAULTS", "after_store")
    with pytest.raises(InjectedFault):
        send(memory, "org-f", batch)
    assert len(memory.events.events) == 200  # stored, durably
    assert memory.plan_users.commits == 0  # counted: nothing
    assert not memory.dirty_days.marks  # and no day marked yet
    monkeypatch.delenv("LICENSE_USAGE_FAULTS")
    resent = send(memory, "org-f", batch)
    assert (resent.accepted, resent.duplicates) == (0, 200)
    # The same figures as a fresh organization that got the batch once, without the fault.
    reference = memory_ports()
    ref_seats = new_plan(reference, "org-f")
    ref_mau = new_plan(reference, "org-f", PlanType.MAU, product="learn")
    send(reference, "org-f", batch)
    assert memory.plan_users.seats[seats.plan_id] == reference.plan_users.seats[ref_seats.plan_id]
    ours = {u: s.periods for (p, u), s in memory.plan_users.users.items() if p == seats.plan_id}
    theirs = {u: s.periods for (p, u), s in reference.plan_users.users.items() if p == ref_seats.plan_id}
    assert ours == theirs
    ours_mau = {m: t for (p, m), t in memory.plan_users.months.items() if p == mau.plan_id}
    theirs_mau = {m: t for (p, m), t in reference.plan_users.months.items() if p == ref_mau.plan_id}
    assert ours_mau == theirs_mau
    assert set(memory.dirty_days.marks) == set(reference.dirty_days.marks)
    # A third send changes nothing.
    commits = memory.plan_users.commits
    send(memory, "org-f", batch)
    assert memory.plan_users.commits == commits
