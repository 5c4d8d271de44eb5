"""Creating and renewing plans (SPEC §2, §5)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from license_usage.domain.access import Principal
from license_usage.domain.errors import Conflict
from license_usage.domain.plans import (
    DEFAULT_NOTIFY_AT,
    Enforcement,
    Plan,
    PlanType,
    check_no_overlap,
    check_plan_terms,
    one_year_after,
)
from license_usage.usecases.counting import count, finish, role_countings
from license_usage.usecases.ports import Ports

ATTEMPTS = 3


@dataclass(frozen=True)
class PlanTerms:
    type: PlanType
    product: str
    amount: int
    start: datetime
    end: datetime | None = None
    overdraft: int = 0
    enforcement: Enforcement = Enforcement.SOFT
    grace_days: int = 0
    assign_roles: tuple[str, ...] = ()
    notify_at: tuple[int, ...] = DEFAULT_NOTIFY_AT
    unit_price: str | None = None
    currency: str | None = None


def create_plan(
    ports: Ports, org_id: str, terms: PlanTerms, actor: Principal, now: datetime, renewed_from: str | None = None
) -> Plan:
    end = terms.end or one_year_after(terms.start)
    check_plan_terms(
        terms.type,
        terms.start,
        end,
        terms.amount,
        terms.overdraft,
        terms.grace_days,
        terms.enforcement,
        terms.assign_roles,
        tuple(terms.notify_at),
        terms.unit_price,
        terms.currency,
    )
    plan = Plan(
        plan_id=ports.plans.new_id(),
        org_id=org_id,
        type=terms.type,
        product=terms.product,
        amount=terms.amount,
        start=terms.start,
        end=end,
        overdraft=terms.overdraft,
        enforcement=terms.enforcement,
        grace_days=terms.grace_days,
        assign_roles=tuple(terms.assign_roles),
        notify_at=tuple(terms.notify_at),
        renewed_from=renewed_from,
        unit_price=terms.unit_price,
        currency=terms.currency,
    )
    for _ in range(ATTEMPTS):
        # The guard is read before the plans, so a plan created after this read changes it.
        version = ports.plans.guard_version(plan)
        check_no_overlap(plan, ports.plans.of_org(org_id))
        try:
            ports.plans.save_new(plan, version, actor, now)
        except Conflict:
            continue
        # A plan that assigns by role gives seats to the users who hold its roles already.
        finish(ports, count(ports, org_id, role_countings(ports, plan), now), now)
        return plan
    raise Conflict("Plans of this product and type kept changing; retry.")


def renew_plan(
    ports: Ports, org_id: str, plan_id: str, changes: dict[str, object], actor: Principal, now: datetime
) -> Plan:
    """SPEC §5: the next plan starts at this one's end; its terms carry over unless changed."""
    current = ports.plans.get(org_id, plan_id)
    terms = PlanTerms(
        type=current.type,
        product=current.product,
        amount=current.amount,
        start=current.end,
        overdraft=current.overdraft,
        enforcement=current.enforcement,
        grace_days=current.grace_days,
        assign_roles=current.assign_roles,
        notify_at=current.notify_at,
        unit_price=current.unit_price,
        currency=current.currency,
    )
    terms = replace(terms, **{name: value for name, value in changes.items() if value is not None})  # type: ignore[arg-type]
    return create_plan(ports, org_id, terms, actor, now, renewed_from=plan_id)


def list_plans(ports: Ports, org_id: str) -> list[Plan]:
    """SPEC §5: the organization's past, current and future plans, oldest first."""
    return ports.plans.of_org(org_id)
