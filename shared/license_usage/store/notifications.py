"""Notifications in ``LicensingTable``: stored once, listed newest first, and an outbox of those
not yet published (SPEC §7).

``record_once`` is the one conditional write that decides whether a notice is new: in a single
transaction it adds the notice's once key to its plan item (or, for a notice of no plan, puts the
organization's ``NOTIFIED#<once key>`` item) on condition the key is not there yet, stores the
notice, and puts it in the outbox, leased to the writer. Only the writer that wins publishes; a
writer that dies before publishing leaves the outbox entry, which the next notifications run takes
over once its lease has run out.

A plan's once keys are bounded by the plan (its thresholds, kinds and plan months); an
organization's notices of no plan (a digest a week, a scheduled report a period) are not, so each
is an item of its own (``NOTIFIED``, the set earlier versions kept, is checked still)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import TransactWriteError, UpdateError

from license_usage.domain.errors import TryAgain
from license_usage.domain.notifications import Notice, NoticeFigures, NoticeKind
from license_usage.domain.timestamps import format_utc, order_key_instant
from license_usage.store.keys import (
    OUTBOX_PARTITION,
    notices_partition,
    org_notice_once_key,
    org_notices_guard_key,
    plan_key,
)
from license_usage.store.pages import Page, decode_cursor, encode_cursor
from license_usage.store.plans import PlanRecord
from license_usage.store.tables import (
    LicensingItem,
    cancelled_by_condition,
    condition_failed,
    idempotent_transaction,
)

ATTEMPTS = 4


class NoticeGuard(LicensingItem):
    """``ORG#<org_id>`` / ``NOTIFIED``: earlier versions' once keys of the organization's notices of
    no plan (checked, no longer added to: it grew by a key a week and a key a scheduled report)."""

    notices_sent = UnicodeSetAttribute(null=True)


class NoticeSent(LicensingItem):
    """``ORG#<org_id>`` / ``NOTIFIED#<once key>``: a notice of no plan that the organization was sent."""

    once_key = UnicodeAttribute()


class NoticeRecord(LicensingItem):
    """A stored notice (pk ``NOTICES#<org_id>``, sk ``<created_at>#<id>``) or its outbox entry
    (pk ``OUTBOX``, sk ``<id>``, with ``lease_until`` and what was published already)."""

    notice_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    plan_id = UnicodeAttribute(null=True)
    threshold = NumberAttribute(null=True)
    period = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    subject = UnicodeAttribute()
    message = UnicodeAttribute()
    data = JSONAttribute(null=True)
    lease_until = UnicodeAttribute(null=True)  # outbox: wall-clock time until which its writer publishes
    published = UnicodeSetAttribute(null=True)  # outbox: the channels done ("sns", "bus")


def _figures_json(figures: NoticeFigures) -> dict[str, object]:
    values = dataclasses.asdict(figures)
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items() if v is not None}


def _figures(stored: object) -> NoticeFigures:
    values = dict(stored) if isinstance(stored, dict) else {}
    known = {f.name for f in dataclasses.fields(NoticeFigures)}
    kept = {k: v for k, v in values.items() if k in known}
    if isinstance(kept.get("insight_ids"), list):
        kept["insight_ids"] = tuple(str(i) for i in kept["insight_ids"])
    if isinstance(kept.get("forecast_exhausted_on"), str):
        kept["forecast_exhausted_on"] = date.fromisoformat(str(kept["forecast_exhausted_on"]))
    for name in ("amount", "consumed", "overage", "seat_limit", "hard_limit", "days_left"):
        if kept.get(name) is not None:
            kept[name] = int(kept[name])
    if kept.get("utilization_pct") is not None:
        kept["utilization_pct"] = float(kept["utilization_pct"])
    return NoticeFigures(**kept)


def _record(notice: Notice, pk: str, sk: str) -> NoticeRecord:
    return NoticeRecord(
        pk,
        sk,
        notice_id=notice.notice_id,
        org_id=notice.org_id,
        kind=notice.kind.value,
        plan_id=notice.plan_id,
        threshold=notice.threshold,
        period=notice.period,
        created_at=format_utc(notice.created_at),
        subject=notice.subject,
        message=notice.message,
        data=_figures_json(notice.data),
    )


def _notice(record: NoticeRecord) -> Notice:
    return Notice(
        org_id=record.org_id,
        kind=NoticeKind(record.kind),
        plan_id=record.plan_id,
        threshold=None if record.threshold is None else int(record.threshold),
        created_at=order_key_instant(record.created_at),
        subject=record.subject,
        message=record.message,
        data=_figures(record.data),
        period=record.period,
    )


def _listing_key(notice: Notice) -> tuple[str, str]:
    return notices_partition(notice.org_id), f"{format_utc(notice.created_at)}#{notice.notice_id}"


def record_once(notice: Notice, lease_until: datetime) -> bool:
    """Store the notice and its outbox entry unless a notice with its once key was stored before.
    True when this call stored it (and so must publish it)."""
    key = notice.once_key
    outbox = _record(notice, OUTBOX_PARTITION, notice.notice_id)
    outbox.lease_until = format_utc(lease_until)
    for attempt in range(ATTEMPTS):
        try:
            with idempotent_transaction() as transaction:
                if notice.plan_id is not None:
                    plan = PlanRecord(*plan_key(notice.org_id, notice.plan_id))
                    transaction.update(
                        plan,
                        actions=[PlanRecord.notices_sent.add({key})],
                        condition=PlanRecord.pk.exists() & ~PlanRecord.notices_sent.contains(key),
                    )
                else:
                    sent = NoticeSent(*org_notice_once_key(notice.org_id, key), once_key=key)
                    transaction.save(sent, condition=NoticeSent.pk.does_not_exist())
                    pk, sk = org_notices_guard_key(notice.org_id)
                    transaction.condition_check(NoticeGuard, pk, sk, condition=~NoticeGuard.notices_sent.contains(key))
                transaction.save(_record(notice, *_listing_key(notice)), condition=NoticeRecord.pk.does_not_exist())
                transaction.save(outbox)
        except TransactWriteError as error:
            if cancelled_by_condition(error):
                return False  # stored before (or its plan is gone)
            reasons = [reason.code for reason in error.cancellation_reasons if reason is not None]
            if "TransactionConflict" in reasons or error.cause_response_code == "TransactionInProgressException":
                time.sleep(0.02 * 2**attempt)
                continue
            raise
        return True
    raise TryAgain("A notification kept conflicting with another write; retry.")


def list_notices(org_id: str, limit: int, cursor: str | None) -> Page[Notice]:
    """The organization's notices, newest first."""
    partition = notices_partition(org_id)
    scope = f"notifications/{partition}"
    result = NoticeRecord.query(
        partition, scan_index_forward=False, limit=limit, last_evaluated_key=decode_cursor(cursor, scope)
    )
    items = [_notice(record) for record in result]
    return Page(items, encode_cursor(result.last_evaluated_key, scope))


# ---------------------------------------------------------------------- the outbox


@dataclasses.dataclass(frozen=True)
class Pending:
    """A notice of the outbox, and the channels it was published to already."""

    notice: Notice
    published: frozenset[str]


def claim_pending(now: datetime, lease: timedelta) -> Iterator[Pending]:
    """Outbox entries whose lease has run out, each leased to this caller before it is yielded
    (a conditional write: two drains never take the same entry at once)."""
    stamp = format_utc(now)
    for record in NoticeRecord.query(OUTBOX_PARTITION, consistent_read=True):
        if record.lease_until is not None and record.lease_until > stamp:
            continue
        condition = (
            NoticeRecord.lease_until.does_not_exist()
            if record.lease_until is None
            else NoticeRecord.lease_until == record.lease_until
        )
        try:
            record.update(actions=[NoticeRecord.lease_until.set(format_utc(now + lease))], condition=condition)
        except UpdateError as error:
            if condition_failed(error):
                continue  # another drain took it
            raise
        yield Pending(_notice(record), frozenset(record.published or ()))


def mark_published(notice_id: str, channel: str) -> None:
    record = NoticeRecord(OUTBOX_PARTITION, notice_id)
    try:
        record.update(actions=[NoticeRecord.published.add({channel})], condition=NoticeRecord.pk.exists())
    except UpdateError as error:
        if not condition_failed(error):
            raise


def finish(notice_id: str) -> None:
    """Take a published notice out of the outbox."""
    NoticeRecord(OUTBOX_PARTITION, notice_id).delete()
