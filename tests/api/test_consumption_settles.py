"""Consumption through the local API settles as if every event had arrived in time order
(SPEC §2, §4), one user is one user however the path spells them, and an event stored but not
counted is counted by its resend. Month rows, seat history, users and the report agree."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from itertools import permutations
from typing import Any

import requests

from license_usage.domain.plan_user import Action, ActionKind
from license_usage.domain.timestamps import format_utc
from tests.domain.test_plan_user import reference_seat_periods
from tests.stack import LocalStack
from tests.support import bearer, create_key, create_plan, iso, login, new_org, roll_up, send, usage, vendor

NOW = datetime.now(UTC)
TODAY = NOW.date()


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def deactivated(event_id: str, user_id: str, timestamp: str) -> dict[str, Any]:
    return {"id": event_id, "type": "user.deactivated", "timestamp": timestamp, "user_id": user_id}


def seats_org(stack: LocalStack, prefix: str, **terms: Any) -> tuple[str, str, dict[str, Any]]:
    org_id = new_org(prefix)
    key = create_key(stack, org_id)
    start = terms.pop("start", iso(midnight(TODAY - timedelta(days=200))))
    plan = create_plan(
        stack, org_id, type="seats", product="learn", amount=terms.pop("amount", 10), start=start, **terms
    )
    return org_id, key, plan


def get(stack: LocalStack, path: str, **params: Any) -> dict[str, Any]:
    answer = requests.get(f"{stack.url}{path}", params=params, headers=vendor(stack), timeout=60)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def seat_history(stack: LocalStack, org_id: str, plan_id: str) -> dict[str, tuple[int, int]]:
    rows = get(stack, f"/v1/orgs/{org_id}/plans/{plan_id}/seat-history", days=90)["items"]
    return {row["date"]: (row["min"], row["max"]) for row in rows}


def seat_entries(stack: LocalStack, org_id: str, plan_id: str) -> list[tuple[str, str | None, str]]:
    items = get(stack, f"/v1/orgs/{org_id}/plans/{plan_id}/activity", type="seat.claimed,seat.released", limit=1000)
    return sorted((item["type"], item["user_id"], item["timestamp"]) for item in items["items"])


def month_row(answer: dict[str, Any], month: str) -> dict[str, Any]:
    row: dict[str, Any] = next(row for row in answer["months"] if row["month"] == month)
    return row


# ---------------------------------------------------------------------- one day, every order


def test_a_login_a_deactivation_and_a_later_login_on_one_day_hold_the_seat_in_every_arrival_order(
    stack: LocalStack,
) -> None:
    day = midnight(TODAY - timedelta(days=3))
    events = [
        login("in-09", "ann", iso(day + timedelta(hours=9))),
        deactivated("off-12", "ann", iso(day + timedelta(hours=12))),
        login("in-15", "ann", iso(day + timedelta(hours=15))),
    ]
    orgs = []
    for order in permutations(range(3)):
        org_id, key, plan = seats_org(stack, "order")
        for index in order:
            assert send(stack, key, [events[index]]).json()["accepted"] == 1
        answer = usage(stack, org_id, plan["plan_id"])
        assert answer["consumed"] == 1, order
        row = month_row(answer, day.strftime("%Y-%m"))
        assert (row["seats_taken"], row["seats_released"], row["seats_in_use_end"]) == (2, 1, 1), order
        assert [kind for kind, _, _ in seat_entries(stack, org_id, plan["plan_id"])] == [
            "seat.claimed",
            "seat.claimed",
            "seat.released",
        ]
        orgs.append((org_id, plan["plan_id"]))
    roll_up(stack)
    for org_id, plan_id in orgs:
        history = seat_history(stack, org_id, plan_id)
        assert history[day.date().isoformat()] == (0, 1)
        assert history[(day + timedelta(days=1)).date().isoformat()] == (1, 1)
        assert usage(stack, org_id, plan_id)["freshness"] == "current"


# ---------------------------------------------------------------------- late seat events


def test_a_late_login_between_a_deactivation_and_a_return_counts_the_seat_from_its_own_day(stack: LocalStack) -> None:
    org_id, key, plan = seats_org(stack, "late-in")
    first, off = midnight(TODAY - timedelta(days=150)), midnight(TODAY - timedelta(days=120))
    back, late = midnight(TODAY - timedelta(days=20)), midnight(TODAY - timedelta(days=50))
    send(stack, key, [login("l1", "ann", iso(first)), deactivated("d1", "ann", iso(off))])
    send(stack, key, [login("l2", "ann", iso(back))])
    send(stack, key, [login("l3", "ann", iso(late))])  # the late one
    answer = usage(stack, org_id, plan["plan_id"])
    assert answer["consumed"] == 1
    assert month_row(answer, late.strftime("%Y-%m"))["seats_taken"] == 1
    if back.month != late.month:
        assert month_row(answer, back.strftime("%Y-%m"))["seats_taken"] == 0
    claims = [stamp for kind, _, stamp in seat_entries(stack, org_id, plan["plan_id"]) if kind == "seat.claimed"]
    assert claims == sorted([iso(first), iso(late)])
    roll_up(stack)
    history = seat_history(stack, org_id, plan["plan_id"])
    for offset in range(0, 50):
        day = (TODAY - timedelta(days=offset)).isoformat()
        assert history[day][1] == 1, day
    assert history[late.date().isoformat()] == (0, 1)
    assert history[(late - timedelta(days=1)).date().isoformat()] == (0, 0)


def test_a_deactivation_arriving_before_an_older_login_counts_the_seat_up_to_it(stack: LocalStack) -> None:
    org_id, key, plan = seats_org(stack, "late-off")
    off, older = midnight(TODAY - timedelta(days=10)), midnight(TODAY - timedelta(days=20))
    send(stack, key, [deactivated("d1", "bob", iso(off))])
    send(stack, key, [login("l1", "bob", iso(older))])
    answer = usage(stack, org_id, plan["plan_id"])
    assert answer["consumed"] == 0
    peaks = {row["month"]: row["peak_seats_in_use"] for row in answer["months"]}
    assert peaks[older.strftime("%Y-%m")] == 1
    assert peaks[off.strftime("%Y-%m")] == 1
    roll_up(stack)
    history = seat_history(stack, org_id, plan["plan_id"])
    assert history[older.date().isoformat()] == (0, 1)
    assert history[(older + timedelta(days=5)).date().isoformat()] == (1, 1)
    assert history[off.date().isoformat()] == (0, 1)
    assert history[(off + timedelta(days=1)).date().isoformat()] == (0, 0)
    users = get(stack, f"/v1/orgs/{org_id}/plans/{plan['plan_id']}/users")["items"]
    assert users[0]["months"][older.strftime("%Y-%m")] == 1


# ---------------------------------------------------------------------- freshness


def test_freshness_is_aggregating_exactly_while_a_seat_change_waits_for_the_rollup(stack: LocalStack) -> None:
    org_id, key, plan = seats_org(stack, "fresh")
    mau = create_plan(stack, org_id, type="mau", product="observe", amount=5, start=plan["start"])
    send(stack, key, [login("l1", "ann", iso(NOW - timedelta(minutes=5)))])
    send(stack, key, [login("l2", "ann", iso(NOW - timedelta(minutes=4)), product="observe")])
    assert usage(stack, org_id, plan["plan_id"])["freshness"] == "aggregating"
    assert usage(stack, org_id, mau["plan_id"])["freshness"] == "current"
    roll_up(stack)
    assert usage(stack, org_id, plan["plan_id"])["freshness"] == "current"
    send(stack, key, [login("l3", "ann", iso(NOW - timedelta(minutes=3)))])  # a repeat: no seat change
    assert usage(stack, org_id, plan["plan_id"])["freshness"] == "current"


# ---------------------------------------------------------------------- one user, one seat


def test_a_seat_claimed_through_a_percent_encoded_path_and_a_login_are_one_user(stack: LocalStack) -> None:
    org_id, key, plan = seats_org(stack, "pct", amount=1)
    send(stack, key, [login("l1", "alice@example.com", iso(NOW - timedelta(hours=1)))])
    admin = bearer(stack, "org_admin", org_id)
    claim = requests.put(f"{stack.url}/v1/orgs/{org_id}/seats/alice%40example.com", headers=admin, timeout=30)
    assert claim.status_code == 200, claim.text
    assert claim.json() == {"granted": True, "overdraft": False}
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 1
    users = get(stack, f"/v1/orgs/{org_id}/plans/{plan['plan_id']}/users")["items"]
    assert [user["user_id"] for user in users] == ["alice@example.com"]
    assert [who for _, who, _ in seat_entries(stack, org_id, plan["plan_id"])] == ["alice@example.com"]
    odd = requests.put(f"{stack.url}/v1/orgs/{org_id}/seats/b%2Fo%20b", headers=admin, timeout=30)
    assert odd.status_code == 200, odd.text
    users = get(stack, f"/v1/orgs/{org_id}/plans/{plan['plan_id']}/users")["items"]
    assert sorted(user["user_id"] for user in users) == ["alice@example.com", "b/o b"]
    freed = requests.delete(f"{stack.url}/v1/orgs/{org_id}/seats/alice%40example.com", headers=admin, timeout=30)
    assert freed.json() == {"released": True}
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 1  # b/o b still holds one


# ---------------------------------------------------------------------- nothing lost


def test_an_event_stored_when_the_function_failed_is_counted_by_its_resend_exactly_once(stack: LocalStack) -> None:
    """The ingest function fails right after storing the batch (fault point ``after_store``); once
    it no longer does, the resend counts each event once."""
    org_id, key, plan = seats_org(stack, "fault")
    mau = create_plan(stack, org_id, type="mau", product="observe", amount=5, start=plan["start"])
    batch = [login(f"l{i}", f"user{i}", iso(NOW - timedelta(minutes=10 - i))) for i in range(3)]
    batch += [login("o1", "user0", iso(NOW - timedelta(minutes=2)), product="observe")]
    with stack.fault_points("after_store"):
        assert send(stack, key, batch).status_code == 500
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 0  # stored, not counted
    body = send(stack, key, batch).json()
    assert (body["accepted"], body["duplicates"]) == (0, 4)
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 3
    assert usage(stack, org_id, mau["plan_id"])["consumed"] == 1
    send(stack, key, batch)
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 3
    assert len(seat_entries(stack, org_id, plan["plan_id"])) == 3


# ---------------------------------------------------------------------- small things


def test_overdrafts_page_with_limit_and_cursor(stack: LocalStack) -> None:
    ours = set()
    for _ in range(2):
        _, key, plan = seats_org(stack, "over", amount=1)
        send(stack, key, [login(f"l{i}", f"u{i}", iso(NOW - timedelta(minutes=5))) for i in range(2)])
        ours.add(plan["plan_id"])
    seen: list[str] = []
    cursor = None
    for _ in range(1000):
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = get(stack, "/v1/overdrafts", **params)
        assert len(page["items"]) <= 1
        seen += [item["plan_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ours <= set(seen)
    assert len(seen) == len(set(seen))
    bad = requests.get(f"{stack.url}/v1/overdrafts?cursor=bm9wZQ", headers=vendor(stack), timeout=30)
    assert bad.status_code == 400


def test_activity_refuses_from_after_to_and_takes_repeated_types(stack: LocalStack) -> None:
    org_id, key, plan = seats_org(stack, "act")
    send(
        stack,
        key,
        [
            login("l1", "ann", iso(NOW - timedelta(hours=2))),
            {"id": "f1", "type": "feature.used", "timestamp": iso(NOW - timedelta(hours=1)), "feature": "x"},
        ],
    )
    path = f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/activity"
    wrong = requests.get(path, params={"from": "2026-11-20", "to": "2026-11-10"}, headers=vendor(stack), timeout=30)
    assert wrong.status_code == 422
    assert wrong.json()["error"]["details"][0]["field"] == "from"
    both = requests.get(f"{path}?type=user.login&type=seat.claimed", headers=vendor(stack), timeout=30).json()
    assert sorted(item["type"] for item in both["items"]) == ["seat.claimed", "user.login"]


def test_the_users_list_marks_no_seat_in_months_not_yet_begun_and_takes_the_latest_group(stack: LocalStack) -> None:
    start = midnight(TODAY - timedelta(days=40)) + timedelta(hours=12)
    org_id, key, plan = seats_org(stack, "users", start=iso(start))
    created = {
        "id": "c1",
        "type": "user.created",
        "timestamp": iso(NOW - timedelta(days=2)),
        "user_id": "ann",
        "group": "red",
    }
    send(stack, key, [created, login("l1", "ann", iso(NOW - timedelta(days=1)), group="blue")])
    path = f"/v1/orgs/{org_id}/plans/{plan['plan_id']}/users"
    user = get(stack, path)["items"][0]
    this_month = TODAY.strftime("%Y-%m")
    next_month = (TODAY.replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
    assert user["months"][this_month] == 1
    assert user["months"][next_month] == 0
    assert user["group"] == "red"  # before the rollup: the lifecycle event's
    roll_up(stack)
    assert get(stack, path)["items"][0]["group"] == "blue"  # SPEC §4: the latest event carrying one


def test_hard_enforcement_on_a_mau_plan_is_refused(stack: LocalStack) -> None:
    answer = requests.post(
        f"{stack.url}/v1/orgs/{new_org('hardmau')}/plans",
        json={"type": "mau", "product": "learn", "amount": 5, "start": iso(NOW), "enforcement": "hard"},
        headers=vendor(stack),
        timeout=30,
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "enforcement"


# ---------------------------------------------------------------------- the property, through HTTP


def _histories(rng: random.Random, users: int) -> dict[str, list[Action]]:
    histories: dict[str, list[Action]] = defaultdict(list)
    base = midnight(TODAY - timedelta(days=6))
    for user in range(users):
        for index in range(rng.randint(1, 7)):
            instant = base + timedelta(days=rng.randint(0, 4), hours=rng.randint(0, 23), minutes=rng.randint(0, 59))
            kind = ActionKind.RELEASE if rng.random() < 0.3 else ActionKind.LOGIN
            histories[f"u{user}"].append(Action(f"{format_utc(instant)}#u{user}e{index}", kind))
    return histories


def _event(user_id: str, action: Action) -> dict[str, Any]:
    stamp, _, event_id = action.order_key.partition("#")
    timestamp = stamp[:19] + "Z"
    if action.kind is ActionKind.LOGIN:
        return login(event_id, user_id, timestamp)
    return deactivated(event_id, user_id, timestamp)


def _reference_days(histories: dict[str, list[Action]], first: date, last: date) -> dict[str, tuple[int, int]]:
    steps = []
    for actions in histories.values():
        for start, end in reference_seat_periods(actions):
            steps.append((start, 1))
            if end is not None:
                steps.append((end, -1))
    steps.sort()
    level, days = 0, {}
    index = 0
    day = first
    while day <= last:
        low = high = level
        while index < len(steps) and steps[index][0][:10] == day.isoformat():
            level += steps[index][1]
            low, high = min(low, level), max(high, level)
            index += 1
        days[day.isoformat()] = (low, high)
        day += timedelta(days=1)
    return days


def test_shuffled_arrivals_of_several_users_settle_as_in_time_order_through_the_api(stack: LocalStack) -> None:
    rng = random.Random(20261201)
    orgs = []
    for _ in range(4):
        histories = _histories(rng, users=5)
        org_id, key, plan = seats_org(stack, "prop")
        arrivals = [(user, action) for user, actions in histories.items() for action in actions]
        rng.shuffle(arrivals)
        while arrivals:
            size = rng.randint(1, 4)
            batch, arrivals = arrivals[:size], arrivals[size:]
            assert send(stack, key, [_event(user, action) for user, action in batch]).status_code == 200
        held = sum(
            1
            for actions in histories.values()
            if (periods := reference_seat_periods(actions)) and periods[-1][1] is None
        )
        assert usage(stack, org_id, plan["plan_id"])["consumed"] == held
        orgs.append((org_id, plan["plan_id"], histories))
    roll_up(stack)
    for org_id, plan_id, histories in orgs:
        expected = _reference_days(histories, TODAY - timedelta(days=8), TODAY)
        got = seat_history(stack, org_id, plan_id)
        assert {day: got[day] for day in expected} == expected
        assert usage(stack, org_id, plan_id)["freshness"] == "current"
