"""Seat claims (product backends at login, org admins) and releases (org admins)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from license_usage.api.caller import current_principal
from license_usage.api.models.common import OrgId, UserId, path_user_id
from license_usage.api.models.plans import SeatClaimIn, SeatGrant, SeatRelease
from license_usage.api.wiring import ports_of
from license_usage.domain import access
from license_usage.domain.timestamps import utc_now
from license_usage.usecases.seats import claim_seat_for, release_seat_of

router = Router()

Product = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="The product")]


@router.put("/v1/orgs/<org_id>/seats/<user_id>", summary="Claim a seat (idempotent)")
def put_seat(org_id: OrgId, user_id: UserId, product: Product = None, body: SeatClaimIn | None = None) -> SeatGrant:
    principal = current_principal(router)
    access.require(principal, access.SEAT_CLAIMERS, org_id)
    grant = claim_seat_for(
        ports_of(router),
        org_id,
        path_user_id(user_id),
        product or (body.product if body else None),
        principal,
        utc_now(),
    )
    return SeatGrant(granted=grant.granted, overdraft=grant.overdraft)


@router.delete("/v1/orgs/<org_id>/seats/<user_id>", summary="Release (unassign) a seat")
def delete_seat(org_id: OrgId, user_id: UserId, product: Product = None) -> SeatRelease:
    principal = current_principal(router)
    access.require(principal, access.ORG_ADMINS, org_id)
    return SeatRelease(
        released=release_seat_of(ports_of(router), org_id, path_user_id(user_id), product, principal, utc_now())
    )
