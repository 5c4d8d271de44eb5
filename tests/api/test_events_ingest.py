"""POST /v1/events through the local API (SPEC §4): what is kept, what is refused and why."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from license_usage.store.keys import day_partition
from tests.stack import LocalStack as Stack
from tests.support import ago, create_key, create_plan, day_items, iso, login, new_org, send, vendor


@pytest.fixture(scope="module")
def org_key(stack: Stack) -> tuple[str, str]:
    org_id = new_org("ingest")
    return org_id, create_key(stack, org_id)


def stored_event(stack: Stack, org_id: str, event_id: str) -> dict[str, Any] | None:
    item = stack.client("dynamodb").get_item(
        TableName=stack.env["EVENTS_TABLE"], Key={"pk": {"S": f"{org_id}#{event_id}"}}, ConsistentRead=True
    )
    found: dict[str, Any] | None = item.get("Item")
    return found


def test_a_mixed_batch_keeps_the_valid_events_and_lists_each_invalid_one_by_index(
    stack: Stack, org_key: tuple[str, str]
) -> None:
    org_id, key = org_key
    events: list[Any] = [
        login("mix-1", "u1", ago(minutes=5)),
        {"id": "bad id!", "type": "user.login", "timestamp": ago(minutes=5), "user_id": "u1"},
        {"id": "mix-3", "type": "user.teleported", "timestamp": ago(minutes=5), "user_id": "u1"},
        {"id": "mix-4", "type": "ai.quality_check", "timestamp": ago(minutes=5)},
        {"id": "mix-5", "type": "ai.suggest_goal", "timestamp": ago(hours=1), "quantity": 3},
        "not an object",
    ]
    answer = send(stack, key, events)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    rejected = {item["index"]: item for item in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 5]
    assert [e["field"] for e in rejected[1]["errors"]] == ["id"]
    assert [e["field"] for e in rejected[2]["errors"]] == ["type"]
    assert [e["field"] for e in rejected[3]["errors"]] == ["goal_id"]
    assert rejected[3]["id"] == "mix-4"
    assert rejected[5]["id"] is None
    # Durably stored before the 200, with the timestamp converted to UTC.
    assert stored_event(stack, org_id, "mix-1") is not None
    assert stored_event(stack, org_id, "mix-5") is not None
    assert stored_event(stack, org_id, "mix-4") is None

    resend = send(stack, key, events).json()
    assert (resend["accepted"], resend["duplicates"]) == (0, 2)


def _rejection(stack: Stack, key: str, event: dict[str, Any]) -> list[dict[str, str]]:
    answer = send(stack, key, [event])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 0, body
    errors: list[dict[str, str]] = body["rejected"][0]["errors"]
    return errors


# At collection: the cases' times are far enough from it (a day ahead, 401 days back) to stay
# refused whenever in the session the test runs.
NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"id": "x" * 129, "type": "user.login", "timestamp": iso(NOW), "user_id": "u"}, "id"),
        ({"id": "", "type": "user.login", "timestamp": iso(NOW), "user_id": "u"}, "id"),
        ({"id": "a/b", "type": "user.login", "timestamp": iso(NOW), "user_id": "u"}, "id"),
        ({"id": "no-type", "timestamp": iso(NOW), "user_id": "u"}, "type"),
        ({"id": "no-offset", "type": "user.login", "timestamp": "2026-01-01T10:00:00", "user_id": "u"}, "timestamp"),
        ({"id": "date-only", "type": "user.login", "timestamp": "2026-01-01", "user_id": "u"}, "timestamp"),
        ({"id": "not-a-day", "type": "user.login", "timestamp": "2026-02-30T10:00:00Z", "user_id": "u"}, "timestamp"),
        (
            {"id": "future", "type": "user.login", "timestamp": iso(NOW + timedelta(days=1)), "user_id": "u"},
            "timestamp",
        ),
        (
            {"id": "too-old", "type": "user.login", "timestamp": iso(NOW - timedelta(days=401)), "user_id": "u"},
            "timestamp",
        ),
        ({"id": "no-user", "type": "user.login", "timestamp": iso(NOW)}, "user_id"),
        ({"id": "no-user-refresh", "type": "license.refresh", "timestamp": iso(NOW)}, "user_id"),
        ({"id": "no-goal", "type": "ai.suggest_alignment", "timestamp": iso(NOW)}, "goal_id"),
        ({"id": "zero-goals", "type": "ai.suggest_goal", "timestamp": iso(NOW), "quantity": 0}, "quantity"),
        ({"id": "bool-qty", "type": "ai.suggest_goal", "timestamp": iso(NOW), "quantity": True}, "quantity"),
        ({"id": "no-feature", "type": "feature.used", "timestamp": iso(NOW)}, "feature"),
        ({"id": "bad-ip", "type": "feature.used", "timestamp": iso(NOW), "feature": "f", "ip": "300.1.1.1"}, "ip"),
        ({"id": "roles-str", "type": "user.created", "timestamp": iso(NOW), "user_id": "u", "roles": "admin"}, "roles"),
        (
            {
                "id": "big-props",
                "type": "feature.used",
                "timestamp": iso(NOW),
                "feature": "f",
                "properties": {"blob": "x" * 4100},
            },
            "properties",
        ),
        (
            {"id": "props-list", "type": "feature.used", "timestamp": iso(NOW), "feature": "f", "properties": [1]},
            "properties",
        ),
        (
            {"id": "unknown-field", "type": "feature.used", "timestamp": iso(NOW), "feature": "f", "colour": "red"},
            "colour",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else value.get("id", "?")[:20] or "empty-id",
)
def test_each_invalid_event_is_rejected_with_the_field_at_fault(
    stack: Stack, org_key: tuple[str, str], event: dict[str, Any], field: str
) -> None:
    errors = _rejection(stack, org_key[1], event)
    assert field in [error["field"] for error in errors], errors
    assert all(error["message"] for error in errors)


def test_ipv6_and_offset_timestamps_are_accepted_and_stored_in_utc(stack: Stack, org_key: tuple[str, str]) -> None:
    org_id, key = org_key
    local = (NOW - timedelta(hours=2)).astimezone(UTC).replace(microsecond=0)
    stamp = local.astimezone(timezone(timedelta(hours=-8))).isoformat()
    event = login("v6", "u6", stamp, ip="2001:db8::1", group="site-a", properties={"client": "web"})
    assert send(stack, key, [event]).json()["accepted"] == 1
    item = stored_event(stack, org_id, "v6")
    assert item is not None
    assert item["timestamp"]["S"] == local.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert item["ip"]["S"] == "2001:db8::1"
    assert item["day"]["S"] == day_partition(org_id, local.date().isoformat(), "v6")


def test_a_body_that_is_not_json_is_400(stack: Stack, org_key: tuple[str, str]) -> None:
    answer = requests.post(f"{stack.url}/v1/events", data=b"{not json", headers={"x-api-key": org_key[1]}, timeout=30)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "body",
    [{"events": []}, {"events": "nope"}, {"event": []}, [1, 2], {"events": [{}], "extra": 1}],
    ids=["empty", "not-a-list", "wrong-key", "array", "extra-key"],
)
def test_a_body_of_the_wrong_shape_is_422(stack: Stack, org_key: tuple[str, str], body: Any) -> None:
    answer = requests.post(f"{stack.url}/v1/events", json=body, headers={"x-api-key": org_key[1]}, timeout=30)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"]


def test_more_than_1000_events_is_422(stack: Stack, org_key: tuple[str, str]) -> None:
    events = [login(f"many-{i}", "u", ago(minutes=1)) for i in range(1001)]
    answer = send(stack, org_key[1], events)
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "events"


def test_a_body_over_1_mb_is_413_and_stores_nothing(stack: Stack, org_key: tuple[str, str]) -> None:
    org_id, key = org_key
    filler = "x" * 1500
    events = [login(f"huge-{i}", "u", ago(minutes=1), properties={"f": filler}) for i in range(700)]
    payload = json.dumps({"events": events}).encode()
    assert len(payload) > 1024 * 1024
    answer = requests.post(f"{stack.url}/v1/events", data=payload, headers={"x-api-key": key}, timeout=30)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"
    assert stored_event(stack, org_id, "huge-0") is None


def test_the_same_id_twice_in_one_batch_keeps_the_first(stack: Stack, org_key: tuple[str, str]) -> None:
    org_id, key = org_key
    first = login("twice", "first-user", ago(minutes=3))
    second = login("twice", "second-user", ago(minutes=2))
    body = send(stack, key, [first, second]).json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    item = stored_event(stack, org_id, "twice")
    assert item is not None
    assert item["user_id"]["S"] == "first-user"


def test_duplicates_sent_at_the_same_time_are_stored_once(stack: Stack, org_key: tuple[str, str]) -> None:
    key = org_key[1]
    batch = [login(f"race-{i}", f"user-{i % 7}", ago(minutes=4)) for i in range(60)]

    def post(variant: int) -> dict[str, int]:
        # Same ids, other fields differ: the id alone decides what a duplicate is.
        events = [{**event, "ip": f"10.0.0.{variant}"} for event in batch]
        result: dict[str, int] = send(stack, key, events).json()
        return result

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(post, range(8)))
    assert sum(r["accepted"] for r in results) == 60
    assert sum(r["duplicates"] for r in results) == 60 * 7


def test_ids_are_unique_per_organization_not_across_them(stack: Stack, org_key: tuple[str, str]) -> None:
    other_key = create_key(stack, new_org("ingest-other"))
    event = login("shared-id", "u", ago(minutes=1))
    assert send(stack, org_key[1], [event]).json()["accepted"] == 1
    assert send(stack, other_key, [event]).json()["accepted"] == 1


def test_lifecycle_events_keep_the_users_directory_whatever_their_arrival_order(stack: Stack) -> None:
    org_id = new_org("directory")
    key = create_key(stack, org_id)
    plan = create_plan(stack, org_id, type="mau", product="learn", amount=5, start=ago(days=30))
    events = [
        {"id": "dir-3", "type": "user.deactivated", "timestamp": ago(hours=1), "user_id": "dir-u"},
        {
            "id": "dir-2",
            "type": "user.roles_changed",
            "timestamp": ago(hours=2),
            "user_id": "dir-u",
            "roles": ["coach"],
        },
        {
            "id": "dir-1",
            "type": "user.created",
            "timestamp": ago(hours=3),
            "user_id": "dir-u",
            "roles": ["learner"],
            "group": "north",
        },
        login("dir-4", "dir-u", ago(hours=4)),
    ]
    assert send(stack, key, events).json()["accepted"] == 4
    users = requests.get(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/users", headers=vendor(stack), timeout=30
    ).json()["items"]
    assert [(u["user_id"], u["status"], u["roles"], u["group"]) for u in users] == [
        ("dir-u", "deactivated", ["coach"], "north")
    ]


def test_events_of_a_day_are_read_back_by_organization_and_day(stack: Stack) -> None:
    org_id = new_org("by-day")
    key = create_key(stack, org_id)
    day = (NOW - timedelta(days=3)).date()
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    events = [login(f"d-{i}", f"u{i}", iso(at + timedelta(minutes=i))) for i in range(30)]
    events.append(login("d-next", "u", iso(at + timedelta(days=1))))
    assert send(stack, key, events).json()["accepted"] == 31
    items = day_items(stack, org_id, day.isoformat())
    assert [item["event_id"]["S"] for item in items] == [f"d-{i}" for i in range(30)]
