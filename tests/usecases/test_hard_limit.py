"""Hard limits under races: however many requests count or claim at once, a hard-limited plan
never holds more seats than its limit; the commit's condition decides, and a refused login or
claim is stored as a denial (the seat API answers 409)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from license_usage.domain.access import Principal, Role
from license_usage.domain.plan_user import SeatLimitReached
from license_usage.domain.plans import Enforcement
from license_usage.usecases.seats import claim_seat_for, release_seat_of
from tests.usecases.memory import memory_ports
from tests.usecases.support import NOW, event, new_plan, send

ADMIN = Principal(Role.ORG_ADMIN, "org-h", "admin")


@pytest.mark.parametrize("round_", range(5))
def test_logins_racing_for_a_hard_limit_take_exactly_the_limit(round_: int) -> None:
    memory = memory_ports(threads=4)
    plan = new_plan(memory, "org-h", amount=7, enforcement=Enforcement.HARD)
    batches = [
        [event("org-h", f"r{round_}b{b}u{u}", "user.login", f"b{b}u{u}", NOW - timedelta(minutes=u)) for u in range(5)]
        for b in range(8)
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda batch: send(memory, "org-h", batch), batches))
    users = [u for (p, _), u in memory.plan_users.users.items() if p == plan.plan_id]
    holders = [u for u in users if u.holds_seat]
    assert len(holders) == plan.hard_limit == 7
    assert memory.plan_users.seats[plan.plan_id] == 7
    denied = [u for u in users if not u.holds_seat]
    assert len(denied) == 40 - 7
    assert all([m.kind.value for m in u.marks] == ["denied"] for u in denied)
    assert memory.plans.flags.get(plan.plan_id, False) is False  # 7 of 7: not over the amount


def test_claims_racing_for_the_last_seats_grant_exactly_the_limit_and_refuse_the_rest() -> None:
    memory = memory_ports(threads=4)
    plan = new_plan(memory, "org-h", amount=3, enforcement=Enforcement.HARD)

    def claim(user: str, at: datetime = NOW) -> bool:
        try:
            return claim_seat_for(memory.ports, "org-h", user, None, ADMIN, at).granted
        except SeatLimitReached:
            return False

    with ThreadPoolExecutor(10) as pool:
        granted = list(pool.map(claim, [f"c{i}" for i in range(20)]))
    assert granted.count(True) == 3
    assert memory.plan_users.seats[plan.plan_id] == 3
    assert len(memory.plan_users.audits) == 3  # one audit entry per seat claimed, none for a refusal
    # A hard limit notice, once, whatever the number of refusals.
    kinds = [n.kind.value for n in memory.notices.stored.values()]
    assert kinds.count("usage.hard_limit") == 1
    # A release frees a seat for the next claim.
    holder = next(f"c{i}" for i, ok in enumerate(granted) if ok)
    later = NOW + timedelta(seconds=1)
    assert release_seat_of(memory.ports, "org-h", holder, None, ADMIN, later)
    assert not release_seat_of(memory.ports, "org-h", holder, None, ADMIN, later)  # idempotent
    assert claim("late", later + timedelta(seconds=1))
    assert memory.plan_users.seats[plan.plan_id] == 3
