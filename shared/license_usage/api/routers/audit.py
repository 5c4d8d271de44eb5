"""``GET /v1/orgs/{org_id}/audit``: every change made through the API, newest first."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.caller import current_principal
from license_usage.api.models.common import DEFAULT_PAGE_SIZE, Cursor, OrgId, PageSize
from license_usage.api.models.plans import AuditEntryOut, AuditList
from license_usage.domain import access
from license_usage.usecases.audit import list_audit

router = Router()


@router.get("/v1/orgs/<org_id>/audit", summary="The audit trail, newest first")
def get_audit(org_id: OrgId, limit: PageSize = DEFAULT_PAGE_SIZE, cursor: Cursor = None) -> AuditList:
    access.require(current_principal(router), access.ORG_ADMINS, org_id)
    page = list_audit(org_id, limit, cursor)
    return AuditList(
        items=[AuditEntryOut.model_validate(entry, from_attributes=True) for entry in page.items],
        next_cursor=page.next_cursor,
    )
