"""Consumption through the local API (SPEC §2, §5): the spec's rules for seats, MAU and MAUC,
at month ends, across UTC offsets, with late and duplicate events, and under concurrent claims."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tests.stack import LocalStack as Stack
from tests.support import bearer, create_key, create_plan, day_items, login, new_org, send, usage, vendor


def months(answer: dict[str, Any], *fields: str) -> dict[str, tuple[Any, ...]]:
    return {row["month"]: tuple(row[f] for f in fields) for row in answer["months"]}


def event(event_id: str, kind: str, user_id: str, timestamp: str, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "timestamp": timestamp, "user_id": user_id, **extra}


def test_mau_counts_a_user_once_per_utc_plan_month_and_resets_each_month(stack: Stack) -> None:
    org_id = new_org("mau")
    key = create_key(stack, org_id)
    plan = create_plan(stack, org_id, type="mau", product="learn", amount=2, start="2026-01-31T12:00:00Z")
    events = [
        login("m1", "ann", "2026-01-31T11:59:59Z"),  # before the plan starts: activity only
        login("m2", "ann", "2026-01-31T12:00:00Z"),
        login("m3", "ann", "2026-01-31T23:00:00Z"),
        login("m4", "bob", "2026-01-31T15:30:00-08:00"),  # 23:30Z: still January
        login("m5", "cat", "2026-01-31T16:30:00-08:00"),  # 00:30Z on 1 February
        login("m6", "ann", "2026-02-14T10:00:00Z"),
        login("m7", "bob", "2026-02-28T23:30:00-08:00"),  # 07:30Z on 1 March
        login("m8", "dan", "2026-02-28T23:59:59Z"),
        login("m9", "eve", "2026-02-28T22:00:00Z"),
        login("m10", "fay", "2026-03-31T23:30:00-01:00"),  # April
    ]
    body = send(stack, key, events).json()
    assert (body["accepted"], body["rejected"]) == (10, [])
    answer = usage(stack, org_id, plan["plan_id"])
    rows = months(answer, "month_start", "month_end", "active_users", "allowance", "overage")
    assert rows["2026-01"] == ("2026-01-31", "2026-01-31", 2, 2, 0)
    assert rows["2026-02"] == ("2026-02-01", "2026-02-28", 4, 2, 2)
    assert rows["2026-03"] == ("2026-03-01", "2026-03-31", 1, 2, 0)
    assert rows["2026-04"][2] == 1
    assert list(rows)[:4] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    # Plan-level figures are the current plan month's (nobody logged in this month).
    assert (answer["consumed"], answer["available"], answer["overage"]) == (0, 2, 0)
    assert answer["forecast_exhausted_on"] is None
    assert answer["freshness"] == "current"


def test_mauc_credits_roll_over_and_monthly_overages_add_up_to_the_plans(stack: Stack) -> None:
    org_id = new_org("mauc")
    key = create_key(stack, org_id)
    plan = create_plan(stack, org_id, type="mauc", product="learn", amount=5, start="2025-11-15T00:00:00Z")
    assert plan["end"] == "2026-11-15T00:00:00Z"
    events = [
        login("c1", "ann", "2025-11-15T00:00:00Z"),
        login("c2", "bob", "2025-11-30T23:59:59Z"),
        login("c3", "ann", "2025-12-01T00:00:00Z"),
        login("c4", "bob", "2025-12-24T08:00:00Z"),
        login("c5", "cat", "2025-12-31T16:00:00-08:00"),  # 1 January 2026
        login("c6", "ann", "2026-01-10T08:00:00Z"),
        login("c7", "ann", "2026-02-10T08:00:00Z"),
        login("c8", "bob", "2026-02-11T08:00:00Z"),
        login("c9", "zed", "2026-11-15T00:00:00Z"),  # at the end: outside the plan
    ]
    assert send(stack, key, events).json()["accepted"] == 9
    answer = usage(stack, org_id, plan["plan_id"])
    assert len(answer["months"]) == 13
    assert (answer["months"][0]["month_start"], answer["months"][-1]["month_end"]) == ("2025-11-15", "2026-11-14")
    rows = months(answer, "credits_used", "cumulative_used", "credits_remaining", "overage")
    assert rows["2025-11"] == (2, 2, 3, 0)
    assert rows["2025-12"] == (2, 4, 1, 0)
    assert rows["2026-01"] == (2, 6, 0, 1)
    assert rows["2026-02"] == (2, 8, 0, 2)
    assert rows["2026-11"] == (0, 8, 0, 0)
    assert (answer["consumed"], answer["available"], answer["overage"], answer["utilization_pct"]) == (8, 0, 3, 160.0)
    assert sum(row["overage"] for row in answer["months"]) == answer["overage"]

    # A late login in the first month, and a resend of everything: exact, as if on time.
    late = send(stack, key, [*events, login("c10", "dan", "2025-11-20T10:00:00Z")]).json()
    assert (late["accepted"], late["duplicates"]) == (1, 9)
    rows = months(usage(stack, org_id, plan["plan_id"]), "credits_used", "cumulative_used", "overage")
    assert rows["2025-11"] == (3, 3, 0)
    assert rows["2025-12"] == (2, 5, 0)
    assert rows["2026-01"] == (2, 7, 2)
    assert rows["2026-02"] == (2, 9, 2)


def test_seats_are_taken_at_first_login_freed_by_deactivation_and_taken_again(stack: Stack) -> None:
    org_id = new_org("seats")
    key = create_key(stack, org_id)
    plan = create_plan(
        stack, org_id, type="seats", product="learn", amount=3, overdraft=1, start="2026-06-15T00:00:00Z"
    )
    send(
        stack,
        key,
        [
            login("s1", "ann", "2026-06-20T10:00:00Z"),
            login("s2", "bob", "2026-07-01T10:00:00Z"),
            login("s3", "cat", "2026-07-15T10:00:00Z"),
            login("s4", "dan", "2026-08-01T10:00:00Z"),  # a fourth seat: soft plan, so overage
            login("s5", "ann", "2026-08-02T10:00:00Z"),
        ],
    )
    answer = usage(stack, org_id, plan["plan_id"])
    assert (answer["consumed"], answer["available"], answer["overage"], answer["utilization_pct"]) == (4, 0, 1, 133.3)
    assert (answer["hard_limit"], answer["inactive_assignments"]) == (4, 0)
    send(
        stack,
        key,
        [
            event("s6", "user.deactivated", "bob", "2026-08-10T10:00:00Z"),
            event("s7", "user.deactivated", "ann", "2026-08-01T10:00:00Z"),  # late: ann logged in after it
            login("s8", "bob", "2026-09-01T10:00:00Z"),
            event("s9", "user.deleted", "cat", "2026-09-02T10:00:00Z"),
        ],
    )
    answer = usage(stack, org_id, plan["plan_id"])
    assert answer["consumed"] == 3
    rows = months(answer, "seats_taken", "seats_released", "seats_in_use_end", "seat_limit", "hard_limit")
    assert rows["2026-06"] == (1, 0, 1, 3, 4)
    assert rows["2026-07"] == (2, 0, 3, 3, 4)
    # In time order ann's seat is freed by the 08-01 deactivation and taken again at her 08-02 login.
    assert rows["2026-08"] == (2, 2, 3, 3, 4)
    assert rows["2026-09"] == (1, 1, 3, 3, 4)
    users = requests.get(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/users", headers=vendor(stack), timeout=30
    ).json()["items"]
    flags = {user["user_id"]: user["months"] for user in users}
    assert (flags["bob"]["2026-06"], flags["bob"]["2026-07"], flags["bob"]["2026-08"], flags["bob"]["2026-09"]) == (
        0,
        1,
        1,
        1,
    )
    assert flags["cat"]["2026-10"] == 0
    assert flags["ann"]["2026-11"] == 1


def test_a_hard_plan_refuses_logins_beyond_amount_plus_overdraft_and_logs_the_denial(stack: Stack) -> None:
    org_id = new_org("hard")
    key = create_key(stack, org_id)
    plan = create_plan(
        stack,
        org_id,
        type="seats",
        product="learn",
        amount=2,
        overdraft=1,
        enforcement="hard",
        start="2026-10-01T00:00:00Z",
    )
    body = send(stack, key, [login(f"h{i}", f"user{i}", f"2026-10-0{i + 1}T10:00:00Z") for i in range(5)]).json()
    assert body["accepted"] == 5  # a refused seat does not refuse the login
    answer = usage(stack, org_id, plan["plan_id"])
    assert (answer["consumed"], answer["overage"], answer["hard_limit"]) == (3, 1, 3)
    denied = day_items(stack, org_id, "2026-10-05")
    assert sorted(item["type"]["S"] for item in denied) == ["seat.denied", "user.login"]


def test_forty_concurrent_claims_for_five_hard_seats_grant_exactly_five(stack: Stack) -> None:
    org_id = new_org("claims")
    plan = create_plan(
        stack, org_id, type="seats", product="learn", amount=5, enforcement="hard", start="2026-01-01T00:00:00Z"
    )
    headers = {"x-api-key": create_key(stack, org_id)}

    def claim(index: int) -> int:
        return requests.put(
            f"{stack.url}/v1/orgs/{org_id}/seats/user-{index}", params={"product": "learn"}, headers=headers, timeout=60
        ).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(pool.map(claim, range(40)))
    assert codes.count(200) == 5, codes
    assert codes.count(409) == 35
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 5


def test_seat_claims_are_idempotent_and_report_overdraft(stack: Stack) -> None:
    org_id = new_org("claim")
    plan = create_plan(
        stack,
        org_id,
        type="seats",
        product="learn",
        amount=1,
        overdraft=1,
        enforcement="hard",
        start="2026-01-01T00:00:00Z",
    )
    admin = bearer(stack, "org_admin", org_id)
    url = f"{stack.url}/v1/orgs/{org_id}/seats"
    assert requests.put(f"{url}/ann", headers=admin, timeout=30).json() == {"granted": True, "overdraft": False}
    assert requests.put(f"{url}/ann", headers=admin, timeout=30).json() == {"granted": True, "overdraft": False}
    assert requests.put(f"{url}/bob", json={"product": "learn"}, headers=admin, timeout=30).json() == {
        "granted": True,
        "overdraft": True,
    }
    refused = requests.put(f"{url}/cat", headers=admin, timeout=30)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "seat_limit_reached"
    assert requests.delete(f"{url}/ann", headers=admin, timeout=30).json() == {"released": True}
    assert requests.delete(f"{url}/ann", headers=admin, timeout=30).json() == {"released": False}
    assert requests.put(f"{url}/cat", headers=admin, timeout=30).status_code == 200
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 2
    missing = requests.put(f"{url}/ann", params={"product": "observe"}, headers=admin, timeout=30)
    assert missing.status_code == 404


def test_a_login_without_product_uses_the_single_current_plan_and_is_refused_when_ambiguous(stack: Stack) -> None:
    org_id = new_org("product")
    key = create_key(stack, org_id)
    plan = create_plan(stack, org_id, type="mau", product="learn", amount=5, start="2026-01-01T00:00:00Z")
    assert send(stack, key, [login("p1", "ann", "2026-11-01T10:00:00Z", product=None)]).json()["accepted"] == 1
    assert months(usage(stack, org_id, plan["plan_id"]), "active_users")["2026-11"] == (1,)
    create_plan(stack, org_id, type="seats", product="observe", amount=5, start="2026-01-01T00:00:00Z")
    body = send(stack, key, [login("p2", "bob", "2026-11-02T10:00:00Z", product=None)]).json()
    assert body["accepted"] == 0
    assert body["rejected"][0]["errors"][0]["field"] == "product"


def test_a_login_for_a_product_without_a_plan_is_stored_and_consumes_nothing(stack: Stack) -> None:
    org_id = new_org("noplan")
    key = create_key(stack, org_id)
    plan = create_plan(stack, org_id, type="mau", product="learn", amount=5, start="2026-01-01T00:00:00Z")
    assert send(stack, key, [login("n1", "ann", "2026-11-01T10:00:00Z", product="observe")]).json()["accepted"] == 1
    assert months(usage(stack, org_id, plan["plan_id"]), "active_users")["2026-11"] == (0,)


def test_users_are_listed_with_month_flags_a_page_at_a_time(stack: Stack) -> None:
    org_id = new_org("users")
    key = create_key(stack, org_id)
    plan = create_plan(stack, org_id, type="mauc", product="learn", amount=50, start="2026-09-15T00:00:00Z")
    send(
        stack,
        key,
        [
            {
                "id": "u0",
                "type": "user.created",
                "timestamp": "2026-09-01T00:00:00Z",
                "user_id": "ann",
                "roles": ["coach"],
                "group": "north",
            },
            login("u1", "ann", "2026-09-20T10:00:00Z"),
            login("u2", "ann", "2026-11-02T10:00:00Z"),
            login("u3", "bob", "2026-10-02T10:00:00Z"),
            login("u4", "cat", "2026-10-03T10:00:00Z"),
        ],
    )
    url = f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/users"
    first = requests.get(url, params={"limit": 2}, headers=bearer(stack, "reporter", org_id), timeout=30).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    second = requests.get(
        url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=bearer(stack, "reporter", org_id), timeout=30
    ).json()
    users = {user["user_id"]: user for user in first["items"] + second["items"]}
    assert sorted(users) == ["ann", "bob", "cat"]
    ann = users["ann"]
    assert (ann["status"], ann["roles"], ann["group"]) == ("active", ["coach"], "north")
    assert (ann["first_login"], ann["last_login"]) == ("2026-09-20T10:00:00Z", "2026-11-02T10:00:00Z")
    assert list(ann["months"])[:3] == ["2026-09", "2026-10", "2026-11"]
    assert len(ann["months"]) == 13
    assert (ann["months"]["2026-09"], ann["months"]["2026-10"], ann["months"]["2026-11"]) == (1, 0, 1)
    assert requests.get(url, params={"limit": 1001}, headers=vendor(stack), timeout=30).status_code == 422


def test_overdrafts_list_current_plans_above_their_amount_for_vendor_admins(stack: Stack) -> None:
    org_id = new_org("over")
    key = create_key(stack, org_id)
    over = create_plan(stack, org_id, type="mauc", product="learn", amount=1, start="2026-01-01T00:00:00Z")
    within = create_plan(stack, org_id, type="seats", product="learn", amount=10, start="2026-01-01T00:00:00Z")
    send(stack, key, [login("o1", "ann", "2026-11-01T10:00:00Z"), login("o2", "bob", "2026-11-01T11:00:00Z")])
    listed = requests.get(f"{stack.url}/v1/overdrafts", headers=vendor(stack), timeout=30).json()["items"]
    mine = {item["plan_id"]: item for item in listed if item["org_id"] == org_id}
    assert over["plan_id"] in mine
    assert within["plan_id"] not in mine
    assert (mine[over["plan_id"]]["consumed"], mine[over["plan_id"]]["overage"]) == (2, 1)
