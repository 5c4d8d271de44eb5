"""An organization's insight lists stay bounded whatever the vendor gives it (issue 20): its entries
in the vendor's index and the insight ids its digests sent are items of one element each, so an
organization with thousands of current plans' entries, or ids, has no item that grows with them.
The lists read back exactly, are replaced exactly, and lists an earlier version kept as sets on one
item are read and emptied by the next write. Each item is measured as DynamoDB counts it against
the bound computed from its fields' limits."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from license_usage.domain.insights import Opportunity, OpportunityKind, RenewalAtRisk, VendorEntries
from license_usage.domain.money import Money
from tests.store.test_bounded_items import item_bytes, partition_items
from usage_local.dynamodb_local import LocalDynamoDB

ITEM_LIMIT = 400 * 1024


def longest_org() -> str:
    return ("o" * 54) + uuid.uuid4().hex[:10]  # 64 bytes: the longest organization id


def plan_id(n: int) -> str:
    return "pln_" + hashlib.sha256(str(n).encode()).hexdigest()[:16]


def entries(org_id: str, plans: range) -> VendorEntries:
    """For each plan, the most entries one plan gives: an overdraft and a credits opportunity at the
    largest money and units the rank text holds, and a renewal at risk."""
    money = Money(Decimal(10**36), "USD")
    opportunities = []
    renewals = []
    for n in plans:
        units = 10**32 - 1 - n
        opportunities.append(Opportunity(OpportunityKind.OVERDRAFT, org_id, plan_id(n), units, money))
        opportunities.append(Opportunity(OpportunityKind.MAU_OVER_ALLOWANCE, org_id, plan_id(n), units, money))
        ends = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
        renewals.append(
            RenewalAtRisk(
                org_id, plan_id(n), "seats", "p" * 64, ends, 9999, 10**9, 10**12, Decimal("99999999.9"), money
            )
        )
    return VendorEntries(opportunities, renewals)


def rank_texts(listed: VendorEntries) -> set[str]:
    from license_usage.domain.insights import VendorEntry, vendor_rank_text

    every: list[VendorEntry] = [*listed.opportunities, *listed.renewals_at_risk]
    return {vendor_rank_text(entry) for entry in every}


def org_items(dynamodb: LocalDynamoDB, org_id: str, prefix: str) -> list[dict[str, Any]]:
    from license_usage.store.keys import org_partition

    return [item for item in partition_items(dynamodb, org_partition(org_id)) if item["sk"]["S"].startswith(prefix)]


def index_items(dynamodb: LocalDynamoDB, org_id: str) -> list[dict[str, Any]]:
    from license_usage.store.keys import vendor_insight_partition

    items = partition_items(dynamodb, vendor_insight_partition(org_id))
    return [item for item in items if item["org_id"]["S"] == org_id]


def test_an_organization_with_the_entries_of_850_plans_keeps_every_item_small(dynamodb: LocalDynamoDB) -> None:
    from license_usage.store.insights import (
        LISTED_TEXT_BYTES,
        listed_item_bytes_bound,
        replace_vendor_entries,
        vendor_entry_item_bytes_bound,
    )

    org_id = longest_org()
    many = entries(org_id, range(850))
    keys = rank_texts(many)
    assert max(len(key.encode()) for key in keys) <= LISTED_TEXT_BYTES
    assert sum(len(key.encode()) for key in keys) > ITEM_LIMIT  # one set could not have held them
    assert replace_vendor_entries(org_id, many) == 2550

    listed = org_items(dynamodb, org_id, "INSIGHTS#E#")
    assert {item["value"]["S"] for item in listed} == keys
    assert max(item_bytes(item) for item in listed) <= listed_item_bytes_bound() < 2048
    indexed = index_items(dynamodb, org_id)
    assert {item["sk"]["S"] for item in indexed} == keys
    assert max(item_bytes(item) for item in indexed) <= vendor_entry_item_bytes_bound() < 8192

    few = entries(org_id, range(840, 860))  # ten plans kept (their figures unchanged), ten new
    assert replace_vendor_entries(org_id, few) == 60
    kept = rank_texts(few)
    assert {item["value"]["S"] for item in org_items(dynamodb, org_id, "INSIGHTS#E#")} == kept
    assert {item["sk"]["S"] for item in index_items(dynamodb, org_id)} == kept


def test_entries_an_earlier_version_listed_on_one_item_are_replaced_and_the_list_emptied(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.store.insights import OrgInsightsRecord, replace_vendor_entries
    from license_usage.store.keys import org_insights_key

    org_id = longest_org()
    before = entries(org_id, range(5))
    old = rank_texts(before)
    replace_vendor_entries(org_id, before)
    # As an earlier version left them: the index entries, and their list as a set on one item.
    client = dynamodb.client()
    for item in org_items(dynamodb, org_id, "INSIGHTS#E#"):
        client.delete_item(TableName=dynamodb.names["LicensingTable"], Key={"pk": item["pk"], "sk": item["sk"]})
    OrgInsightsRecord(*org_insights_key(org_id), index_entries=old).save()

    after = entries(org_id, range(3, 7))
    assert replace_vendor_entries(org_id, after) == 12
    kept = rank_texts(after)
    assert {item["sk"]["S"] for item in index_items(dynamodb, org_id)} == kept  # plans 0-2 are gone
    assert {item["value"]["S"] for item in org_items(dynamodb, org_id, "INSIGHTS#E#")} == kept
    assert OrgInsightsRecord.get(*org_insights_key(org_id)).index_entries is None


def test_the_digests_sent_ids_are_one_item_each_replaced_exactly_and_read_with_an_earlier_versions_set(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.store.insights import OrgInsightsRecord, digest_sent, listed_item_bytes_bound, set_digest_sent
    from license_usage.store.keys import org_insights_key

    org_id = longest_org()
    earlier = {f"ins_{n:020x}" for n in range(3)}
    OrgInsightsRecord(*org_insights_key(org_id), digest_sent=earlier).save()
    assert digest_sent(org_id) == earlier

    many = {f"ins_{n:020x}" for n in range(3000)}
    set_digest_sent(org_id, many)
    assert digest_sent(org_id) == many
    items = org_items(dynamodb, org_id, "INSIGHTS#S#")
    assert len(items) == len(many)
    assert max(item_bytes(item) for item in items) <= listed_item_bytes_bound()
    assert OrgInsightsRecord.get(*org_insights_key(org_id)).digest_sent is None

    set_digest_sent(org_id, {"ins_00000000000000000001", "ins_new"})
    assert digest_sent(org_id) == {"ins_00000000000000000001", "ins_new"}
    set_digest_sent(org_id, set())
    assert digest_sent(org_id) == frozenset()
    assert org_items(dynamodb, org_id, "INSIGHTS#S#") == []
