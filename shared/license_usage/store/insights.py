"""The vendor's sparse index of insights (SPEC §11 ``GET /v1/insights``) and what an
organization's weekly digest sent (SPEC §7 ``insights.digest``).

``VENDORINSIGHTS#<shard>`` / ``<category>#<rank text>``: one entry per expansion opportunity or
renewal at risk, written by the daily rollup for the organizations that have one, under the rank
text the domain orders them by (``domain.insights.opportunity_rank_text``,
``renewal_rank_text``). A page reads each shard from the cursor on, at most a page of each, and
merges them: what a page reads grows with the page, never with the organizations that have no
entry. ``ORG#<org_id>`` / ``INSIGHTS`` lists the organization's entries (so a rollup replaces
them) and the insight ids its digests sent."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition

from license_usage.domain.errors import InvalidCursor
from license_usage.domain.insights import (
    Opportunity,
    OpportunityKind,
    RenewalAtRisk,
    VendorCategory,
    VendorEntries,
    VendorEntry,
    category_of,
    category_rank_prefix,
    vendor_rank_text,
)
from license_usage.domain.money import Money
from license_usage.domain.timestamps import format_utc, order_key_instant
from license_usage.store.keys import (
    INSIGHT_SHARDS,
    VENDOR_INSIGHTS_META_KEY,
    org_insights_key,
    vendor_insight_partition,
    vendor_insight_partitions,
)
from license_usage.store.pages import Page, decode_state, encode_state
from license_usage.store.tables import LicensingItem


class VendorInsightRecord(LicensingItem):
    category = UnicodeAttribute()
    kind = UnicodeAttribute()
    org_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    units = NumberAttribute(null=True)
    money = UnicodeAttribute(null=True)  # decimal text
    currency = UnicodeAttribute(null=True)
    insight_id = UnicodeAttribute(null=True)
    plan_type = UnicodeAttribute(null=True)
    product = UnicodeAttribute(null=True)
    ends_at = UnicodeAttribute(null=True)
    days_left = NumberAttribute(null=True)
    amount = NumberAttribute(null=True)
    consumed = NumberAttribute(null=True)
    utilization_pct = UnicodeAttribute(null=True)  # decimal text


class OrgInsightsRecord(LicensingItem):
    # Sort keys of the organization's index entries: a set changed by ADD and DELETE only, so two
    # runs at once (a replay beside the schedule) cannot overwrite each other's list.
    index_entries = UnicodeSetAttribute(null=True)
    digest_sent = UnicodeSetAttribute(null=True)


class IndexMetaRecord(LicensingItem):
    written_at = UnicodeAttribute()


def _money(amount: str | None, currency: str | None) -> Money | None:
    return Money(Decimal(amount), currency) if amount is not None and currency is not None else None


def _record(entry: VendorEntry) -> VendorInsightRecord:
    record = VendorInsightRecord(vendor_insight_partition(entry.org_id), vendor_rank_text(entry))
    record.org_id, record.plan_id, record.category = entry.org_id, entry.plan_id, category_of(entry).value
    if isinstance(entry, Opportunity):
        record.kind, record.units = entry.kind.value, entry.units
        record.insight_id = entry.insight_id
        money = entry.money
    else:
        record.kind = "renewal.at_risk"
        record.plan_type, record.product, record.ends_at = entry.plan_type, entry.product, format_utc(entry.ends_at)
        record.days_left, record.amount, record.consumed = entry.days_left, entry.amount, entry.consumed
        record.utilization_pct = str(entry.utilization_pct)
        money = entry.value
    if money is not None:
        record.money, record.currency = str(money.amount), money.currency
    return record


def _entry(record: VendorInsightRecord) -> VendorEntry:
    money = _money(record.money, record.currency)
    if record.category == VendorCategory.OPPORTUNITY.value:
        return Opportunity(
            kind=OpportunityKind(record.kind),
            org_id=record.org_id,
            plan_id=record.plan_id,
            units=int(record.units or 0),
            money=money,
            insight_id=record.insight_id,
        )
    return RenewalAtRisk(
        org_id=record.org_id,
        plan_id=record.plan_id,
        plan_type=str(record.plan_type),
        product=str(record.product),
        ends_at=order_key_instant(str(record.ends_at)),
        days_left=int(record.days_left or 0),
        amount=int(record.amount or 0),
        consumed=int(record.consumed or 0),
        utilization_pct=Decimal(str(record.utilization_pct)),
        value=money,
    )


def _org_record(org_id: str) -> OrgInsightsRecord | None:
    try:
        return OrgInsightsRecord.get(*org_insights_key(org_id), consistent_read=True)
    except DoesNotExist:
        return None


def replace_vendor_entries(org_id: str, entries: VendorEntries) -> int:
    """Make the organization's index entries exactly ``entries``. The set of its entries is widened
    (ADD) before anything is written and narrowed (DELETE) after, so a run that stops midway, or
    two runs at once, leave no entry that a later run would not remove. Returns how many it has."""
    listed: list[VendorEntry] = [*entries.opportunities, *entries.renewals_at_risk]
    new = {vendor_rank_text(e): _record(e) for e in listed}
    before = _org_record(org_id)
    old = set(before.index_entries or ()) if before else set()
    record = OrgInsightsRecord(*org_insights_key(org_id))
    if new.keys() - old:
        record.update(actions=[OrgInsightsRecord.index_entries.add(set(new.keys() - old))])
    partition = vendor_insight_partition(org_id)
    with VendorInsightRecord.batch_write() as batch:
        for item in new.values():
            batch.save(item)
        for sort_key in old - new.keys():
            batch.delete(VendorInsightRecord(partition, sort_key))
    if old - new.keys():
        record.update(actions=[OrgInsightsRecord.index_entries.delete(old - new.keys())])
    return len(new)


def set_index_written(at: datetime) -> None:
    IndexMetaRecord(*VENDOR_INSIGHTS_META_KEY, written_at=format_utc(at)).save()


def index_written_at() -> datetime | None:
    try:
        return order_key_instant(IndexMetaRecord.get(*VENDOR_INSIGHTS_META_KEY).written_at)
    except DoesNotExist:
        return None


def _shard(partition: str, prefix: str, after: str | None, page_size: int) -> Iterator[VendorInsightRecord]:
    """The shard's entries of one category after ``after``, read lazily a small page at a time
    (the merge takes from each shard only what the page needs, plus one read ahead)."""
    condition: Condition = (
        VendorInsightRecord.sk > after
        if after is not None and after.startswith(prefix)
        else VendorInsightRecord.sk.startswith(prefix)
    )
    records = VendorInsightRecord.query(partition, condition, page_size=page_size)
    return itertools.takewhile(lambda record: record.sk.startswith(prefix), records)


def vendor_entries_page(category: str | None, limit: int, cursor: str | None) -> Page[VendorEntry]:
    """A page of the index in rank order (opportunities, then renewals at risk; or one of them)."""
    scope = f"insights/{category or 'all'}"
    after = decode_state(cursor, scope).get("after") if cursor else None
    if after is not None and not isinstance(after, str):
        raise InvalidCursor("cursor is not one this list returned.")
    categories = [VendorCategory(category)] if category else list(VendorCategory)
    prefixes = [category_rank_prefix(c) for c in categories]
    # Entries spread evenly over the shards: each gives about its share of a page per read.
    page_size = limit // INSIGHT_SHARDS + 2
    records: list[VendorInsightRecord] = []
    for prefix in prefixes:
        if after is not None and after[:2] > prefix:
            continue  # that category was paged through already
        shards = [_shard(p, prefix, after, page_size) for p in vendor_insight_partitions()]
        merged = heapq.merge(*shards, key=lambda record: record.sk)
        records.extend(itertools.islice(merged, limit + 1 - len(records)))
        if len(records) > limit:
            break
    page = records[:limit]
    more = len(records) > limit
    return Page([_entry(r) for r in page], encode_state({"after": page[-1].sk}, scope) if more and page else None)


# ---------------------------------------------------------------------- the digest


def digest_sent(org_id: str) -> frozenset[str]:
    record = _org_record(org_id)
    return frozenset(record.digest_sent or ()) if record else frozenset()


def set_digest_sent(org_id: str, insight_ids: Iterable[str]) -> None:
    """The insight ids the organization's digests have sent (and that still exist)."""
    ids = set(insight_ids)
    action = OrgInsightsRecord.digest_sent.set(ids) if ids else OrgInsightsRecord.digest_sent.remove()
    OrgInsightsRecord(*org_insights_key(org_id)).update(actions=[action])
