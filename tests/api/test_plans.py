"""Plans through the local API (SPEC §2, §5): terms, overlap, status, renewal, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.stack import LocalStack as Stack
from tests.support import bearer, create_plan, iso, new_org, vendor


def post_plan(stack: Stack, org_id: str, **terms: Any) -> requests.Response:
    return requests.post(f"{stack.url}/v1/orgs/{org_id}/plans", json=terms, headers=vendor(stack), timeout=30)


def test_a_plan_defaults_to_one_year_soft_without_overdraft(stack: Stack) -> None:
    plan = create_plan(
        stack, new_org("plan"), type="mauc", product="learn", amount=100, start="2026-03-15T09:30:00+02:00"
    )
    assert plan["start"] == "2026-03-15T07:30:00Z"
    assert plan["end"] == "2027-03-15T07:30:00Z"
    assert (plan["overdraft"], plan["enforcement"], plan["grace_days"]) == (0, "soft", 0)
    assert plan["plan_id"].startswith("pln_")


def test_a_plan_starting_on_the_leap_day_ends_a_year_later_on_28_february(stack: Stack) -> None:
    plan = create_plan(stack, new_org("leap"), type="seats", product="learn", amount=5, start="2028-02-29T00:00:00Z")
    assert plan["end"] == "2029-02-28T00:00:00Z"
    assert plan["status"] == "future"


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"end": "2027-01-01T00:00:01Z"}, "end"),
        ({"end": "2025-12-31T00:00:00Z"}, "end"),
        ({"end": "2026-01-01T00:00:00Z"}, "end"),
        ({"overdraft": -1}, "overdraft"),
        ({"type": "credits"}, "type"),
        ({"enforcement": "strict"}, "enforcement"),
        ({"start": "2026-01-01"}, "start"),
        ({"amount": "10"}, "amount"),
        ({"product": "has space"}, "product"),
    ],
    ids=[
        "zero",
        "negative",
        "over-a-year",
        "end-before-start",
        "end-equals-start",
        "negative-overdraft",
        "unknown-type",
        "unknown-enforcement",
        "date-only-start",
        "string-amount",
        "bad-product",
    ],
)
def test_invalid_plan_terms_are_422_naming_the_field(stack: Stack, terms: dict[str, Any], field: str) -> None:
    body = {"type": "mau", "product": "learn", "amount": 10, "start": "2026-01-01T00:00:00Z", **terms}
    answer = post_plan(stack, new_org("bad"), **body)
    assert answer.status_code == 422, answer.text
    assert field in [detail["field"].split(".")[0] for detail in answer.json()["error"]["details"]]


def test_overlapping_plans_of_one_product_and_type_are_409_but_adjacent_and_other_kinds_are_fine(stack: Stack) -> None:
    org_id = new_org("overlap")
    first = create_plan(stack, org_id, type="mau", product="learn", amount=10, start="2026-01-01T00:00:00Z")
    clash = post_plan(stack, org_id, type="mau", product="learn", amount=10, start="2026-12-31T23:59:59Z")
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "plan_overlaps"
    assert post_plan(stack, org_id, type="mau", product="learn", amount=1, start=first["end"]).status_code == 201
    assert (
        post_plan(stack, org_id, type="seats", product="learn", amount=1, start="2026-06-01T00:00:00Z").status_code
        == 201
    )
    assert (
        post_plan(stack, org_id, type="mau", product="observe", amount=1, start="2026-06-01T00:00:00Z").status_code
        == 201
    )


def test_concurrent_overlapping_plans_cannot_both_be_created(stack: Stack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    org_id = new_org("race")
    with ThreadPoolExecutor(6) as pool:
        codes = list(
            pool.map(
                lambda day: (
                    post_plan(
                        stack, org_id, type="mauc", product="learn", amount=5, start=f"2026-02-{day:02d}T00:00:00Z"
                    ).status_code
                ),
                range(1, 7),
            )
        )
    assert codes.count(201) == 1, codes
    assert set(codes) <= {201, 409}


def test_plans_are_listed_with_their_status_for_readers(stack: Stack) -> None:
    org_id = new_org("status")
    now = datetime.now(UTC).replace(microsecond=0)
    create_plan(
        stack,
        org_id,
        type="mau",
        product="past",
        amount=1,
        start=iso(now - timedelta(days=400)),
        end=iso(now - timedelta(days=40)),
        grace_days=30,
    )
    create_plan(
        stack,
        org_id,
        type="mau",
        product="grace",
        amount=1,
        start=iso(now - timedelta(days=300)),
        end=iso(now - timedelta(days=10)),
        grace_days=30,
    )
    create_plan(stack, org_id, type="mau", product="current", amount=1, start=iso(now - timedelta(days=1)))
    create_plan(stack, org_id, type="mau", product="future", amount=1, start=iso(now + timedelta(days=1)))
    for role in ("org_admin", "reporter"):
        answer = requests.get(f"{stack.url}/v1/orgs/{org_id}/plans", headers=bearer(stack, role, org_id), timeout=30)
        assert answer.status_code == 200
        statuses = {plan["product"]: plan["status"] for plan in answer.json()["items"]}
        assert statuses == {"past": "past", "grace": "grace", "current": "current", "future": "future"}
        assert answer.json()["next_cursor"] is None


def test_a_renewal_starts_at_the_plans_end_and_keeps_its_terms(stack: Stack) -> None:
    org_id = new_org("renew")
    plan = create_plan(
        stack,
        org_id,
        type="seats",
        product="learn",
        amount=7,
        start="2026-03-15T00:00:00Z",
        overdraft=2,
        enforcement="hard",
        grace_days=14,
    )
    answer = requests.post(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/renewal",
        json={"amount": 9},
        headers=vendor(stack),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    renewal = answer.json()
    assert (renewal["start"], renewal["end"]) == ("2027-03-15T00:00:00Z", "2028-03-15T00:00:00Z")
    assert (renewal["amount"], renewal["overdraft"], renewal["enforcement"], renewal["grace_days"]) == (
        9,
        2,
        "hard",
        14,
    )
    again = requests.post(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/renewal", headers=vendor(stack), timeout=30
    )
    assert again.status_code == 409


def test_an_unknown_plan_is_404(stack: Stack) -> None:
    answer = requests.get(
        f"{stack.url}/v1/orgs/{new_org()}/plans/pln_0000000000000000/usage", headers=vendor(stack), timeout=30
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_every_change_made_through_the_api_is_in_the_audit_trail_newest_first(stack: Stack) -> None:
    org_id = new_org("audit")
    key = requests.post(f"{stack.url}/v1/orgs/{org_id}/api-keys", headers=vendor(stack), timeout=30).json()
    plan = create_plan(stack, org_id, type="seats", product="learn", amount=3, start="2026-01-01T00:00:00Z")
    requests.post(f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/renewal", headers=vendor(stack), timeout=30)
    admin = bearer(stack, "org_admin", org_id)
    assert requests.put(f"{stack.url}/v1/orgs/{org_id}/seats/ann", headers=admin, timeout=30).status_code == 200
    assert requests.put(f"{stack.url}/v1/orgs/{org_id}/seats/ann", headers=admin, timeout=30).status_code == 200
    assert requests.delete(f"{stack.url}/v1/orgs/{org_id}/seats/ann", headers=admin, timeout=30).status_code == 200
    requests.delete(f"{stack.url}/v1/orgs/{org_id}/api-keys/{key['key_id']}", headers=vendor(stack), timeout=30)

    pages, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{stack.url}/v1/orgs/{org_id}/audit", params=params, headers=admin, timeout=30).json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    entries = [entry for items in pages for entry in items]
    actions = [entry["action"] for entry in entries]
    assert actions == [
        "api_key.revoked",
        "seat.released",
        "seat.claimed",
        "plan.renewed",
        "plan.created",
        "api_key.created",
    ]
    assert all(len(items) <= 2 for items in pages)
    claimed = entries[2]
    assert (claimed["before"], claimed["after"]) == (
        {"user_id": "ann", "seat": "none"},
        {"user_id": "ann", "seat": "held"},
    )
    assert claimed["actor_role"] == "org_admin"
    created = entries[4]
    assert created["before"] is None
    assert created["after"]["amount"] == 3
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)


def test_a_cursor_from_another_organization_is_refused(stack: Stack) -> None:
    first, second = new_org("cur"), new_org("cur")
    for org_id in (first, second):
        for product in ("a", "b", "c"):
            create_plan(stack, org_id, type="mau", product=product, amount=1, start="2026-01-01T00:00:00Z")
    page = requests.get(
        f"{stack.url}/v1/orgs/{first}/audit", params={"limit": 1}, headers=vendor(stack), timeout=30
    ).json()
    assert page["next_cursor"]
    stolen = requests.get(
        f"{stack.url}/v1/orgs/{second}/audit", params={"cursor": page["next_cursor"]}, headers=vendor(stack), timeout=30
    )
    assert stolen.status_code == 400


# ---------------------------------------------------------------------- unit_price and currency (SPEC §5)


def test_a_priced_plan_keeps_its_price_as_decimal_text_and_its_renewal_carries_it_over(stack: Stack) -> None:
    org = new_org("priced")
    start = "2026-01-01T00:00:00Z"
    plan = create_plan(
        stack, org, type="seats", product="learn", amount=10, start=start, unit_price="120.5000", currency="EUR"
    )
    assert (plan["unit_price"], plan["currency"]) == ("120.5000", "EUR")
    listed = requests.get(f"{stack.url}/v1/orgs/{org}/plans", headers=bearer(stack, "reporter", org), timeout=30)
    assert [(p["unit_price"], p["currency"]) for p in listed.json()["items"]] == [("120.5000", "EUR")]
    renewal = requests.post(
        f"{stack.url}/v1/orgs/{org}/plans/{plan['plan_id']}/renewal", json={}, headers=vendor(stack), timeout=30
    )
    assert renewal.status_code == 201, renewal.text
    assert (renewal.json()["unit_price"], renewal.json()["currency"]) == ("120.5000", "EUR")
    unpriced = create_plan(stack, org, type="mau", product="learn", amount=10, start=start)
    assert (unpriced["unit_price"], unpriced["currency"]) == (None, None)


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"unit_price": "12.50"}, "currency"),
        ({"currency": "EUR"}, "unit_price"),
        ({"unit_price": 12.5, "currency": "EUR"}, "unit_price"),
        ({"unit_price": "-1", "currency": "EUR"}, "unit_price"),
        ({"unit_price": "1e3", "currency": "EUR"}, "unit_price"),
        ({"unit_price": "NaN", "currency": "EUR"}, "unit_price"),
        ({"unit_price": "1.23456", "currency": "EUR"}, "unit_price"),
        ({"unit_price": "10", "currency": "eur"}, "currency"),
        ({"unit_price": "10", "currency": "EURO"}, "currency"),
    ],
    ids=["price-alone", "currency-alone", "float", "negative", "exponent", "nan", "five-decimals", "lower", "long"],
)
def test_a_price_without_its_currency_or_badly_written_is_422_naming_the_field(
    stack: Stack, terms: dict[str, Any], field: str
) -> None:
    answer = post_plan(
        stack, new_org("badprice"), type="seats", product="learn", amount=5, start=iso(datetime.now(UTC)), **terms
    )
    assert answer.status_code == 422, answer.text
    assert field in json_fields(answer)


def json_fields(answer: requests.Response) -> str:
    return " ".join(str(detail.get("field", "")) for detail in answer.json()["error"]["details"])
