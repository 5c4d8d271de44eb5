"""Seats assigned by role through the local API (SPEC §2, §5 `assign_roles`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from tests.stack import LocalStack
from tests.support import create_key, create_plan, iso, login, new_org, roll_up, send, usage, vendor

NOW = datetime.now(UTC)


def role_event(event_id: str, kind: str, user_id: str, roles: list[str], minutes_ago: float) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": kind,
        "user_id": user_id,
        "roles": roles,
        "timestamp": iso(NOW - timedelta(minutes=minutes_ago)),
    }


def role_plan(stack: LocalStack, **terms: Any) -> tuple[str, str, dict[str, Any]]:
    org_id = new_org("roles")
    key = create_key(stack, org_id)
    plan = create_plan(
        stack,
        org_id,
        type="seats",
        product="learn",
        amount=terms.pop("amount", 10),
        start=iso(NOW - timedelta(days=40)),
        assign_roles=["coach"],
        **terms,
    )
    assert plan["assign_roles"] == ["coach"]
    return org_id, key, plan


def users(stack: LocalStack, org_id: str, plan_id: str) -> dict[str, dict[str, Any]]:
    answer = requests.get(f"{stack.url}/v1/orgs/{org_id}/plans/{plan_id}/users", headers=vendor(stack), timeout=30)
    return {user["user_id"]: user for user in answer.json()["items"]}


def test_three_coaches_take_three_seats_and_a_change_to_learner_frees_one(stack: LocalStack) -> None:
    org_id, key, plan = role_plan(stack)
    send(stack, key, [role_event(f"c{i}", "user.created", f"coach{i}", ["coach"], 60 - i) for i in range(3)])
    send(stack, key, [role_event("l1", "user.created", "lea", ["learner"], 50), login("in", "lea", iso(NOW))])
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 3  # a login takes no seat here
    send(stack, key, [role_event("r1", "user.roles_changed", "coach1", ["learner"], 30)])
    send(stack, key, [role_event("r2", "user.roles_changed", "lea", ["coach", "learner"], 20)])
    answer = usage(stack, org_id, plan["plan_id"])
    assert answer["consumed"] == 3
    listed = users(stack, org_id, plan["plan_id"])
    assert {name: user["seat_reason"] for name, user in listed.items()} == {
        "coach0": "role",
        "coach1": None,
        "coach2": "role",
        "lea": "role",
    }
    send(stack, key, [login("l-c0", "coach0", iso(NOW - timedelta(minutes=1)))])
    roll_up(stack)
    coach0 = users(stack, org_id, plan["plan_id"])["coach0"]
    assert coach0["first_login"] == coach0["last_login"] == iso(NOW - timedelta(minutes=1))
    answer = usage(stack, org_id, plan["plan_id"])
    # coach0 and lea logged in within 30 days; coach2 holds a seat without a login.
    assert (answer["active_assigned"], answer["active_pct"], answer["inactive_assignments"]) == (2, 66.7, 1)


def test_a_late_role_change_after_a_deactivation_lands_exactly(stack: LocalStack) -> None:
    org_id, key, plan = role_plan(stack)
    send(stack, key, [role_event("c", "user.created", "ann", ["coach"], 300)])
    send(
        stack,
        key,
        [{"id": "off", "type": "user.deactivated", "user_id": "ann", "timestamp": iso(NOW - timedelta(minutes=100))}],
    )
    send(stack, key, [role_event("late", "user.roles_changed", "ann", ["learner"], 200)])  # before the deactivation
    answer = usage(stack, org_id, plan["plan_id"])
    assert answer["consumed"] == 0
    released = [
        item["timestamp"]
        for item in requests.get(
            f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/activity",
            params={"type": "seat.released"},
            headers=vendor(stack),
            timeout=30,
        ).json()["items"]
    ]
    assert released == [iso(NOW - timedelta(minutes=200))]  # freed by the role change, not the deactivation


def test_a_hard_limited_role_plan_refuses_an_assignment_and_shows_the_denial(stack: LocalStack) -> None:
    org_id, key, plan = role_plan(stack, amount=1, overdraft=1, enforcement="hard")
    send(stack, key, [role_event(f"c{i}", "user.created", f"coach{i}", ["coach"], 60 - i) for i in range(3)])
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 2
    denied = requests.get(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/activity",
        params={"type": "seat.denied"},
        headers=vendor(stack),
        timeout=30,
    ).json()["items"]
    assert [item["user_id"] for item in denied] == ["coach2"]


def test_assign_roles_is_refused_on_a_mau_plan(stack: LocalStack) -> None:
    answer = requests.post(
        f"{stack.url}/v1/orgs/{new_org('rolemau')}/plans",
        json={"type": "mau", "product": "learn", "amount": 5, "start": iso(NOW), "assign_roles": ["coach"]},
        headers=vendor(stack),
        timeout=30,
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "assign_roles"


def test_a_role_plan_created_or_renewed_after_its_users_gives_them_their_seats(stack: LocalStack) -> None:
    org_id = new_org("rolesafter")
    key = create_key(stack, org_id)
    send(stack, key, [role_event(f"c{i}", "user.created", f"coach{i}", ["coach"], 600 - i) for i in range(3)])
    send(
        stack,
        key,
        [
            {
                "id": "off",
                "type": "user.deactivated",
                "user_id": "coach2",
                "timestamp": iso(NOW - timedelta(minutes=500)),
            }
        ],
    )
    roll_up(stack)  # the directory holds them now
    send(stack, key, [role_event("late", "user.created", "coach3", ["coach"], 400)])  # still waiting for a rollup
    start = iso(NOW - timedelta(days=350))
    plan = create_plan(
        stack,
        org_id,
        type="seats",
        product="learn",
        amount=10,
        start=start,
        end=iso(NOW + timedelta(days=2)),
        assign_roles=["coach"],
    )
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 3  # coach0, coach1, coach3; coach2 was deactivated
    renewal = requests.post(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/renewal", headers=vendor(stack), timeout=30
    )
    assert renewal.status_code == 201, renewal.text
    renewed = renewal.json()
    assert renewed["assign_roles"] == ["coach"]
    seats = {name for name, user in users(stack, org_id, renewed["plan_id"]).items() if user["seat_reason"] == "role"}
    assert seats == {"coach0", "coach1", "coach3"}  # held from the renewed plan's start
