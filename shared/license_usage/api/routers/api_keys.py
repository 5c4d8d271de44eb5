"""``/v1/orgs/{org_id}/api-keys``: vendor admins create, list and revoke ingest keys."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.caller import current_principal
from license_usage.api.models.api_keys import ApiKeyInfo, ApiKeyList, CreatedApiKey
from license_usage.api.models.common import KeyId, OrgId
from license_usage.domain import access
from license_usage.domain.timestamps import utc_now
from license_usage.usecases import api_keys

router = Router()


@router.post("/v1/orgs/<org_id>/api-keys", summary="Create an ingest API key", status_code=201)
def create_api_key(org_id: OrgId) -> Response[CreatedApiKey]:
    principal = current_principal(router)
    access.require(principal, access.VENDOR, org_id)
    key = api_keys.create_api_key(org_id, principal, utc_now())
    return Response(201, content_types.APPLICATION_JSON, CreatedApiKey(key_id=key.key_id, api_key=key.secret))


@router.get("/v1/orgs/<org_id>/api-keys", summary="List an organization's API keys (never the secret)")
def list_api_keys(org_id: OrgId) -> ApiKeyList:
    access.require(current_principal(router), access.VENDOR, org_id)
    return ApiKeyList(
        items=[ApiKeyInfo.model_validate(item, from_attributes=True) for item in api_keys.list_api_keys(org_id)]
    )


@router.delete("/v1/orgs/<org_id>/api-keys/<key_id>", summary="Revoke an API key", status_code=204)
def revoke_api_key(org_id: OrgId, key_id: KeyId) -> Response[None]:
    principal = current_principal(router)
    access.require(principal, access.VENDOR, org_id)
    api_keys.revoke_api_key(org_id, key_id, principal, utc_now())
    return Response(204)
