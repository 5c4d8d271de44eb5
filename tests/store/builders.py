"""Plans and actions the store tests build: one plan of a new organization, saved through the
ports under its guard; a login some minutes before ``NOW``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from license_usage.domain.access import Principal, Role
from license_usage.domain.plan_user import Action, ActionKind
from license_usage.domain.plans import Plan, PlanType
from license_usage.domain.timestamps import format_utc
from license_usage.usecases.ports import Ports

NOW = datetime.now(UTC).replace(microsecond=0)
VENDOR = Principal(Role.VENDOR_ADMIN, None, "tester")


def new_plan(ports: Ports, plan_type: PlanType = PlanType.SEATS, **terms: object) -> Plan:
    plan = Plan(
        plan_id=ports.plans.new_id(),
        org_id=f"org-{uuid.uuid4().hex[:8]}",
        type=plan_type,
        product="learn",
        amount=int(terms.pop("amount", 5)),  # type: ignore[call-overload]
        start=NOW - timedelta(days=30),
        end=NOW + timedelta(days=300),
        **terms,  # type: ignore[arg-type]
    )
    ports.plans.save_new(plan, ports.plans.guard_version(plan), VENDOR, NOW)
    return plan


def login(minutes_ago: int, event_id: str) -> Action:
    return Action(f"{format_utc(NOW - timedelta(minutes=minutes_ago))}#{event_id}", ActionKind.LOGIN)
