"""The registry of organizations: one exists once it has an API key or a plan (SPEC §5)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute

from license_usage.domain.timestamps import format_utc
from license_usage.store.keys import ORGS_PARTITION, org_registry_key
from license_usage.store.pages import Page, decode_cursor, encode_cursor
from license_usage.store.tables import LicensingItem


class OrgRecord(LicensingItem):
    """pk = ``ORGS``, sk = ``ORG#<org_id>``."""

    org_id = UnicodeAttribute()
    created_at = UnicodeAttribute()


def org_registration(org_id: str, at: datetime) -> tuple[OrgRecord, list[object]]:
    """The record and update actions that register an organization if it is new (for a TransactWrite)."""
    record = OrgRecord(*org_registry_key(org_id))
    actions: list[object] = [
        OrgRecord.org_id.set(org_id),
        OrgRecord.created_at.set(OrgRecord.created_at | format_utc(at)),
    ]
    return record, actions


def org_page(limit: int, cursor: str | None) -> Page[tuple[str, str]]:
    """(org_id, created_at) of the registry, a page at a time, in id order."""
    result = OrgRecord.query(ORGS_PARTITION, limit=limit, last_evaluated_key=decode_cursor(cursor, "orgs"))
    items = [(record.org_id, record.created_at) for record in result]
    return Page(items, encode_cursor(result.last_evaluated_key, "orgs"))


def all_org_ids() -> Iterator[str]:
    for record in OrgRecord.query(ORGS_PARTITION):
        yield record.org_id
