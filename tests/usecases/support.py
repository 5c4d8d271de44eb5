"""What the use-case tests share: a plan in the in-memory ports, events, and sending them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from license_usage.domain.access import Principal, Role
from license_usage.domain.events import UsageEvent
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.usecases.record_events import RecordedEvents, record_events
from tests.usecases.memory import Memory

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
VENDOR = Principal(Role.VENDOR_ADMIN, None, "tester")


def new_plan(
    memory: Memory,
    org_id: str,
    plan_type: PlanType = PlanType.SEATS,
    amount: int = 1000,
    enforcement: Enforcement = Enforcement.SOFT,
    product: str = "learn",
    **terms: object,
) -> Plan:
    plan = Plan(
        plan_id=memory.plans.new_id(),
        org_id=org_id,
        type=plan_type,
        product=product,
        amount=amount,
        start=NOW - timedelta(days=60),
        end=NOW + timedelta(days=300),
        enforcement=enforcement,
        **terms,  # type: ignore[arg-type]
    )
    memory.plans.save_new(plan, memory.plans.guard_version(plan), VENDOR, NOW)
    return plan


def event(
    org_id: str, event_id: str, event_type: str, user_id: str, at: datetime, product: str = "learn"
) -> UsageEvent:
    return UsageEvent(org_id, event_id, event_type, at, NOW, user_id=user_id, product=product)


def send(memory: Memory, org_id: str, events: Sequence[UsageEvent]) -> RecordedEvents:
    """What ``POST /v1/events`` does once the batch is valid."""
    return record_events(memory.ports, org_id, list(enumerate(events)), NOW)
