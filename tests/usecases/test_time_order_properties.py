"""SPEC §2 and §4 through the use case: whatever order events arrive in, in whatever batches, and
with requests counting side by side, every user's consumption settles as the events in time order
would (the in-order reference of tests/domain/test_plan_user.py), thousands of histories a run.
Each history is one user's; a seed's histories share one organization and its plans."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from license_usage.domain.events import UsageEvent
from license_usage.domain.plan_user import Action, ActionKind
from license_usage.domain.plans import PlanType
from license_usage.domain.timestamps import format_utc, parse_rfc3339
from tests.domain.test_plan_user import reference_months, reference_seat_periods
from tests.usecases.memory import memory_ports
from tests.usecases.support import NOW, new_plan, send

HISTORIES_PER_SEED = 100
BASE = datetime(2026, 11, 27, tzinfo=UTC)  # within the plans, before NOW; days 0–4


def _history(rng: random.Random, user: str) -> list[Action]:
    """A user's logins and deactivations over a few days, often several on one day, ids unique."""
    actions = []
    for index in range(rng.randint(1, 12)):
        instant = BASE + timedelta(days=rng.randint(0, 4), hours=rng.randint(0, 23), minutes=rng.choice([0, 30]))
        kind = ActionKind.RELEASE if rng.random() < 0.3 else ActionKind.LOGIN
        actions.append(Action(f"{format_utc(instant)}#{user}e{index}", kind))
    return actions


def _event(org_id: str, user: str, action: Action) -> UsageEvent:
    stamp, _, event_id = action.order_key.partition("#")
    event_type = "user.login" if action.kind is ActionKind.LOGIN else "user.deactivated"
    return UsageEvent(org_id, event_id, event_type, parse_rfc3339(stamp), NOW, user_id=user, product="learn")


def _send_shuffled(rng: random.Random, memory: object, org_id: str, events: list[UsageEvent], parallel: bool) -> None:
    arrival = events[:]
    rng.shuffle(arrival)
    batches, index = [], 0
    while index < len(arrival):
        size = rng.randint(1, 120)
        batches.append(arrival[index : index + size])
        index += size
    if parallel:  # requests counting side by side: conflicts, retries, logins racing releases
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda batch: send(memory, org_id, batch), batches))  # type: ignore[arg-type]
    else:
        for batch in batches:
            send(memory, org_id, batch)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(40))
def test_any_arrival_order_and_batching_settles_seats_and_months_as_in_time_order(seed: int) -> None:
    rng = random.Random(seed)
    memory = memory_ports(threads=4 if seed % 4 == 0 else 1)
    org_id = f"org-{seed}"
    seats = new_plan(memory, org_id)
    mau = new_plan(memory, org_id, PlanType.MAU)
    histories = {f"u{n}": _history(rng, f"u{n}") for n in range(HISTORIES_PER_SEED)}
    events = [_event(org_id, user, action) for user, actions in histories.items() for action in actions]
    _send_shuffled(rng, memory, org_id, events, parallel=seed % 4 == 0)

    expected_days: Counter[tuple[str, str]] = Counter()
    held = 0
    expected_months: Counter[str] = Counter()
    for user, actions in histories.items():
        periods = reference_seat_periods(actions)
        state = memory.plan_users.users.get((seats.plan_id, user))
        got = [(p.start.order_key, p.end.order_key if p.end else None) for p in state.periods] if state else []
        assert got == periods, (seed, user, sorted(actions))
        for start, end in periods:
            expected_days[(start[:10], "seats_taken")] += 1
            if end is not None:
                expected_days[(end[:10], "seats_released")] += 1
        held += bool(periods) and periods[-1][1] is None
        months = reference_months(actions)
        mau_state = memory.plan_users.users.get((mau.plan_id, user))
        assert dict(mau_state.months if mau_state else {}) == months
        expected_months.update(months.keys())
    assert memory.plan_users.seats[seats.plan_id] == held
    got_days: Counter[tuple[str, str]] = Counter()
    for (plan_id, day), tally in memory.plan_users.days.items():
        if plan_id == seats.plan_id:
            got_days[(day, "seats_taken")] += tally.seats_taken
            got_days[(day, "seats_released")] += tally.seats_released
    assert +got_days == +expected_days
    got_months = Counter({m: t.active_users for (p, m), t in memory.plan_users.months.items() if p == mau.plan_id})
    assert +got_months == +expected_months
    # Everything again, in another order: nothing more is committed.
    commits = memory.plan_users.commits
    _send_shuffled(rng, memory, org_id, events, parallel=False)
    assert memory.plan_users.commits == commits
