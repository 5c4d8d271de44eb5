"""``QUARANTINE`` / ``<org_id>#<scope>`` (``store.keys.quarantine_key``): a day, or a step of an
organization, that the rollup could not do, with the reason, when it first and last failed, and
how many runs tried it. The daily rollup writes one when a day or step fails for a reason that
trying again soon will not fix, deletes it when a run does what it could not, and reads them all
once per run (they are few: one partition)."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from license_usage.domain.rollups import Quarantine
from license_usage.domain.timestamps import format_utc
from license_usage.store.keys import QUARANTINE_PARTITION, quarantine_key
from license_usage.store.tables import LicensingItem


class QuarantineRecord(LicensingItem):
    org_id = UnicodeAttribute()
    scope = UnicodeAttribute()
    reason = UnicodeAttribute()  # at most ``domain.rollups.MAX_REASON_CHARS`` characters
    first_at = UnicodeAttribute()
    last_at = UnicodeAttribute()
    attempts = NumberAttribute(default=0)


def quarantine(org_id: str, scope: str, reason: str, now: datetime) -> None:
    """Record (or record again) that the rollup could not do ``scope`` of ``org_id``."""
    at = format_utc(now)
    QuarantineRecord(*quarantine_key(org_id, scope)).update(
        actions=[
            QuarantineRecord.org_id.set(org_id),
            QuarantineRecord.scope.set(scope),
            QuarantineRecord.reason.set(reason),
            QuarantineRecord.first_at.set(QuarantineRecord.first_at | at),
            QuarantineRecord.last_at.set(at),
            QuarantineRecord.attempts.add(1),
        ]
    )


def release_quarantine(org_id: str, scope: str) -> None:
    QuarantineRecord(*quarantine_key(org_id, scope)).delete()


def quarantined() -> list[Quarantine]:
    """Everything quarantined, by organization and scope."""
    return [
        Quarantine(
            org_id=record.org_id,
            scope=record.scope,
            reason=record.reason,
            first_at=record.first_at,
            last_at=record.last_at,
            attempts=int(record.attempts or 0),
        )
        for record in QuarantineRecord.query(QUARANTINE_PARTITION, consistent_read=True)
    ]
