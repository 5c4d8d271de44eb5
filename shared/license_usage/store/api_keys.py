"""API keys: a lookup item by the key's hash (what the authorizer reads) and a listing item per
organization (what vendor admins see). Creation and revocation commit with their audit entry."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError

from license_usage.domain.access import Principal
from license_usage.domain.api_keys import NewApiKey
from license_usage.domain.errors import NotFound
from license_usage.domain.timestamps import format_utc_seconds
from license_usage.store.audit import audit_record
from license_usage.store.keys import APIKEY_PREFIX, api_key_listing_key, api_key_lookup_key, org_partition
from license_usage.store.orgs import org_registration
from license_usage.store.tables import (
    LicensingItem,
    cancelled_by_condition,
    condition_failed,
    idempotent_transaction,
    transient_failure,
)

# last_used_at is refreshed at most this often, so authenticating rarely costs a write.
LAST_USED_PRECISION = timedelta(minutes=5)


class ApiKeyLookup(LicensingItem):
    """pk = ``APIKEY#<sha256 of the secret>``, sk = ``APIKEY``."""

    org_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    last_used_at = UnicodeAttribute(null=True)


class OrgApiKey(LicensingItem):
    """pk = ``ORG#<org_id>``, sk = ``APIKEY#<key_id>``."""

    key_id = UnicodeAttribute()
    key_hash = UnicodeAttribute()
    created_at = UnicodeAttribute()
    last_used_at = UnicodeAttribute(null=True)
    revoked_at = UnicodeAttribute(null=True)


@dataclass(frozen=True)
class ApiKeyOwner:
    org_id: str
    key_id: str


def _lookup_key(key_hash: str) -> tuple[str, str]:
    return api_key_lookup_key(key_hash)


def _listing_key(org_id: str, key_id: str) -> tuple[str, str]:
    return api_key_listing_key(org_id, key_id)


@dataclass(frozen=True)
class ApiKeyListing:
    """An API key as listed (SPEC §5: never the secret)."""

    key_id: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


def _public(record: OrgApiKey, last_used_at: str | None) -> ApiKeyListing:
    return ApiKeyListing(record.key_id, record.created_at, last_used_at, record.revoked_at)


def create_api_key(org_id: str, key: NewApiKey, actor: Principal, at: datetime) -> ApiKeyListing:
    created_at = format_utc_seconds(at)
    listing = OrgApiKey(
        *_listing_key(org_id, key.key_id), key_id=key.key_id, key_hash=key.key_hash, created_at=created_at
    )
    lookup = ApiKeyLookup(*_lookup_key(key.key_hash), org_id=org_id, key_id=key.key_id, created_at=created_at)
    after = _public(listing, None)
    snapshot = asdict(after)
    org, org_actions = org_registration(org_id, at)
    with idempotent_transaction() as transaction:
        transaction.save(listing, condition=OrgApiKey.pk.does_not_exist())
        transaction.save(lookup, condition=ApiKeyLookup.pk.does_not_exist())
        transaction.update(org, actions=org_actions)  # type: ignore[arg-type]
        transaction.save(audit_record(org_id, actor, "api_key.created", key.key_id, at, None, snapshot))
    return after


def list_api_keys(org_id: str) -> list[ApiKeyListing]:
    listings = list(OrgApiKey.query(org_partition(org_id), OrgApiKey.sk.startswith(APIKEY_PREFIX)))
    active = [r for r in listings if r.revoked_at is None]
    last_used = {
        lookup.key_id: lookup.last_used_at
        for lookup in ApiKeyLookup.batch_get([_lookup_key(r.key_hash) for r in active])
    }
    return [_public(r, last_used.get(r.key_id, r.last_used_at)) for r in listings]


def revoke_api_key(org_id: str, key_id: str, actor: Principal, at: datetime) -> None:
    try:
        listing = OrgApiKey.get(*_listing_key(org_id, key_id), consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"No API key {key_id} in organization {org_id}.") from None
    if listing.revoked_at is not None:
        return  # revoking twice changes nothing
    try:
        lookup: ApiKeyLookup | None = ApiKeyLookup.get(*_lookup_key(listing.key_hash), consistent_read=True)
    except DoesNotExist:
        lookup = None
    last_used_at = lookup.last_used_at if lookup else listing.last_used_at
    before = asdict(_public(listing, last_used_at))
    revoked_at = format_utc_seconds(at)
    try:
        with idempotent_transaction() as transaction:
            transaction.update(
                listing,
                actions=[OrgApiKey.revoked_at.set(revoked_at), OrgApiKey.last_used_at.set(last_used_at)],
                condition=OrgApiKey.revoked_at.does_not_exist(),
            )
            transaction.delete(ApiKeyLookup(*_lookup_key(listing.key_hash)))
            after = {**before, "revoked_at": revoked_at}
            transaction.save(audit_record(org_id, actor, "api_key.revoked", key_id, at, before, after))
    except TransactWriteError as error:
        if not cancelled_by_condition(error):
            raise  # throttled or conflicting: nothing was revoked (503, send it again)
        # A concurrent revocation won; the key is revoked either way.


def authenticate_api_key(key_hash: str, now: datetime) -> ApiKeyOwner | None:
    """The organization a key belongs to, or None for an unknown or revoked key."""
    try:
        # Strongly consistent: a key revoked a moment ago must already be refused.
        lookup = ApiKeyLookup.get(*_lookup_key(key_hash), consistent_read=True)
    except DoesNotExist:
        return None
    stale_before = format_utc_seconds(now - LAST_USED_PRECISION)
    if lookup.last_used_at is None or lookup.last_used_at < stale_before:
        try:
            lookup.update(
                actions=[ApiKeyLookup.last_used_at.set(format_utc_seconds(now))],
                condition=ApiKeyLookup.pk.exists(),
            )
        except UpdateError as error:
            if condition_failed(error):
                return None  # revoked between the read and this write
            if not transient_failure(error):
                raise
            # last_used_at is best effort: a throttled or failed refresh does not refuse a valid
            # key (the next request five minutes on tries again).
    return ApiKeyOwner(org_id=lookup.org_id, key_id=lookup.key_id)
