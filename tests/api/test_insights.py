"""Insights through the local API (SPEC §11): each kind on a built scenario, its evidence against
the usage, users, activity and report APIs, the action that makes it go away, the vendor's
ranked list, and the weekly digest (SPEC §7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests

from tests.stack import LocalStack as Stack
from tests.support import bearer, create_key, create_plan, invoke, iso, login, new_org, roll_up, send, usage, vendor


def insights(stack: Stack, org_id: str, role: str = "org_admin") -> dict[str, Any]:
    answer = requests.get(f"{stack.url}/v1/orgs/{org_id}/insights", headers=bearer(stack, role, org_id), timeout=60)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def of_kind(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item for item in body["items"] if item["kind"] == kind]


def sent(stack: Stack, key: str, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 500):
        answer = send(stack, key, events[start : start + 500])
        assert answer.status_code == 200, answer.text
        assert answer.json()["rejected"] == [], answer.text


def now() -> datetime:
    return datetime.now(UTC)


def seats_org(stack: Stack, idle: int, active: int, **terms: Any) -> tuple[str, str, str, list[str]]:
    """A current seats plan whose first ``idle`` users last logged in 45 days ago and the others
    today: (org, key, plan id, the idle users), rolled up."""
    org = new_org("reclaim")
    key = create_key(stack, org)
    start = now() - timedelta(days=60)
    plan = create_plan(stack, org, type="seats", product="learn", amount=10, start=iso(start), **terms)
    idle_users = [f"idle-{n}@x.example" for n in range(idle)]
    events = [login(f"old-{n}", user, iso(now() - timedelta(days=45))) for n, user in enumerate(idle_users)]
    events += [login(f"new-{n}", f"busy-{n}@x.example", iso(now() - timedelta(minutes=5))) for n in range(active)]
    sent(stack, key, events)
    roll_up(stack)
    return org, key, plan["plan_id"], idle_users


# ---------------------------------------------------------------------- seats.reclaimable


def test_idle_seats_are_reclaimable_with_their_cost_and_releasing_them_removes_the_insight(stack: Stack) -> None:
    org, _, plan_id, idle_users = seats_org(stack, idle=3, active=2, unit_price="365.00", currency="EUR")
    body = insights(stack, org)
    assert body["freshness"] == "current"
    assert body["data_as_of"]
    [item] = of_kind(body, "seats.reclaimable")
    evidence = item["evidence"]
    assert (evidence["idle_seats"], evidence["user_ids"], evidence["seats_in_use"]) == (3, sorted(idle_users), 5)
    # The same figure as the usage API's inactive assignments.
    assert usage(stack, org, plan_id)["inactive_assignments"] == 3
    # 365 EUR a seat a year: 3 seats × the days left ÷ 365 days, in euros and cents.
    assert evidence["unit_price"] == {"amount": "365.00", "currency": "EUR"}
    assert evidence["tied_up"] == {"amount": f"{Decimal(3 * evidence['days_left']):.2f}", "currency": "EUR"}
    assert item["severity"] == "warning"  # 3 of 5 seats idle
    assert item["action"]["method"] == "DELETE"
    assert item["action"]["path"] == f"/v1/orgs/{org}/seats/{idle_users[0].replace('@', '%40')}?product=learn"
    # Act on it: release each listed user (what the dashboard's button does), then roll up.
    admin = bearer(stack, "org_admin", org)
    for user in evidence["user_ids"]:
        path = f"/v1/orgs/{org}/seats/{quote(user, safe='')}?product=learn"
        released = requests.delete(stack.url + path, headers=admin, timeout=60)
        assert released.status_code == 200, released.text
    assert of_kind(insights(stack, org), "seats.reclaimable"), "the insight stays until the next rollup"
    roll_up(stack)
    assert of_kind(insights(stack, org), "seats.reclaimable") == []
    assert usage(stack, org, plan_id)["inactive_assignments"] == 0


def test_a_login_just_inside_the_30_days_keeps_the_seat_from_being_idle(stack: Stack) -> None:
    org = new_org("edge")
    key = create_key(stack, org)
    create_plan(stack, org, type="seats", product="learn", amount=10, start=iso(now() - timedelta(days=60)))
    sent(stack, key, [login("recent", "u@x.example", iso(now() - timedelta(days=29, hours=23)))])
    roll_up(stack)
    assert of_kind(insights(stack, org), "seats.reclaimable") == []


def test_without_a_price_the_reclaimable_seats_carry_no_money(stack: Stack) -> None:
    org, _, _, _ = seats_org(stack, idle=1, active=4)
    [item] = of_kind(insights(stack, org), "seats.reclaimable")
    assert (item["evidence"]["unit_price"], item["evidence"]["tied_up"]) == (None, None)
    assert item["severity"] == "warning"  # 1 of 5 is 20 %


# ---------------------------------------------------------------------- credits.run_out


def test_credits_running_out_before_the_end_match_the_usage_forecast(stack: Stack) -> None:
    org = new_org("credits")
    key = create_key(stack, org)
    plan = create_plan(
        stack, org, type="mauc", product="learn", amount=100, start=iso(now() - timedelta(days=40)),
        unit_price="2.50", currency="USD",
    )  # fmt: skip
    sent(
        stack,
        key,
        [login(f"c-{n}", f"c{n}@x.example", iso(now() - timedelta(days=n % 20, minutes=5))) for n in range(40)],
    )
    roll_up(stack)
    figures = usage(stack, org, plan["plan_id"])
    [item] = of_kind(insights(stack, org), "credits.run_out")
    evidence = item["evidence"]
    assert evidence["forecast_exhausted_on"] == figures["forecast_exhausted_on"]
    assert (evidence["credits_used"], evidence["credits_remaining"]) == (figures["consumed"], figures["available"])
    assert evidence["credits_last_30_days"] == 40
    needed = -(-40 * evidence["days_left"] // 30) - 60
    assert evidence["credits_to_add"] == needed
    assert evidence["cost"] == {"amount": f"{Decimal(needed) * Decimal('2.50'):.2f}", "currency": "USD"}
    assert item["action"] is None  # SPEC §5 has no call that adds credits


# ---------------------------------------------------------------------- mau.over_allowance


def test_a_mau_plan_over_its_allowance_in_its_last_complete_months(stack: Stack) -> None:
    org = new_org("mau")
    key = create_key(stack, org)
    today = now()
    first_of_month = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (first_of_month - timedelta(days=100)).replace(day=1)  # 3 complete months or more
    plan = create_plan(stack, org, type="mau", product="learn", amount=2, start=iso(start))
    months = []
    cursor = start
    while cursor < first_of_month:
        months.append(cursor)
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    events = [
        login(f"m-{m}-{u}", f"u{u}@x.example", iso(month + timedelta(days=3, hours=u)))
        for m, month in enumerate(months)
        for u in range(3 if m >= len(months) - 3 else 1)
    ]
    sent(stack, key, events)
    roll_up(stack)
    [item] = of_kind(insights(stack, org), "mau.over_allowance")
    evidence = item["evidence"]
    rows = {row["month"]: row["active_users"] for row in usage(stack, org, plan["plan_id"])["months"]}
    last_three = [m.strftime("%Y-%m") for m in months[-3:]]
    assert [r["month"] for r in evidence["last_complete_months"]] == last_three
    assert [r["active_users"] for r in evidence["last_complete_months"]] == [rows[m] for m in last_three] == [3, 3, 3]
    assert evidence["over_months"] == last_three
    assert item["severity"] == "critical"  # all three over
    assert evidence["covering_allowance"] == 3


# ---------------------------------------------------------------------- renewal.sizing


def test_a_plan_ending_within_90_days_suggests_a_renewal_and_its_call_renews_it(stack: Stack) -> None:
    org = new_org("renew")
    key = create_key(stack, org)
    plan = create_plan(stack, org, type="seats", product="learn", amount=10, start=iso(now() - timedelta(days=300)))
    sent(stack, key, [login(f"r-{n}", f"r{n}@x.example", iso(now() - timedelta(days=2, minutes=n))) for n in range(4)])
    roll_up(stack)
    [item] = of_kind(insights(stack, org), "renewal.sizing")
    evidence = item["evidence"]
    assert (evidence["basis"], evidence["basis_value"], evidence["suggested_amount"]) == (
        "peak_seats_90_days_plus_10_pct", 4, 5,
    )  # fmt: skip
    history = requests.get(
        f"{stack.url}/v1/orgs/{org}/plans/{plan['plan_id']}/seat-history?days=90", headers=vendor(stack), timeout=60
    ).json()
    assert max(day["max"] for day in history["items"]) == evidence["basis_value"]
    action = item["action"]
    assert (action["method"], action["path"], action["body"]) == (
        "POST", f"/v1/orgs/{org}/plans/{plan['plan_id']}/renewal", {"amount": 5},
    )  # fmt: skip
    renewed = requests.post(stack.url + action["path"], json=action["body"], headers=vendor(stack), timeout=60)
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["amount"] == 5
    assert of_kind(insights(stack, org), "renewal.sizing") == []  # renewed: nothing to size


# ---------------------------------------------------------------------- hard_limit.denials


def test_logins_refused_by_a_hard_limit_suggest_an_overdraft_and_match_the_activity_log(stack: Stack) -> None:
    org = new_org("hard")
    key = create_key(stack, org)
    plan = create_plan(
        stack, org, type="seats", product="learn", amount=2, enforcement="hard", start=iso(now() - timedelta(days=20))
    )
    sent(
        stack, key, [login(f"h-{n}", f"h{n}@x.example", iso(now() - timedelta(hours=5, minutes=-n))) for n in range(5)]
    )
    sent(stack, key, [login("h-again", "h4@x.example", iso(now() - timedelta(hours=1)))])  # refused again
    roll_up(stack)
    [item] = of_kind(insights(stack, org), "hard_limit.denials")
    evidence = item["evidence"]
    log = requests.get(
        f"{stack.url}/v1/orgs/{org}/plans/{plan['plan_id']}/activity?type=seat.denied",
        headers=vendor(stack),
        timeout=60,
    ).json()["items"]
    assert evidence["denials"] == len(log) == 4
    assert evidence["distinct_users"] == len({entry["user_id"] for entry in log}) == 3
    assert (evidence["hard_limit"], evidence["suggested_overdraft"]) == (2, 3)
    assert evidence["last_denied_at"] == max(entry["timestamp"] for entry in log)
    assert item["severity"] == "critical"  # refused in the last 7 days


# ---------------------------------------------------------------------- ai.low_adoption


def test_a_group_far_under_the_median_ai_use_is_flagged_and_matches_the_report(stack: Stack) -> None:
    org = new_org("adopt")
    key = create_key(stack, org)
    events: list[dict[str, Any]] = []
    for group, actions in (("north", 4), ("south", 4), ("east", 0), ("tiny", 0)):
        users = 5 if group != "tiny" else 4  # groups under 5 active users are not compared
        for u in range(users):
            user = f"{group}{u}@x.example"
            at = now() - timedelta(days=3, minutes=u)
            events.append(login(f"{group}-l-{u}", user, iso(at), product=None, group=group))
            if actions:
                events.append({"id": f"{group}-a-{u}", "type": "ai.suggest_goal", "timestamp": iso(at),
                               "user_id": user, "quantity": actions, "group": group})  # fmt: skip
    sent(stack, key, events)
    roll_up(stack)
    [item] = of_kind(insights(stack, org, role="reporter"), "ai.low_adoption")
    evidence = item["evidence"]
    assert (evidence["group"], evidence["active_users"], evidence["ai_actions"]) == ("east", 5, 0)
    assert (evidence["median_per_active_user"], evidence["threshold_per_active_user"]) == ("4.00", "1.00")
    assert evidence["groups_compared"] == 3
    report = requests.get(
        f"{stack.url}/v1/orgs/{org}/reports/license-ai-usage?timeframe=last_30_days",
        headers=bearer(stack, "reporter", org),
        timeout=60,
    ).json()
    groups = {g["group"]: g for g in report["consumption_by_group"]}
    assert (groups["east"]["active_users"], groups["east"]["ai_actions"]) == (5, 0)
    assert (groups["north"]["active_users"], groups["north"]["ai_actions"]) == (5, 20)
    assert item["severity"] == "info"
    assert item["plan_id"] is None


# ---------------------------------------------------------------------- access


def test_insights_are_the_organizations_own(stack: Stack) -> None:
    org, _, _, _ = seats_org(stack, idle=1, active=1)
    other = new_org("other")
    for headers in (bearer(stack, "org_admin", other), bearer(stack, "reporter", other)):
        answer = requests.get(f"{stack.url}/v1/orgs/{org}/insights", headers=headers, timeout=60)
        assert answer.status_code == 403, answer.text
    answer = requests.get(f"{stack.url}/v1/insights", headers=bearer(stack, "org_admin", org), timeout=60)
    assert answer.status_code == 403, answer.text
    assert requests.get(f"{stack.url}/v1/orgs/{org}/insights", timeout=60).status_code == 401


# ---------------------------------------------------------------------- the vendor's view


def vendor_items(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = requests.get(
            f"{stack.url}/v1/insights",
            params={**params, **({"cursor": cursor} if cursor else {})},
            headers=vendor(stack),
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["freshness"] in ("current", "aggregating")
        assert body["data_as_of"]
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_the_vendor_ranks_priced_overdrafts_by_money_then_renewals_at_risk(stack: Stack) -> None:
    big, small = new_org("over-big"), new_org("over-small")
    for org, price in ((big, "1000.00"), (small, "1.00")):
        key = create_key(stack, org)
        create_plan(stack, org, type="seats", product="learn", amount=2, start=iso(now() - timedelta(days=40)),
                    unit_price=price, currency="EUR")  # fmt: skip
        sent(
            stack,
            key,
            [login(f"o-{n}", f"o{n}@x.example", iso(now() - timedelta(days=10, minutes=n))) for n in range(5)],
        )
    risky = new_org("at-risk")
    create_key(stack, risky)
    create_plan(stack, risky, type="seats", product="learn", amount=100, start=iso(now() - timedelta(days=330)))
    roll_up(stack)
    items = vendor_items(stack, limit=3)
    ours = [i for i in items if i["org_id"] in (big, small, risky)]
    assert [(i["org_id"], i["kind"]) for i in ours] == [
        (big, "overdraft"), (small, "overdraft"), (risky, "renewal.at_risk"),
    ]  # fmt: skip
    over = ours[0]
    assert over["units"] == 11 * 3  # 3 seats over on each of the 11 days since the logins
    assert over["money"]["currency"] == "EUR"
    # The whole list is in rank order, every entry once, opportunities before renewals.
    categories = [i["category"] for i in items]
    assert categories == sorted(categories, key=["opportunity", "renewal_at_risk"].index)
    keys = [(i["org_id"], i["plan_id"], i["kind"]) for i in items]
    assert len(keys) == len(set(keys))
    renewals = vendor_items(stack, category="renewal_at_risk", limit=2)
    assert next(r for r in renewals if r["org_id"] == risky)["utilization_pct"] == "0.0"
    assert all(r["category"] == "renewal_at_risk" for r in renewals)
    assert [r["ends_at"] for r in renewals] == sorted(r["ends_at"] for r in renewals)


def test_a_vendor_cursor_from_another_list_is_refused(stack: Stack) -> None:
    forged = requests.get(f"{stack.url}/v1/insights?cursor=abc.def", headers=vendor(stack), timeout=60)
    assert forged.status_code == 400, forged.text
    for n in range(2):  # at least two opportunities, so the first page of one has a cursor
        org = new_org(f"cursor{n}")
        key = create_key(stack, org)
        create_plan(stack, org, type="seats", product="learn", amount=1, start=iso(now() - timedelta(days=5)))
        sent(
            stack,
            key,
            [login(f"c-{u}", f"c{u}@x.example", iso(now() - timedelta(hours=2, minutes=u))) for u in range(3)],
        )
    roll_up(stack)
    first = requests.get(f"{stack.url}/v1/insights?category=opportunity&limit=1", headers=vendor(stack), timeout=60)
    cursor = first.json()["next_cursor"]
    assert cursor
    same = requests.get(f"{stack.url}/v1/insights", params={"category": "opportunity", "cursor": cursor},
                        headers=vendor(stack), timeout=60)  # fmt: skip
    assert same.status_code == 200, same.text
    other = requests.get(f"{stack.url}/v1/insights", params={"cursor": cursor}, headers=vendor(stack), timeout=60)
    assert other.status_code == 400, other.text


# ---------------------------------------------------------------------- the weekly digest


def next_monday() -> datetime:
    today = now().replace(hour=1, minute=0, second=0, microsecond=0)
    return today + timedelta(days=(7 - today.weekday()) % 7 or 7)


def digests(stack: Stack, org: str) -> list[dict[str, Any]]:
    answer = requests.get(
        f"{stack.url}/v1/orgs/{org}/notifications", headers=bearer(stack, "org_admin", org), timeout=60
    )
    assert answer.status_code == 200, answer.text
    return [n for n in answer.json()["items"] if n["kind"] == "insights.digest"]


def test_the_weekly_digest_sends_each_new_warning_once(stack: Stack) -> None:
    org, _, _, idle_users = seats_org(stack, idle=2, active=2)
    monday = next_monday()
    invoke(stack, "NotificationsFunction", monday - timedelta(days=1))  # a Sunday: no digest
    assert digests(stack, org) == []
    invoke(stack, "NotificationsFunction", monday)
    invoke(stack, "NotificationsFunction", monday + timedelta(hours=2))  # the same day again
    [digest] = digests(stack, org)
    [item] = of_kind(insights(stack, org), "seats.reclaimable")
    assert digest["data"]["insight_ids"] == [item["id"]]
    assert item["title"] in digest["message"]
    assert digest["plan_id"] is None
    invoke(stack, "NotificationsFunction", monday + timedelta(days=7))  # next week, nothing new
    assert len(digests(stack, org)) == 1
    # The item changes (one idle seat released): a new id, sent once more.
    path = f"/v1/orgs/{org}/seats/{quote(idle_users[0], safe='')}?product=learn"
    assert requests.delete(stack.url + path, headers=bearer(stack, "org_admin", org), timeout=60).status_code == 200
    roll_up(stack)
    invoke(stack, "NotificationsFunction", monday + timedelta(days=14))
    invoke(stack, "NotificationsFunction", monday + timedelta(days=14, hours=1))
    newest, first = digests(stack, org)
    assert first["id"] == digest["id"]
    [changed] = of_kind(insights(stack, org), "seats.reclaimable")
    assert newest["data"]["insight_ids"] == [changed["id"]] != digest["data"]["insight_ids"]
