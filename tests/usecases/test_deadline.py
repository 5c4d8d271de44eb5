"""Never near the gateway's timeout: counting stops at the request's deadline, the answer still says
what was durably stored, the days left uncounted are marked so, and the rollup's recount of such a
day completes the count exactly (the same figures as counting everything at once)."""

from __future__ import annotations

import random
import time
from datetime import timedelta

from license_usage.domain.plans import PlanType
from license_usage.usecases.counting import recount_days
from license_usage.usecases.record_events import record_events
from tests.usecases.memory import Memory, memory_ports
from tests.usecases.support import NOW, event, new_plan, send


def _batch(org_id: str, seed: int) -> list:  # type: ignore[type-arg]
    rng = random.Random(seed)
    return [
        event(
            org_id,
            f"e{i}",
            rng.choice(["user.login"] * 5 + ["user.deactivated"]),
            f"u{rng.randrange(40)}",
            NOW - timedelta(days=rng.randrange(3), minutes=rng.randrange(1440)),
        )
        for i in range(300)
    ]


def _figures(memory: Memory) -> tuple[object, ...]:
    users = {key: (s.periods, dict(s.months)) for key, s in memory.plan_users.users.items()}
    return users, dict(memory.plan_users.seats), sorted(memory.plan_users.months.items())


def test_a_count_out_of_time_answers_what_was_stored_and_the_rollup_completes_it() -> None:
    memory = memory_ports()
    plans = [new_plan(memory, "org-t"), new_plan(memory, "org-t", PlanType.MAU)]
    batch = _batch("org-t", 3)
    # A deadline already passed when counting starts (a slow store, an overloaded stack).
    recorded = record_events(memory.ports, "org-t", list(enumerate(batch)), NOW, deadline=time.monotonic() - 1)
    assert (recorded.accepted, recorded.duplicates) == (300, 0)  # durably stored, and said so
    assert memory.plan_users.commits == 0
    days = {e.day for e in batch}
    assert {day for (_, day) in memory.dirty_days.uncounted} == days  # left for the rollup
    recount_days(memory.ports, "org-t", days, plans, NOW)  # the daily rollup
    reference = memory_ports()
    new_plan(reference, "org-t")
    new_plan(reference, "org-t", PlanType.MAU)
    send(reference, "org-t", batch)
    assert _figures(memory) == _figures(reference)
    commits = memory.plan_users.commits
    recount_days(memory.ports, "org-t", days, plans, NOW)  # a rerun changes nothing
    assert memory.plan_users.commits == commits


def test_a_count_within_its_time_leaves_nothing() -> None:
    memory = memory_ports()
    new_plan(memory, "org-u")
    recorded = record_events(
        memory.ports, "org-u", list(enumerate(_batch("org-u", 4))), NOW, deadline=time.monotonic() + 60
    )
    assert recorded.accepted == 300
    assert memory.plan_users.commits > 0
    assert memory.dirty_days.uncounted == set()
