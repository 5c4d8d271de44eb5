"""Insights (SPEC §11): an organization's recommendations, and the vendor's opportunities and
renewals at risk across organizations.

The rules and their store are imported at the first insights request, not at the function's
init: the reports function's cold start stays what its other routes need (BENCHMARKS.md, 1c)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from license_usage.api.caller import current_principal
from license_usage.api.models.common import DEFAULT_PAGE_SIZE, Cursor, OrgId, PageSize
from license_usage.api.models.insights import (
    AiLowAdoptionEvidenceOut,
    CreditsRunOutEvidenceOut,
    Evidence,
    HardLimitDenialsEvidenceOut,
    InsightList,
    InsightOut,
    MauOverAllowanceEvidenceOut,
    OpportunityOut,
    RenewalAtRiskOut,
    RenewalSizingEvidenceOut,
    SeatsReclaimableEvidenceOut,
    VendorInsightList,
)
from license_usage.domain import access
from license_usage.domain.timestamps import utc_now

if TYPE_CHECKING:
    from license_usage.domain.insights import Insight, VendorEntry

router = Router()

_EVIDENCE: dict[str, type[Evidence]] = {  # by SPEC §11 kind
    "seats.reclaimable": SeatsReclaimableEvidenceOut,
    "credits.run_out": CreditsRunOutEvidenceOut,
    "mau.over_allowance": MauOverAllowanceEvidenceOut,
    "renewal.sizing": RenewalSizingEvidenceOut,
    "hard_limit.denials": HardLimitDenialsEvidenceOut,
    "ai.low_adoption": AiLowAdoptionEvidenceOut,
}


def insight_out(item: Insight) -> InsightOut:
    """The item as ``domain.insights.insight_json`` writes it, its evidence checked against its
    kind's model."""
    from license_usage.domain.insights import insight_json

    shape = insight_json(item)
    evidence = _EVIDENCE[item.kind.value].model_validate(shape["evidence"])
    return InsightOut.model_validate({**shape, "evidence": evidence})


@router.get("/v1/orgs/<org_id>/insights", summary="Recommendations with their evidence and the call that acts on them")
def get_insights(org_id: OrgId) -> InsightList:
    access.require(current_principal(router), access.READERS, org_id)
    from license_usage.usecases.insights import insights_of

    found = insights_of(org_id, utc_now())
    freshness: Literal["current", "aggregating"] = "current" if found.freshness == "current" else "aggregating"
    return InsightList(items=[insight_out(i) for i in found.items], data_as_of=found.data_as_of, freshness=freshness)


Category = Annotated[
    Literal["opportunity", "renewal_at_risk"] | None,
    Query(description="only opportunities, or only renewals at risk (default: both, opportunities first)"),
]


def _entry_out(entry: VendorEntry) -> OpportunityOut | RenewalAtRiskOut:
    from license_usage.domain.insights import Opportunity, to_json_value

    if isinstance(entry, Opportunity):
        return OpportunityOut.model_validate(to_json_value(entry))
    return RenewalAtRiskOut.model_validate(to_json_value(entry))


@router.get("/v1/insights", summary="Expansion opportunities and renewals at risk across organizations, ranked")
def get_vendor_insights(
    category: Category = None, limit: PageSize = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> VendorInsightList:
    access.require(current_principal(router), access.VENDOR)
    from license_usage.usecases.insights import vendor_insights

    found = vendor_insights(category, limit, cursor, utc_now())
    freshness: Literal["current", "aggregating"] = "current" if found.freshness == "current" else "aggregating"
    return VendorInsightList(
        items=[_entry_out(e) for e in found.page.items],
        next_cursor=found.page.next_cursor,
        data_as_of=found.data_as_of,
        freshness=freshness,
    )
