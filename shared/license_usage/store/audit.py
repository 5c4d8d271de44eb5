"""The audit trail: one item per change made through the API, written in the change's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute

from license_usage.domain.access import Principal
from license_usage.domain.timestamps import format_utc
from license_usage.store.keys import audit_partition
from license_usage.store.pages import Page, decode_cursor, encode_cursor
from license_usage.store.tables import LicensingItem


class AuditRecord(LicensingItem):
    """pk = ``AUDIT#<org_id>``, sk = ``<UTC time>#<entry id>``: newest first by reading backwards."""

    entry_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    at = UnicodeAttribute()
    actor_role = UnicodeAttribute()
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    before = JSONAttribute(null=True)
    after = JSONAttribute(null=True)


def audit_record(
    org_id: str,
    actor: Principal,
    action: str,
    target: str,
    at: datetime,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditRecord:
    """The entry to save in the same TransactWrite as the change it describes."""
    entry_id = uuid.uuid4().hex
    stamp = format_utc(at)
    return AuditRecord(
        audit_partition(org_id),
        f"{stamp}#{entry_id}",
        entry_id=entry_id,
        org_id=org_id,
        at=stamp,
        actor_role=actor.role.value,
        actor=actor.subject,
        action=action,
        target=target,
        before=before,
        after=after,
    )


def list_audit(
    org_id: str, limit: int, cursor: str | None, since: datetime | None = None, until: datetime | None = None
) -> Page[AuditRecord]:
    """Newest first; ``since``/``until``: only entries at or after, at or before, those instants."""
    partition = audit_partition(org_id)
    condition = None
    if since is not None or until is not None:
        low = format_utc(since) if since is not None else ""
        high = (format_utc(until) if until is not None else "9999") + "#~"
        condition = AuditRecord.sk.between(low, high)
    result = AuditRecord.query(
        partition,
        condition,
        scan_index_forward=False,
        limit=limit,
        last_evaluated_key=decode_cursor(cursor, f"audit/{partition}"),
    )
    items = list(result)
    return Page(items, encode_cursor(result.last_evaluated_key, f"audit/{partition}"))


def record_audit(
    org_id: str,
    actor: Principal,
    action: str,
    target: str,
    at: datetime,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Save an entry on its own, for a change made outside the table (an SNS subscription)."""
    audit_record(org_id, actor, action, target, at, before, after).save()
