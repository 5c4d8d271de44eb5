"""The vendor's sparse index of insights (SPEC §11 ``GET /v1/insights``) and what an
organization's weekly digest sent (SPEC §7 ``insights.digest``).

``VENDORINSIGHTS#<shard>`` / ``<category>#<rank text>``: one entry per expansion opportunity or
renewal at risk, written by the daily rollup for the organizations that have one, under the rank
text the domain orders them by (``domain.insights.opportunity_rank_text``,
``renewal_rank_text``). A page reads each shard from the cursor on, at most a page of each, and
merges them: what a page reads grows with the page, never with the organizations that have no
entry.

The organization's own lists, each element an item of its own in its partition, so that no item
grows with its plans (a vendor may give one organization any number of current plans, each with
up to three entries and three warnings): ``ORG#<org_id>`` / ``INSIGHTS#E#<rank text>``, its
entries in the index (so a rollup replaces them), and ``INSIGHTS#S#<insight id>``, the insight ids
its digests sent. Earlier versions kept both as sets on ``ORG#<org_id>`` / ``INSIGHTS``; they are
read with the items, and emptied by the next write."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
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
    ORG_DIGEST_SENT_PREFIX,
    ORG_INDEX_ENTRY_PREFIX,
    VENDOR_INSIGHTS_META_KEY,
    org_digest_sent_key,
    org_index_entry_key,
    org_insights_key,
    org_partition,
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
    """Earlier versions' lists (read, then emptied): sort keys of the organization's index entries
    and the insight ids its digests sent."""

    index_entries = UnicodeSetAttribute(null=True)
    digest_sent = UnicodeSetAttribute(null=True)


class OrgListedRecord(LicensingItem):
    """One element of an organization's list (``INSIGHTS#E#…`` or ``INSIGHTS#S#…``): items are
    added and removed one by one, so two runs at once (a replay beside the schedule) cannot
    overwrite each other's list."""

    value = UnicodeAttribute()  # the rank text or insight id itself (its key may hold a digest)


# The longest text an organization's list holds: an opportunity's rank text
# (``domain.insights.vendor_rank_text``), ``1#0#<currency>#<40 digits>#<32 digits>#<org id>#<plan
# id>#<kind>``, 186 bytes with an organization id of 64 bytes (``identifiers.MAX_ORG_ID_BYTES``)
# and a plan id of 20; a renewal's is 121, an insight id 24. Every value of an index entry (money
# as at most 43 characters of decimal text, a product of 64) is shorter too.
LISTED_TEXT_BYTES = 256
_KEY_PART_BYTES = 545  # ``store.keys.key_part``'s longest


def listed_item_bytes_bound() -> int:
    """The most one element of an organization's lists takes: its keys and its text."""
    keys = len("pk") + len("ORG#") + _KEY_PART_BYTES + len("sk") + len("INSIGHTS#E#") + _KEY_PART_BYTES
    return keys + len("value") + LISTED_TEXT_BYTES


def vendor_entry_item_bytes_bound() -> int:
    """The most an entry of the vendor's index takes: its shard and rank text, and its 15 attributes,
    each a name of at most 16 bytes and a value of at most ``LISTED_TEXT_BYTES``."""
    return len("pk") + len("VENDORINSIGHTS#99") + len("sk") + LISTED_TEXT_BYTES + 15 * (16 + LISTED_TEXT_BYTES)


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


def _listed(org_id: str, prefix: str) -> set[str]:
    condition = OrgListedRecord.sk.startswith(prefix)
    return {record.value for record in OrgListedRecord.query(org_partition(org_id), condition, consistent_read=True)}


def _list_add(org_id: str, key_of: Callable[[str, str], tuple[str, str]], values: Iterable[str]) -> None:
    with OrgListedRecord.batch_write() as batch:
        for value in values:
            batch.save(OrgListedRecord(*key_of(org_id, value), value=value))


def _list_remove(org_id: str, key_of: Callable[[str, str], tuple[str, str]], values: Iterable[str]) -> None:
    with OrgListedRecord.batch_write() as batch:
        for value in values:
            batch.delete(OrgListedRecord(*key_of(org_id, value)))


def replace_vendor_entries(org_id: str, entries: VendorEntries) -> int:
    """Make the organization's index entries exactly ``entries``. Its list of entries is widened
    before anything is written and narrowed after, so a run that stops midway, or two runs at once,
    leave no entry that a later run would not remove. Returns how many it has."""
    listed: list[VendorEntry] = [*entries.opportunities, *entries.renewals_at_risk]
    new = {vendor_rank_text(e): _record(e) for e in listed}
    before = _org_record(org_id)
    earlier = set(before.index_entries or ()) if before else set()
    kept = _listed(org_id, ORG_INDEX_ENTRY_PREFIX)
    old = kept | earlier
    _list_add(org_id, org_index_entry_key, new.keys() - kept)
    partition = vendor_insight_partition(org_id)
    with VendorInsightRecord.batch_write() as batch:
        for item in new.values():
            batch.save(item)
        for sort_key in old - new.keys():
            batch.delete(VendorInsightRecord(partition, sort_key))
    _list_remove(org_id, org_index_entry_key, kept - new.keys())
    if earlier:  # every one of them is now deleted or listed as an item
        OrgInsightsRecord(*org_insights_key(org_id)).update(actions=[OrgInsightsRecord.index_entries.delete(earlier)])
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
    earlier = set(record.digest_sent or ()) if record else set()
    return frozenset(_listed(org_id, ORG_DIGEST_SENT_PREFIX) | earlier)


def set_digest_sent(org_id: str, insight_ids: Iterable[str]) -> None:
    """The insight ids the organization's digests have sent (and that still exist): at most the
    warnings and critical items of its current plans (``domain.insights.digest_ids_kept``)."""
    ids = set(insight_ids)
    kept = _listed(org_id, ORG_DIGEST_SENT_PREFIX)
    _list_add(org_id, org_digest_sent_key, ids - kept)
    _list_remove(org_id, org_digest_sent_key, kept - ids)
    record = _org_record(org_id)
    if record is not None and record.digest_sent:
        record.update(actions=[OrgInsightsRecord.digest_sent.remove()])
