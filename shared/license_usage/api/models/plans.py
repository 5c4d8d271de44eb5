"""Plans, usage, per-user consumption, overdrafts and the audit trail (SPEC §5)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, field_validator

from license_usage.api.models.common import Freshness, RoleName
from license_usage.domain.money import accept_currency, accept_unit_price
from license_usage.domain.plans import DEFAULT_NOTIFY_AT, NOTIFY_AT_RANGE, Enforcement, Plan, PlanStatus, PlanType
from license_usage.domain.timestamps import format_utc_seconds, parse_rfc3339


def _instant(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 string")
    return parse_rfc3339(value)


# Bounded numbers: every amount fits a DynamoDB number and every sum of them a Python int
# figure (SPEC §5 leaves the upper bound open; a billion seats or credits is beyond any plan).
MAX_AMOUNT = 1_000_000_000
Amount = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT)]
Overdraft = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
NotifyPercent = Annotated[StrictInt, Field(ge=NOTIFY_AT_RANGE[0], le=NOTIFY_AT_RANGE[1])]
NotifyAt = Annotated[
    tuple[NotifyPercent, ...],
    Field(max_length=20, description="usage.threshold notices at these percents of amount (SPEC §7)"),
]


def _unit_price(value: object) -> str:
    accept_unit_price(value)  # type: ignore[arg-type]
    return str(value)


def _currency(value: object) -> str:
    return accept_currency(value)  # type: ignore[arg-type]


UnitPriceText = Annotated[
    str,
    BeforeValidator(_unit_price),
    Field(
        description="price per unit per year, a decimal string (at most 12 integer digits and 4 decimals)",
        examples=["120.00"],
    ),
]
CurrencyCode = Annotated[
    str, BeforeValidator(_currency), Field(description="ISO 4217 code, with unit_price", examples=["EUR"])
]


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: PlanType
    product: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    amount: Amount
    start: datetime
    end: datetime | None = None
    overdraft: Overdraft = 0
    enforcement: Enforcement = Enforcement.SOFT
    grace_days: StrictInt = Field(default=0, le=365)
    assign_roles: tuple[RoleName, ...] = Field(default=(), max_length=50)
    notify_at: NotifyAt = DEFAULT_NOTIFY_AT
    unit_price: UnitPriceText | None = None
    currency: CurrencyCode | None = None

    _start = field_validator("start", mode="before")(_instant)

    @field_validator("end", mode="before")
    @classmethod
    def _end(cls, value: object) -> datetime | None:
        return None if value is None else _instant(value)


class RenewalIn(BaseModel):
    """Optional changes for the next term; everything else carries over."""

    model_config = ConfigDict(extra="forbid")

    amount: Amount | None = None
    overdraft: Overdraft | None = None
    enforcement: Enforcement | None = None
    grace_days: StrictInt | None = Field(default=None, le=365)
    assign_roles: tuple[RoleName, ...] | None = Field(default=None, max_length=50)
    notify_at: NotifyAt | None = None
    unit_price: UnitPriceText | None = None
    currency: CurrencyCode | None = None


class PlanOut(BaseModel):
    plan_id: str
    org_id: str
    type: PlanType
    product: str
    amount: int
    start: str
    end: str
    overdraft: int
    enforcement: Enforcement
    grace_days: int
    assign_roles: list[str]
    notify_at: list[int]
    unit_price: str | None = None
    currency: str | None = None
    status: PlanStatus

    @classmethod
    def of(cls, plan: Plan, now: datetime) -> PlanOut:
        return cls(
            plan_id=plan.plan_id,
            org_id=plan.org_id,
            type=plan.type,
            product=plan.product,
            amount=plan.amount,
            start=format_utc_seconds(plan.start),
            end=format_utc_seconds(plan.end),
            overdraft=plan.overdraft,
            enforcement=plan.enforcement,
            grace_days=plan.grace_days,
            assign_roles=list(plan.assign_roles),
            notify_at=list(plan.notify_at),
            unit_price=plan.unit_price,
            currency=plan.currency,
            status=plan.status_at(now),
        )


class PlanList(BaseModel):
    items: list[PlanOut]
    next_cursor: str | None = None


class SeatsMonthOut(BaseModel):
    """A seats plan month (SPEC §8 consumption columns)."""

    month: str
    month_start: date
    month_end: date
    seats_taken: int
    seats_released: int
    seats_in_use_end: int
    peak_seats_in_use: int
    seat_limit: int
    hard_limit: int
    overage: int


class MauMonthOut(BaseModel):
    month: str
    month_start: date
    month_end: date
    active_users: int
    allowance: int
    overage: int


class MaucMonthOut(BaseModel):
    month: str
    month_start: date
    month_end: date
    credits_used: int
    cumulative_used: int
    credits_remaining: int
    overage: int


class UsageOut(BaseModel):
    plan_id: str
    type: PlanType
    product: str
    status: PlanStatus
    amount: int
    consumed: int
    available: int
    utilization_pct: float
    overage: int
    forecast_exhausted_on: date | None
    months: list[SeatsMonthOut] | list[MauMonthOut] | list[MaucMonthOut]
    data_as_of: str
    freshness: Freshness
    hard_limit: int | None = None
    inactive_assignments: int | None = None
    active_assigned: int | None = None  # seats plans that assign by role (SPEC §2)
    active_pct: float | None = None


class PlanUserOut(BaseModel):
    user_id: str
    status: str | None
    roles: list[str]
    group: str | None
    first_login: str | None
    last_login: str | None
    months: dict[str, int]
    seat_reason: Literal["login", "role", "claim"] | None = None  # seats plans: why the user holds a seat


class PlanUserList(BaseModel):
    items: list[PlanUserOut]
    next_cursor: str | None


class SeatClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")


class SeatGrant(BaseModel):
    granted: bool
    overdraft: bool


class SeatRelease(BaseModel):
    released: bool


class OverdraftOut(BaseModel):
    org_id: str
    plan_id: str
    type: PlanType
    product: str
    amount: int
    consumed: int
    overage: int
    utilization_pct: float


class OverdraftList(BaseModel):
    items: list[OverdraftOut]
    next_cursor: str | None = None


class AuditEntryOut(BaseModel):
    id: str
    at: str
    actor: str
    actor_role: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditList(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


class OrgOut(BaseModel):
    org_id: str
    created_at: str
    current_plans: list[PlanOut]


class OrgList(BaseModel):
    items: list[OrgOut]
    next_cursor: str | None
