"""``/v1/orgs/{org_id}/api-keys`` (SPEC §5)."""

from __future__ import annotations

from pydantic import BaseModel


class CreatedApiKey(BaseModel):
    key_id: str
    api_key: str


class ApiKeyInfo(BaseModel):
    key_id: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class ApiKeyList(BaseModel):
    items: list[ApiKeyInfo]
    next_cursor: str | None = None
