"""Events stored but not counted in time (issue 22: an ingest past its deadline) against DynamoDB
Local: the days are marked uncounted, and the daily rollup counts them again before reading them,
to the figures of counting at once."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from license_usage.domain.access import Principal, Role
from license_usage.domain.events import UsageEvent
from license_usage.domain.plans import Plan, PlanType
from usage_local.dynamodb_local import LocalDynamoDB

NOW = datetime.now(UTC).replace(microsecond=0)


def new_plan(org_id: str, plan_type: PlanType) -> Plan:
    from license_usage.store.plans import new_plan_id, save_new_plan

    plan = Plan(new_plan_id(), org_id, plan_type, "learn", 1000, NOW - timedelta(days=30), NOW + timedelta(days=300))
    save_new_plan(plan, 0, Principal(Role.VENDOR_ADMIN, None, "tester"), NOW)
    return plan


def test_a_day_left_uncounted_is_counted_by_the_rollup(dynamodb: LocalDynamoDB) -> None:
    from license_usage.store.dirty_days import dirty_days
    from license_usage.store.plan_users import seats_in_use
    from license_usage.store.plans import plan_counters
    from license_usage.store.ports import dynamo_ports
    from license_usage.usecases.record_events import record_events
    from license_usage.usecases.rollups import run_daily_rollup

    org_id = f"late-{uuid.uuid4().hex[:8]}"
    seats, mau = new_plan(org_id, PlanType.SEATS), new_plan(org_id, PlanType.MAU)
    rng = random.Random(11)
    events = [
        UsageEvent(
            org_id,
            f"e{i}",
            "user.login" if rng.random() < 0.85 else "user.deactivated",
            NOW - timedelta(days=rng.randrange(1, 3), minutes=rng.randrange(1440)),
            NOW,
            user_id=f"u{rng.randrange(30)}",
            product="learn",
        )
        for i in range(120)
    ]
    ports = dynamo_ports()
    recorded = record_events(ports, org_id, list(enumerate(events)), NOW, deadline=time.monotonic() - 1)
    assert recorded.accepted == 120  # stored, and the answer says so
    assert seats_in_use(seats.plan_id) == 0  # nothing counted
    marks = [d for d in dirty_days() if d.org_id == org_id]
    assert {d.day for d in marks} == {e.day for e in events}
    assert all(d.uncounted for d in marks)

    report = run_daily_rollup(NOW, ports)
    assert [label for label in [*report.quarantined, *report.retry_later] if label.startswith(org_id)] == []
    # The same figures as another organization that got the same events counted at once.
    other = f"once-{uuid.uuid4().hex[:8]}"
    seats_once, mau_once = new_plan(other, PlanType.SEATS), new_plan(other, PlanType.MAU)
    again = [UsageEvent(other, e.id, e.type, e.timestamp, NOW, user_id=e.user_id, product="learn") for e in events]
    record_events(ports, other, list(enumerate(again)), NOW)
    assert seats_in_use(seats.plan_id) == seats_in_use(seats_once.plan_id) > 0
    days = {d: c.seats_taken for d, c in plan_counters(seats).days.items()}
    assert days == {d: c.seats_taken for d, c in plan_counters(seats_once).days.items()}
    months = {m: c.active_users for m, c in plan_counters(mau).months.items()}
    assert months == {m: c.active_users for m, c in plan_counters(mau_once).months.items()}
    assert [d for d in dirty_days() if d.org_id == org_id] == []  # rolled up and cleared
