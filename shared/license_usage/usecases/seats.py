"""Seat claims and releases through the API (SPEC §5): idempotent, atomic, audited. They go
through the same aggregate and commit as the events' logins and deactivations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from license_usage.domain.access import Principal
from license_usage.domain.errors import InvalidRequest, NotFound
from license_usage.domain.plan_user import Action, ActionKind, Change, SeatLimitReached
from license_usage.domain.plans import Plan, PlanType
from license_usage.domain.timestamps import format_utc
from license_usage.store.audit import audit_record
from license_usage.store.dirty_days import mark_days_dirty
from license_usage.store.plan_users import load_plan_user
from license_usage.store.plans import plans_of_org
from license_usage.store.tables import LicensingItem
from license_usage.usecases.consumption import Counted, after_counting, settle

logger = Logger(child=True)


def current_seats_plan(org_id: str, product: str | None, now: datetime) -> Plan:
    plans = [
        p
        for p in plans_of_org(org_id)
        if p.type is PlanType.SEATS and p.covers(now) and (product is None or p.product == product)
    ]
    if not plans:
        raise NotFound(f"No current seats plan{' for ' + product if product else ''} in organization {org_id}.")
    if len(plans) > 1:
        products = ", ".join(sorted(p.product for p in plans))
        raise InvalidRequest(f"product is required: the organization has current seats plans for {products}.")
    return plans[0]


def _action(kind: ActionKind, actor: Principal, now: datetime) -> Action:
    return Action(f"{format_utc(now)}#api.{uuid.uuid4().hex}", kind, source=f"{actor.role.value}:{actor.subject}")


def _audit(plan: Plan, user_id: str, actor: Principal, now: datetime, taking: bool) -> LicensingItem:
    def snapshot(held: bool) -> dict[str, object]:
        return {"user_id": user_id, "seat": "held" if held else "none"}

    action = "seat.claimed" if taking else "seat.released"
    target = f"{plan.plan_id}/{user_id}"
    return audit_record(plan.org_id, actor, action, target, now, snapshot(not taking), snapshot(taking))


@dataclass(frozen=True)
class SeatGrant:
    granted: bool
    overdraft: bool  # seats in use now exceed the plan's amount


def _after_change(plan: Plan, change: Change, now: datetime) -> int:
    """Mark the days the change touched and refresh the overdraft flag; returns seats in use."""
    counted = Counted()
    counted.add(plan, change)
    if counted.days:
        mark_days_dirty(plan.org_id, counted.days, now)
    return after_counting(plan, now, counted.refused.get(plan.plan_id, ())).seats_in_use


def claim_seat_for(org_id: str, user_id: str, product: str | None, actor: Principal, now: datetime) -> SeatGrant:
    plan = current_seats_plan(org_id, product, now)
    user = load_plan_user(plan.plan_id, user_id)

    def audit_for(change: Change) -> LicensingItem | None:
        return _audit(plan, user_id, actor, now, taking=True) if change.takes_seat else None

    _, change = settle(plan, user, _action(ActionKind.CLAIM, actor, now), now, audit_for=audit_for)
    in_use = _after_change(plan, change, now)
    if change.denied is not None:
        logger.info("seat claim refused", extra={"plan_id": plan.plan_id, "hard_limit": plan.hard_limit})
        raise SeatLimitReached(f"All {plan.hard_limit} seats of plan {plan.plan_id} are taken (hard limit).")
    return SeatGrant(granted=True, overdraft=in_use > plan.amount)


def release_seat_of(org_id: str, user_id: str, product: str | None, actor: Principal, now: datetime) -> bool:
    """True when a seat was freed; False when the user held none (releasing is idempotent)."""
    plan = current_seats_plan(org_id, product, now)
    user = load_plan_user(plan.plan_id, user_id)
    if not user.holds_seat:
        return False

    def audit_for(change: Change) -> LicensingItem | None:
        return _audit(plan, user_id, actor, now, taking=False) if change.seats_delta < 0 else None

    _, change = settle(plan, user, _action(ActionKind.RELEASE, actor, now), now, audit_for=audit_for)
    _after_change(plan, change, now)
    return change.seats_delta < 0
