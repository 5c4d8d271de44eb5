"""Seat claims and releases through the API (SPEC §5): idempotent, atomic, audited. They go
through the same count and finish as the events' logins and deactivations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from license_usage.domain.access import Principal
from license_usage.domain.counting import Counting, SeatAudit
from license_usage.domain.errors import InvalidRequest, NotFound
from license_usage.domain.plan_user import Action, ActionKind, SeatLimitReached
from license_usage.domain.plans import Plan, PlanType
from license_usage.domain.timestamps import format_utc
from license_usage.usecases.counting import count, finish
from license_usage.usecases.ports import Ports

logger = Logger(child=True)


def current_seats_plan(ports: Ports, org_id: str, product: str | None, now: datetime) -> Plan:
    plans = [
        p
        for p in ports.plans.of_org(org_id)
        if p.type is PlanType.SEATS and p.covers(now) and (product is None or p.product == product)
    ]
    if not plans:
        raise NotFound(f"No current seats plan{' for ' + product if product else ''} in organization {org_id}.")
    if len(plans) > 1:
        products = ", ".join(sorted(p.product for p in plans))
        raise InvalidRequest(f"product is required: the organization has current seats plans for {products}.")
    return plans[0]


def _counting(plan: Plan, user_id: str, kind: ActionKind, actor: Principal, now: datetime) -> Counting:
    action = Action(f"{format_utc(now)}#api.{uuid.uuid4().hex}", kind, source=f"{actor.role.value}:{actor.subject}")
    return Counting(plan, user_id, action, SeatAudit(actor, taking=kind is ActionKind.CLAIM))


@dataclass(frozen=True)
class SeatGrant:
    granted: bool
    overdraft: bool  # seats in use now exceed the plan's amount


def claim_seat_for(
    ports: Ports, org_id: str, user_id: str, product: str | None, actor: Principal, now: datetime
) -> SeatGrant:
    plan = current_seats_plan(ports, org_id, product, now)
    claim = _counting(plan, user_id, ActionKind.CLAIM, actor, now)
    outcome = count(ports, org_id, [claim], now, consistent=True, totals_of=[plan])
    finish(ports, outcome, now)
    if any(change.denied is not None for change in outcome.changes_of(plan.plan_id, user_id)):
        logger.info("seat claim refused", extra={"plan_id": plan.plan_id, "hard_limit": plan.hard_limit})
        raise SeatLimitReached(f"All {plan.hard_limit} seats of plan {plan.plan_id} are taken (hard limit).")
    return SeatGrant(granted=True, overdraft=outcome.counters[plan.plan_id].seats_in_use > plan.amount)


def release_seat_of(
    ports: Ports, org_id: str, user_id: str, product: str | None, actor: Principal, now: datetime
) -> bool:
    """True when a seat was freed; False when the user held none (releasing is idempotent)."""
    plan = current_seats_plan(ports, org_id, product, now)
    key = (plan.plan_id, user_id)
    if not ports.plan_users.load([key], consistent=True)[key].holds_seat:
        return False
    release = _counting(plan, user_id, ActionKind.RELEASE, actor, now)
    outcome = count(ports, org_id, [release], now, consistent=True, totals_of=[plan])
    finish(ports, outcome, now)
    return any(change.seats_delta < 0 for change in outcome.changes_of(plan.plan_id, user_id))
