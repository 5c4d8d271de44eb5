"""Insights (SPEC §11): an organization's recommendations and the vendor's ranked list.

Money is decimal text (``"120.00"``) with its ISO 4217 currency, never a JSON number; instants
are UTC seconds ``…Z`` and days ``YYYY-MM-DD``, as everywhere in the API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from license_usage.api.models.common import Freshness

DecimalText = Annotated[str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["120.00"])]


class MoneyOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: DecimalText
    currency: str = Field(description="ISO 4217")


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeatsReclaimableEvidenceOut(Evidence):
    idle_seats: int = Field(description="seats held by users with no login in the last 30 days")
    user_ids: list[str] = Field(description="the first 100 of those users, sorted")
    seats_in_use: int
    amount: int
    inactive_after_days: int
    days_left: int
    plan_year_days: int
    unit_price: MoneyOut | None
    tied_up: MoneyOut | None = Field(description="unit_price × idle_seats × days_left ÷ plan_year_days")


class CreditsRunOutEvidenceOut(Evidence):
    forecast_exhausted_on: str
    amount: int
    credits_used: int
    credits_remaining: int
    credits_last_30_days: int
    days_left: int
    credits_to_add: int = Field(description="to reach the plan's end at the trailing 30 days' rate")
    unit_price: MoneyOut | None
    cost: MoneyOut | None


class MonthOverAllowanceOut(BaseModel):
    month: str
    active_users: int
    overage: int


class MauOverAllowanceEvidenceOut(Evidence):
    amount: int
    last_complete_months: list[MonthOverAllowanceOut]
    over_months: list[str]
    months_counted: int
    covering_allowance: int = Field(description="the allowance that would have covered 90 % of the months")
    extra_allowance: int
    unit_price: MoneyOut | None
    extra_cost: MoneyOut | None


class RenewalSizingEvidenceOut(Evidence):
    plan_type: str
    amount: int
    suggested_amount: int
    basis: Literal["peak_seats_90_days_plus_10_pct", "p90_monthly_active_users", "credits_last_12_months_per_year"]
    basis_value: int
    observed: int = Field(description="days (seats, mauc) or complete months (mau) the basis covers")
    ends_at: str
    days_left: int
    renewal_days: int
    unit_price: MoneyOut | None
    renewal_value: MoneyOut | None


class HardLimitDenialsEvidenceOut(Evidence):
    denials: int
    distinct_users: int
    window_days: int
    last_denied_at: str | None
    seats_in_use: int
    amount: int
    overdraft: int
    hard_limit: int
    suggested_overdraft: int


class AiLowAdoptionEvidenceOut(Evidence):
    group: str
    active_users: int
    ai_actions: int
    per_active_user: DecimalText
    median_per_active_user: DecimalText
    threshold_per_active_user: DecimalText
    groups_compared: int
    window_first: str
    window_last: str


EvidenceOut = (
    SeatsReclaimableEvidenceOut
    | CreditsRunOutEvidenceOut
    | MauOverAllowanceEvidenceOut
    | RenewalSizingEvidenceOut
    | HardLimitDenialsEvidenceOut
    | AiLowAdoptionEvidenceOut
)

InsightKindName = Literal[
    "seats.reclaimable",
    "credits.run_out",
    "mau.over_allowance",
    "renewal.sizing",
    "hard_limit.denials",
    "ai.low_adoption",
]


class ActionOut(BaseModel):
    summary: str
    method: Literal["DELETE", "POST"]
    path: str = Field(description="ready to send: ids percent-encoded")
    body: dict[str, int] | None


class InsightOut(BaseModel):
    id: str = Field(description="the same while the item stays the same; a changed item has a new id")
    kind: InsightKindName
    severity: Literal["info", "warning", "critical"]
    plan_id: str | None
    title: str
    detail: str
    evidence: EvidenceOut
    action: ActionOut | None


class InsightList(BaseModel):
    items: list[InsightOut]
    data_as_of: str | None = Field(description="when the daily rollup last settled the organization's figures")
    freshness: Freshness


class OpportunityOut(BaseModel):
    category: Literal["opportunity"] = "opportunity"
    kind: Literal["overdraft", "credits.run_out", "mau.over_allowance"]
    org_id: str
    plan_id: str
    units: int = Field(description="overdraft: unit-days over the amount; otherwise credits or allowance to add")
    money: MoneyOut | None
    insight_id: str | None = Field(description="the organization's insight it comes from")


class RenewalAtRiskOut(BaseModel):
    category: Literal["renewal_at_risk"] = "renewal_at_risk"
    kind: Literal["renewal.at_risk"] = "renewal.at_risk"
    org_id: str
    plan_id: str
    plan_type: str
    product: str
    ends_at: str
    days_left: int
    amount: int
    consumed: int
    utilization_pct: DecimalText
    value: MoneyOut | None = Field(description="amount × unit_price: a year of the plan as it is")


class VendorInsightList(BaseModel):
    items: list[OpportunityOut | RenewalAtRiskOut] = Field(
        description="expansion opportunities ranked by money (per currency), then by units; then renewals at risk, "
        "the soonest end first"
    )
    next_cursor: str | None
    data_as_of: str | None = Field(description="when the daily rollup last wrote the index")
    freshness: Freshness
