"""Ingest API keys (SPEC §5): created by vendor admins, shown once, stored only hashed."""

from __future__ import annotations

from datetime import datetime

from license_usage.domain.access import Principal
from license_usage.domain.api_keys import NewApiKey, new_api_key
from license_usage.store import api_keys
from license_usage.store.api_keys import ApiKeyListing


def create_api_key(org_id: str, actor: Principal, now: datetime) -> NewApiKey:
    key = new_api_key()
    api_keys.create_api_key(org_id, key, actor, now)
    return key


def list_api_keys(org_id: str) -> list[ApiKeyListing]:
    return api_keys.list_api_keys(org_id)


def revoke_api_key(org_id: str, key_id: str, actor: Principal, now: datetime) -> None:
    api_keys.revoke_api_key(org_id, key_id, actor, now)
