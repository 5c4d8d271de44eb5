"""The vendor's insights index against DynamoDB Local (SPEC §11 ``GET /v1/insights``): pages
merged from its shards in rank order, without a skip or a repeat; an organization's entries
replaced exactly; cursors bound to their list."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from usage_local.dynamodb_local import LocalDynamoDB

if TYPE_CHECKING:
    from license_usage.domain.insights import VendorEntries


def _entries(org_id: str, rng: random.Random) -> VendorEntries:
    from license_usage.domain.insights import Opportunity, OpportunityKind, RenewalAtRisk, VendorEntries
    from license_usage.domain.money import Money

    opportunities = []
    for n in range(rng.randint(0, 3)):
        money = Money(Decimal(rng.randint(0, 10**6)) / 100, rng.choice(["EUR", "USD"])) if rng.random() < 0.6 else None
        opportunities.append(
            Opportunity(rng.choice(list(OpportunityKind)), org_id, f"pln_{n}", rng.randint(1, 500), money)
        )
    renewals = []
    for n in range(rng.randint(0, 2)):
        ends = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 9))
        used = Decimal(rng.randint(0, 399)) / 10
        renewals.append(RenewalAtRisk(org_id, f"pln_r{n}", "seats", "learn", ends, 5, 100, 3, used, None))
    return VendorEntries(opportunities, renewals)


def _walk(category: str | None, limit: int) -> list[str]:
    from license_usage.domain.insights import vendor_rank_text
    from license_usage.store.insights import vendor_entries_page

    keys: list[str] = []
    cursor = None
    while True:
        page = vendor_entries_page(category, limit, cursor)
        keys += [vendor_rank_text(entry) for entry in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return keys


def test_pages_merge_the_shards_in_rank_order_without_skips_or_repeats(dynamodb: LocalDynamoDB) -> None:
    from license_usage.domain.insights import Opportunity, RenewalAtRisk, vendor_rank_text
    from license_usage.store.insights import replace_vendor_entries

    rng = random.Random(11)
    prefix = uuid.uuid4().hex[:6]
    expected: list[str] = []
    for n in range(40):
        entries = _entries(f"{prefix}-org-{n}", rng)
        replace_vendor_entries(f"{prefix}-org-{n}", entries)
        listed: list[Opportunity | RenewalAtRisk] = [*entries.opportunities, *entries.renewals_at_risk]
        expected += [vendor_rank_text(e) for e in listed]
    everything = _walk(None, 1000)
    assert set(expected) <= set(everything)
    assert everything == sorted(everything)  # opportunities (1#…) before renewals (2#…), each ranked
    for limit in (1, 3, 7):
        assert _walk(None, limit) == everything
    opportunities = _walk("opportunity", 4)
    renewals = _walk("renewal_at_risk", 4)
    assert opportunities + renewals == everything
    assert all(key.startswith("1#") for key in opportunities)
    assert all(key.startswith("2#") for key in renewals)


def test_replacing_an_organizations_entries_leaves_exactly_the_new_ones(dynamodb: LocalDynamoDB) -> None:
    from license_usage.domain.insights import Opportunity, OpportunityKind, VendorEntries
    from license_usage.store.insights import replace_vendor_entries

    org = f"replace-{uuid.uuid4().hex[:6]}"

    def listed() -> set[tuple[str, int]]:
        from license_usage.store.insights import vendor_entries_page

        page = vendor_entries_page("opportunity", 1000, None)
        return {(e.plan_id, e.units) for e in page.items if isinstance(e, Opportunity) and e.org_id == org}

    def opportunity(plan: str, units: int) -> Opportunity:
        return Opportunity(OpportunityKind.OVERDRAFT, org, plan, units, None)

    assert replace_vendor_entries(org, VendorEntries([opportunity("a", 5), opportunity("b", 3)], [])) == 2
    assert listed() == {("a", 5), ("b", 3)}
    assert replace_vendor_entries(org, VendorEntries([opportunity("b", 4), opportunity("c", 1)], [])) == 2
    assert listed() == {("b", 4), ("c", 1)}  # a is gone, b moved in the ranking (its old place too)
    assert replace_vendor_entries(org, VendorEntries([], [])) == 0
    assert listed() == set()


def test_a_cursor_serves_only_the_list_it_came_from(dynamodb: LocalDynamoDB) -> None:
    from license_usage.domain.errors import InvalidCursor
    from license_usage.domain.insights import Opportunity, OpportunityKind, VendorEntries
    from license_usage.store.insights import replace_vendor_entries, vendor_entries_page

    org = f"cursor-{uuid.uuid4().hex[:6]}"
    many = [Opportunity(OpportunityKind.OVERDRAFT, org, f"p{n}", n + 1, None) for n in range(3)]
    replace_vendor_entries(org, VendorEntries(many, []))
    cursor = vendor_entries_page("opportunity", 1, None).next_cursor
    assert cursor is not None
    vendor_entries_page("opportunity", 1, cursor)
    with pytest.raises(InvalidCursor):
        vendor_entries_page(None, 1, cursor)
    with pytest.raises(InvalidCursor):
        vendor_entries_page("renewal_at_risk", 1, cursor)
