"""Plans: vendor admins create and renew them; the organization's admins and reporters read them."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.caller import current_principal
from license_usage.api.models.common import OrgId, PlanId
from license_usage.api.models.plans import PlanIn, PlanList, PlanOut, RenewalIn
from license_usage.api.wiring import ports_of
from license_usage.domain import access
from license_usage.domain.timestamps import utc_now
from license_usage.usecases.plans import PlanTerms, create_plan, list_plans, renew_plan

router = Router()


@router.post("/v1/orgs/<org_id>/plans", summary="Create a plan", status_code=201)
def post_plan(org_id: OrgId, body: PlanIn) -> Response[PlanOut]:
    principal = current_principal(router)
    access.require(principal, access.VENDOR, org_id)
    now = utc_now()
    terms = PlanTerms(**body.model_dump())
    plan = create_plan(ports_of(router), org_id, terms, principal, now)
    return Response(201, content_types.APPLICATION_JSON, PlanOut.of(plan, now))


@router.get("/v1/orgs/<org_id>/plans", summary="Past, current and future plans with their status")
def get_plans(org_id: OrgId) -> PlanList:
    access.require(current_principal(router), access.READERS, org_id)
    now = utc_now()
    return PlanList(items=[PlanOut.of(plan, now) for plan in list_plans(ports_of(router), org_id)])


@router.post("/v1/orgs/<org_id>/plans/<plan_id>/renewal", summary="Create the next plan", status_code=201)
def post_renewal(org_id: OrgId, plan_id: PlanId, body: RenewalIn | None = None) -> Response[PlanOut]:
    principal = current_principal(router)
    access.require(principal, access.VENDOR, org_id)
    now = utc_now()
    changes = body.model_dump() if body else {}
    plan = renew_plan(ports_of(router), org_id, plan_id, changes, principal, now)
    return Response(201, content_types.APPLICATION_JSON, PlanOut.of(plan, now))
