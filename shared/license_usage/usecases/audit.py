"""The audit trail (SPEC §5): every change made through the API, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from license_usage.domain.timestamps import display_utc
from license_usage.store import audit
from license_usage.store.pages import Page


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: str
    actor: str
    actor_role: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def list_audit(
    org_id: str, limit: int, cursor: str | None, since: datetime | None = None, until: datetime | None = None
) -> Page[AuditEntry]:
    page = audit.list_audit(org_id, limit, cursor, since, until)
    return Page(
        [
            AuditEntry(
                id=entry.entry_id,
                at=display_utc(entry.at),
                actor=entry.actor,
                actor_role=entry.actor_role,
                action=entry.action,
                target=entry.target,
                before=entry.before,
                after=entry.after,
            )
            for entry in page.items
        ],
        page.next_cursor,
    )
