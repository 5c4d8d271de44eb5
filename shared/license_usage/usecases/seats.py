"""Seat claims and releases through the API (SPEC §5): idempotent, atomic, audited."""

from __future__ import annotations

import uuid
from datetime import datetime

from license_usage.domain.access import Principal
from license_usage.domain.errors import Conflict, InvalidRequest, NotFound
from license_usage.domain.plans import Plan, PlanType
from license_usage.domain.seats import SeatLimitReached, SeatOutcome
from license_usage.domain.timestamps import format_utc
from license_usage.store.audit import audit_record
from license_usage.store.consumption import claim_seat, load_plan_users, release_seat, seats_in_use
from license_usage.store.dirty_days import mark_days_dirty
from license_usage.store.plans import plans_of_org
from license_usage.usecases.consumption import refresh_plan_flags

ATTEMPTS = 5


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


def _order_key(now: datetime) -> str:
    return f"{format_utc(now)}#api.{uuid.uuid4().hex}"


def _seat_snapshot(user_id: str, held: bool) -> dict[str, object]:
    return {"user_id": user_id, "seat": "held" if held else "none"}


def claim_seat_for(
    org_id: str, user_id: str, product: str | None, actor: Principal, now: datetime
) -> tuple[bool, bool]:
    """(granted, overdraft): the user holds a seat, and whether seats in use now exceed the amount."""
    plan = current_seats_plan(org_id, product, now)
    details = {"by": actor.role.value, "actor": actor.subject}
    for _ in range(ATTEMPTS):
        user = load_plan_users([(plan.plan_id, user_id)], consistent=True)[(plan.plan_id, user_id)]
        if user.seat.held:
            return True, seats_in_use(plan.plan_id) > plan.amount
        audit = audit_record(
            org_id,
            actor,
            "seat.claimed",
            f"{plan.plan_id}/{user_id}",
            now,
            _seat_snapshot(user_id, False),
            _seat_snapshot(user_id, True),
        )
        outcome = claim_seat(plan, user, _order_key(now), now, details, audit)
        if outcome is not SeatOutcome.SUPERSEDED:  # a claimed or denied seat's activity entry landed today
            mark_days_dirty(org_id, {now.date().isoformat()}, now)
        if outcome is SeatOutcome.DENIED:
            raise SeatLimitReached(f"All {plan.hard_limit} seats of plan {plan.plan_id} are taken (hard limit).")
        if outcome is SeatOutcome.GRANTED:
            refresh_plan_flags(plan, now)
            return True, seats_in_use(plan.plan_id) > plan.amount
    raise Conflict("The seat kept changing; retry.")


def release_seat_of(org_id: str, user_id: str, product: str | None, actor: Principal, now: datetime) -> bool:
    """True when a seat was freed; False when the user held none (releasing is idempotent)."""
    plan = current_seats_plan(org_id, product, now)
    details = {"by": actor.role.value, "actor": actor.subject}
    for _ in range(ATTEMPTS):
        user = load_plan_users([(plan.plan_id, user_id)], consistent=True)[(plan.plan_id, user_id)]
        if not user.seat.held:
            return False
        audit = audit_record(
            org_id,
            actor,
            "seat.released",
            f"{plan.plan_id}/{user_id}",
            now,
            _seat_snapshot(user_id, True),
            _seat_snapshot(user_id, False),
        )
        if release_seat(plan, user, _order_key(now), now, details, audit):
            mark_days_dirty(org_id, {now.date().isoformat()}, now)
            refresh_plan_flags(plan, now)
            return True
    raise Conflict("The seat kept changing; retry.")
