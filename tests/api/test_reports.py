"""Rollups and what they feed (SPEC §3, §5, §6, §7), through the local API and
``usage-local invoke``: the License & AI Usage report, seat history and the activity log."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from license_usage.store.keys import dirty_day_key
from tests.stack import LocalStack as Stack
from tests.support import bearer, create_key, create_plan, invoke, iso, login, new_org, roll_up, send, vendor


def report(stack: Stack, org_id: str, **params: str) -> dict[str, Any]:
    answer = requests.get(
        f"{stack.url}/v1/orgs/{org_id}/reports/license-ai-usage",
        params=params,
        headers=bearer(stack, "reporter", org_id),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ev(event_id: str, kind: str, timestamp: str, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "timestamp": timestamp, **fields}


OCTOBER = {"timeframe": "custom", "from": "2026-10-05", "to": "2026-10-18"}


@pytest.fixture(scope="module")
def reported_org(stack: Stack) -> str:
    """One organization with two ISO weeks of AI actions, lifecycle events and logins in groups."""
    org_id = new_org("report")
    key = create_key(stack, org_id)
    events = [
        # Week of Monday 5 October 2026.
        ev("q1", "ai.quality_check", "2026-10-06T10:00:00Z", goal_id="g1", group="north"),
        ev("q2", "ai.quality_check", "2026-10-07T10:00:00Z", goal_id="g1", group="north"),
        ev("q3", "ai.quality_check", "2026-10-11T23:59:59Z", goal_id="g2", group="south"),
        ev("a1", "ai.suggest_alignment", "2026-10-06T11:00:00Z", goal_id="g1"),
        ev("s1", "ai.suggest_goal", "2026-10-06T12:00:00Z", quantity=3, group="north"),
        # Week of Monday 12 October (the first one at 23:30 -08:00 on Sunday is Monday in UTC).
        ev("q4", "ai.quality_check", "2026-10-11T23:30:00-08:00", goal_id="g1", group="north"),
        ev("q5", "ai.quality_check", "2026-10-13T09:00:00Z", goal_id="g3", group="south"),
        ev("a2", "ai.suggest_alignment", "2026-10-12T11:00:00Z", goal_id="g1"),
        ev("s2", "ai.suggest_goal", "2026-10-13T12:00:00Z"),
        # Outside the window: the day before and the day after.
        ev("q6", "ai.quality_check", "2026-10-04T23:59:59Z", goal_id="g9"),
        ev("q7", "ai.quality_check", "2026-10-19T00:00:00Z", goal_id="g9"),
        # Users.
        ev("c0", "user.created", "2026-09-01T00:00:00Z", user_id="cat", roles=["admin", "learner"], group="south"),
        ev("c1", "user.created", "2026-10-05T08:00:00Z", user_id="ann", roles=["coach"], group="north"),
        ev("c2", "user.created", "2026-10-06T08:00:00Z", user_id="bob", roles=["learner"]),
        ev("i1", "user.invited", "2026-10-13T08:00:00Z", user_id="eve"),
        ev("c3", "user.created", "2026-10-14T08:00:00Z", user_id="eve", roles=["learner"]),
        ev("r1", "user.roles_changed", "2026-10-15T08:00:00Z", user_id="eve", roles=["coach", "admin"]),
        ev("d1", "user.deactivated", "2026-10-16T08:00:00Z", user_id="bob"),
        ev("x1", "user.created", "2026-10-17T08:00:00Z", user_id="fay", roles=["observer"]),
        ev("x2", "user.deleted", "2026-10-18T23:00:00Z", user_id="fay"),
        ev("c4", "user.created", "2026-10-19T00:00:01Z", user_id="dan", roles=["coach"]),
        # Logins: ann in her directory group, cat in an event's own group.
        login("l1", "ann", "2026-10-07T08:00:00Z"),
        login("l2", "ann", "2026-10-14T08:00:00Z"),
        login("l3", "cat", "2026-10-08T08:00:00Z", group="east"),
        login("l4", "bob", "2026-10-08T09:00:00Z"),
    ]
    body = send(stack, key, events).json()
    assert (body["accepted"], body["rejected"]) == (len(events), [])
    roll_up(stack)
    return org_id


def test_ai_actions_are_distinct_in_the_window_and_within_each_iso_week(stack: Stack, reported_org: str) -> None:
    body = report(stack, reported_org, **OCTOBER)
    assert body["timeframe"] == {"name": "custom", "from": "2026-10-05", "to": "2026-10-18"}
    ai = body["ai_actions"]
    assert ai["by_type"] == {"quality_check": 3, "suggest_alignment": 1, "suggest_goal": 4}
    assert ai["total"] == 8
    assert ai["weekly"] == [
        {"week_start": "2026-10-05", "quality_check": 2, "suggest_alignment": 1, "suggest_goal": 3, "total": 6},
        {"week_start": "2026-10-12", "quality_check": 2, "suggest_alignment": 1, "suggest_goal": 1, "total": 4},
    ]


def test_user_activity_counts_lifecycle_events_per_window_and_week(stack: Stack, reported_org: str) -> None:
    activity = report(stack, reported_org, **OCTOBER)["user_activity"]
    quiet = {"active_users": 0, "sessions": 0, "instances": 0}
    assert activity["totals"] == {
        "added": 4,
        "invited": 1,
        "deactivated": 1,
        "deleted": 1,
        **quiet,
        "active_users": 3,
        "sessions": 4,
    }
    assert activity["weekly"] == [
        {
            "week_start": "2026-10-05",
            "added": 2,
            "invited": 0,
            "deactivated": 0,
            "deleted": 0,
            **quiet,
            "active_users": 3,
            "sessions": 3,
        },
        {
            "week_start": "2026-10-12",
            "added": 2,
            "invited": 1,
            "deactivated": 1,
            "deleted": 1,
            **quiet,
            "active_users": 1,
            "sessions": 1,
        },
    ]


def test_roles_are_those_of_users_active_at_the_end_of_the_window(stack: Stack, reported_org: str) -> None:
    assert report(stack, reported_org, **OCTOBER)["roles_distribution"] == {"admin": 2, "coach": 2, "learner": 1}
    earlier = report(stack, reported_org, timeframe="custom", **{"from": "2026-10-01", "to": "2026-10-06"})
    assert earlier["roles_distribution"] == {"admin": 1, "coach": 1, "learner": 2}


def test_consumption_by_group_uses_the_events_group_else_the_users(stack: Stack, reported_org: str) -> None:
    groups = {row["group"]: row for row in report(stack, reported_org, **OCTOBER)["consumption_by_group"]}
    assert groups["north"] == {"group": "north", "active_users": 1, "ai_actions": 4}  # g1 + 3 suggestions
    assert groups["south"] == {"group": "south", "active_users": 0, "ai_actions": 2}
    assert groups["east"]["active_users"] == 1
    assert groups["unassigned"] == {"group": "unassigned", "active_users": 1, "ai_actions": 2}


def test_a_timeframe_with_no_data_reports_zeros(stack: Stack) -> None:
    org_id = new_org("empty")
    create_plan(stack, org_id, type="mau", product="learn", amount=10, start="2026-01-01T00:00:00Z")
    body = report(stack, org_id, timeframe="last_year")
    year = datetime.now(UTC).year - 1
    assert body["timeframe"] == {"name": "last_year", "from": f"{year}-01-01", "to": f"{year}-12-31"}
    assert body["ai_actions"]["total"] == 0
    assert len(body["ai_actions"]["weekly"]) in (52, 53)
    assert all(week["total"] == 0 for week in body["ai_actions"]["weekly"])
    assert body["user_activity"]["totals"] == {
        "added": 0,
        "invited": 0,
        "deactivated": 0,
        "deleted": 0,
        "active_users": 0,
        "sessions": 0,
        "instances": 0,
    }
    assert (body["roles_distribution"], body["consumption_by_group"]) == ({}, [])
    assert body["license_usage"]["plans"] == []
    assert body["freshness"] == "current"


@pytest.mark.parametrize(
    "timeframe", ["this_month", "last_month", "this_quarter", "last_quarter", "this_year", "last_year", "last_30_days"]
)
def test_every_named_timeframe_resolves_to_utc_dates(stack: Stack, reported_org: str, timeframe: str) -> None:
    body = report(stack, reported_org, timeframe=timeframe)
    first, last = date.fromisoformat(body["timeframe"]["from"]), date.fromisoformat(body["timeframe"]["to"])
    today = datetime.now(UTC).date()
    assert first <= last <= today
    assert body["ai_actions"]["weekly"][0]["week_start"] <= first.isoformat()


@pytest.mark.parametrize(
    "params",
    [
        {"timeframe": "fortnight"},
        {"timeframe": "custom", "from": "2026-10-01"},
        {"timeframe": "custom", "from": "2026-10-10", "to": "2026-10-01"},
        {"timeframe": "custom", "from": "10/01/2026", "to": "2026-10-02"},
    ],
    ids=["unknown", "no-to", "reversed", "not-a-date"],
)
def test_bad_timeframes_are_422(stack: Stack, reported_org: str, params: dict[str, str]) -> None:
    answer = requests.get(
        f"{stack.url}/v1/orgs/{reported_org}/reports/license-ai-usage", params=params, headers=vendor(stack), timeout=30
    )
    assert answer.status_code == 422, answer.text


def test_a_late_event_is_reflected_exactly_after_the_next_rollup_and_reruns_change_nothing(stack: Stack) -> None:
    org_id = new_org("late")
    key = create_key(stack, org_id)
    late_day = (datetime.now(UTC) - timedelta(days=300)).replace(hour=12, minute=0, second=0, microsecond=0)
    window = {"timeframe": "custom", "from": late_day.date().isoformat(), "to": late_day.date().isoformat()}
    send(stack, key, [ev("on-time", "ai.quality_check", iso(late_day), goal_id="g1")])
    roll_up(stack)
    before = report(stack, org_id, **window)
    assert (before["ai_actions"]["total"], before["freshness"]) == (1, "current")

    send(
        stack,
        key,
        [
            ev("late", "ai.quality_check", iso(late_day + timedelta(hours=1)), goal_id="g2"),
            ev("late-dup", "ai.quality_check", iso(late_day + timedelta(hours=2)), goal_id="g1"),
        ],
    )
    pending = report(stack, org_id, **window)
    assert (pending["ai_actions"]["total"], pending["freshness"]) == (1, "aggregating")
    first_run = roll_up(stack)
    assert f"{org_id}/{late_day.date().isoformat()}" in first_run["days_rolled_up"]
    after = report(stack, org_id, **window)
    assert (after["ai_actions"]["by_type"]["quality_check"], after["freshness"]) == (2, "current")

    second_run = roll_up(stack)
    assert f"{org_id}/{late_day.date().isoformat()}" not in second_run["days_rolled_up"]
    again = report(stack, org_id, **window)
    for section in ("ai_actions", "user_activity", "roles_distribution", "consumption_by_group"):
        assert again[section] == after[section]


def _dirty_mark(stack: Stack, org_id: str, day: str) -> dict[str, Any] | None:
    pk, sk = dirty_day_key(org_id, day)
    key = {"pk": {"S": pk}, "sk": {"S": sk}}
    found = stack.client("dynamodb").get_item(TableName=stack.env["LICENSING_TABLE"], Key=key, ConsistentRead=True)
    item: dict[str, Any] | None = found.get("Item")
    return item


def test_a_day_waiting_for_its_rollup_is_marked_once_and_again_once_a_rollup_claimed_it(stack: Stack) -> None:
    org_id = new_org("marks")
    key = create_key(stack, org_id)
    day = (datetime.now(UTC) - timedelta(days=200)).replace(hour=9, minute=0, second=0, microsecond=0)
    window = {"timeframe": "custom", "from": day.date().isoformat(), "to": day.date().isoformat()}
    send(stack, key, [ev("m1", "ai.quality_check", iso(day), goal_id="g1")])
    send(stack, key, [ev("m2", "ai.quality_check", iso(day + timedelta(hours=1)), goal_id="g2")])
    mark = _dirty_mark(stack, org_id, day.date().isoformat())
    assert mark is not None
    assert mark["marks"] == {"N": "1"}  # the second batch found the day waiting

    # A rollup has claimed the day (and may have read it already): the next batch marks it again.
    stack.client("dynamodb").update_item(
        TableName=stack.env["LICENSING_TABLE"],
        Key={
            "pk": {"S": dirty_day_key(org_id, day.date().isoformat())[0]},
            "sk": {"S": f"{org_id}#{day.date().isoformat()}"},
        },
        UpdateExpression="SET claimed = marks",
    )
    send(stack, key, [ev("m3", "ai.quality_check", iso(day + timedelta(hours=2)), goal_id="g3")])
    mark = _dirty_mark(stack, org_id, day.date().isoformat())
    assert mark is not None
    assert mark["marks"] == {"N": "2"}

    roll_up(stack)
    assert _dirty_mark(stack, org_id, day.date().isoformat()) is None
    after = report(stack, org_id, **window)
    assert (after["ai_actions"]["by_type"]["quality_check"], after["freshness"]) == (3, "current")


def test_replaying_a_rollup_for_an_earlier_instant_changes_nothing(stack: Stack, reported_org: str) -> None:
    before = report(stack, reported_org, **OCTOBER)
    invoke(stack, "DailyRollupFunction", datetime(2026, 10, 19, 0, 15, tzinfo=UTC))
    invoke(stack, "MonthlyRollupFunction", datetime(2026, 11, 1, 0, 45, tzinfo=UTC))
    after = report(stack, reported_org, **OCTOBER)
    for section in ("ai_actions", "user_activity", "roles_distribution", "consumption_by_group"):
        assert after[section] == before[section]


def test_seat_history_gives_each_days_lowest_and_highest_seats_in_use(stack: Stack) -> None:
    org_id = new_org("history")
    key = create_key(stack, org_id)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=10)
    plan = create_plan(stack, org_id, type="seats", product="learn", amount=2, overdraft=1, start=iso(start))
    day = lambda n, h: iso(start + timedelta(days=n, hours=h))  # noqa: E731
    send(
        stack,
        key,
        [
            login("h1", "ann", day(1, 8)),
            login("h2", "bob", day(1, 9)),
            {"id": "h3", "type": "user.deactivated", "timestamp": day(1, 10), "user_id": "bob"},
            login("h4", "cat", day(3, 8)),
            login("h5", "dan", day(3, 9)),
            {"id": "h6", "type": "user.deleted", "timestamp": day(3, 10), "user_id": "cat"},
            {"id": "h7", "type": "user.deleted", "timestamp": day(3, 11), "user_id": "dan"},
        ],
    )
    roll_up(stack)
    answer = requests.get(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/seat-history",
        params={"days": 11},
        headers=bearer(stack, "org_admin", org_id),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    rows = {row["date"]: row for row in answer.json()["items"]}
    assert len(rows) == 11
    d = lambda n: (start + timedelta(days=n)).date().isoformat()  # noqa: E731
    assert (rows[d(0)]["min"], rows[d(0)]["max"]) == (0, 0)
    assert (rows[d(1)]["min"], rows[d(1)]["max"]) == (0, 2)
    assert (rows[d(2)]["min"], rows[d(2)]["max"]) == (1, 1)
    assert (rows[d(3)]["min"], rows[d(3)]["max"]) == (1, 3)
    assert (rows[d(4)]["min"], rows[d(4)]["max"]) == (1, 1)
    assert (rows[d(3)]["seat_limit"], rows[d(3)]["hard_limit"]) == (2, 3)
    too_long = requests.get(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/seat-history",
        params={"days": 91},
        headers=vendor(stack),
        timeout=30,
    )
    assert too_long.status_code == 422


def test_the_activity_log_is_newest_first_filtered_and_paged(stack: Stack) -> None:
    org_id = new_org("activity")
    key = create_key(stack, org_id)
    plan = create_plan(
        stack, org_id, type="seats", product="learn", amount=1, enforcement="hard", start="2026-10-01T00:00:00Z"
    )
    send(
        stack,
        key,
        [
            login(
                "a1", "ann", "2026-10-02T08:00:00Z", ip="10.0.0.1", instance_id="eu-1", properties={"instance_id": "x"}
            ),
            login("a2", "bob", "2026-10-03T08:00:00Z", ip="10.0.0.2"),
            {
                "id": "a3",
                "type": "feature.used",
                "timestamp": "2026-10-04T08:00:00Z",
                "user_id": "ann",
                "feature": "export",
                "product": "learn",
            },
            {
                "id": "a4",
                "type": "license.refresh",
                "timestamp": "2026-10-05T08:00:00Z",
                "user_id": "ann",
                "product": "learn",
            },
            {"id": "a5", "type": "user.deactivated", "timestamp": "2026-10-06T08:00:00Z", "user_id": "ann"},
            login("a6", "zed", "2026-10-06T09:00:00Z", product="observe"),
        ],
    )
    url = f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/activity"
    headers = bearer(stack, "reporter", org_id)
    entries, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "from": "2026-10-01", "to": "2026-10-31"}
        if cursor:
            params["cursor"] = cursor
        page = requests.get(url, params=params, headers=headers, timeout=30).json()
        entries += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    kinds = [(e["type"], e["user_id"]) for e in entries]
    assert kinds == [
        ("seat.released", "ann"),
        ("user.deactivated", "ann"),
        ("license.refresh", "ann"),
        ("feature.used", "ann"),
        ("seat.denied", "bob"),
        ("user.login", "bob"),
        ("seat.claimed", "ann"),
        ("user.login", "ann"),
    ]
    first_login = entries[-1]
    assert (first_login["ip"], first_login["instance_id"], first_login["product"]) == ("10.0.0.1", "eu-1", "learn")
    assert entries[1 - 1]["details"]["plan_id"] == plan["plan_id"]
    assert entries[4]["details"]["reason"] == "hard_limit"
    assert entries[5]["instance_id"] is None  # SPEC §4: the event's own instance_id, no guess
    assert entries[-1]["details"] == {"instance_id": "x"}  # properties are shown as they were sent
    only_logins = requests.get(
        url, params={"type": "user.login", "to": "2026-10-02"}, headers=headers, timeout=30
    ).json()["items"]
    assert [(e["type"], e["user_id"]) for e in only_logins] == [("user.login", "ann")]
    assert requests.get(url, params={"type": "user.teleported"}, headers=headers, timeout=30).status_code == 422


def test_the_users_directory_shows_lifecycle_events_at_once_and_the_rollup_writes_it(stack: Stack) -> None:
    org_id = new_org("directory")
    key = create_key(stack, org_id)
    plan = create_plan(stack, org_id, type="mau", product="learn", amount=5, start="2026-10-01T00:00:00Z")
    send(
        stack,
        key,
        [
            ev("r1", "user.created", "2026-10-02T08:00:00Z", user_id="ann", roles=["coach"], group="north"),
            login("r2", "ann", "2026-10-02T09:00:00Z"),
        ],
    )
    directory_key = {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": "USER#ann"}}
    licensing = stack.env["LICENSING_TABLE"]
    url = f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/users"
    # Ingest stores the events only; the list reads the lifecycle events of days waiting for a rollup.
    assert "Item" not in stack.client("dynamodb").get_item(TableName=licensing, Key=directory_key)
    waiting = requests.get(url, headers=vendor(stack), timeout=30).json()["items"][0]
    assert (waiting["status"], waiting["roles"], waiting["group"]) == ("active", ["coach"], "north")

    assert roll_up(stack)["directory_entries_written"] >= 1  # every organization of the stack
    assert "Item" in stack.client("dynamodb").get_item(TableName=licensing, Key=directory_key)
    send(stack, key, [ev("r3", "user.deactivated", "2026-10-03T08:00:00Z", user_id="ann")])
    user = requests.get(url, headers=vendor(stack), timeout=30).json()["items"][0]
    assert (user["status"], user["roles"], user["group"]) == ("deactivated", ["coach"], "north")
    assert roll_up(stack)["directory_entries_written"] >= 1  # every organization of the stack
    assert requests.get(url, headers=vendor(stack), timeout=30).json()["items"][0] == user


def test_named_timeframes_read_what_the_rollup_precomputed_and_match_the_same_custom_window(
    stack: Stack, reported_org: str
) -> None:
    roll_up(stack)
    named = report(stack, reported_org, timeframe="this_year")
    item = stack.client("dynamodb").get_item(
        TableName=stack.env["LICENSING_TABLE"], Key={"pk": {"S": f"REPORT#{reported_org}"}, "sk": {"S": "this_year"}}
    )["Item"]
    assert (item["first"]["S"], item["last"]["S"]) == (named["timeframe"]["from"], named["timeframe"]["to"])
    custom = report(
        stack, reported_org, timeframe="custom", **{"from": named["timeframe"]["from"], "to": named["timeframe"]["to"]}
    )
    for section in ("ai_actions", "user_activity", "roles_distribution", "consumption_by_group"):
        assert named[section] == custom[section]
    assert named["ai_actions"]["by_type"]["quality_check"] >= 3


def test_sessions_count_a_session_id_once_instances_are_distinct_per_week_and_plans_have_peak_and_average(
    stack: Stack,
) -> None:
    org_id = new_org("metrics")
    key = create_key(stack, org_id)
    seats = create_plan(stack, org_id, type="seats", product="learn", amount=5, start="2026-09-15T12:00:00Z")
    mau = create_plan(stack, org_id, type="mau", product="observe", amount=5, start="2026-09-15T12:00:00Z")
    events = [
        # Week of 12 October: one session across two logins, a login without session, two instances.
        login("s1", "ann", "2026-10-13T08:00:00Z", session_id="sess-a", instance_id="dev-1"),
        login("s2", "ann", "2026-10-13T09:00:00Z", session_id="sess-a", instance_id="dev-1"),
        login("s3", "bob", "2026-10-14T09:00:00Z", instance_id="dev-2"),
        ev(
            "f1",
            "feature.used",
            "2026-10-14T10:00:00Z",
            user_id="bob",
            feature="x",
            instance_id="dev-3",
            product="learn",
        ),
        # Week of 19 October: dev-1 again (distinct within each week), the session goes on.
        login("s4", "ann", "2026-10-19T08:00:00Z", session_id="sess-a", instance_id="dev-1"),
        login("s5", "cat", "2026-10-20T08:00:00Z", session_id="sess-c"),
        {"id": "off", "type": "user.deactivated", "timestamp": "2026-10-21T08:00:00Z", "user_id": "bob"},
        # mau: 1 active user in September (from the 15th), 2 in October.
        login("m1", "ann", "2026-09-20T08:00:00Z", product="observe"),
        login("m2", "ann", "2026-10-02T08:00:00Z", product="observe"),
        login("m3", "bob", "2026-10-03T08:00:00Z", product="observe"),
    ]
    assert send(stack, key, events).json()["accepted"] == len(events)
    roll_up(stack)
    body = report(stack, org_id, timeframe="custom", **{"from": "2026-10-12", "to": "2026-10-25"})
    totals = body["user_activity"]["totals"]
    assert (totals["active_users"], totals["sessions"], totals["instances"]) == (3, 3, 3)  # sess-a, bob's, sess-c
    weekly = {week["week_start"]: week for week in body["user_activity"]["weekly"]}
    assert (weekly["2026-10-12"]["sessions"], weekly["2026-10-12"]["instances"]) == (2, 3)
    assert (weekly["2026-10-19"]["sessions"], weekly["2026-10-19"]["instances"]) == (2, 1)
    plans = {plan["plan_id"]: plan for plan in body["license_usage"]["plans"]}
    assert (plans[seats["plan_id"]]["peak"], plans[seats["plan_id"]]["consumed"]) == (3, 2)
    assert plans[seats["plan_id"]]["monthly_average"] == 3.0
    # A window from mid-September: mau months September (1) and October (2).
    wider = report(stack, org_id, timeframe="custom", **{"from": "2026-09-16", "to": "2026-10-31"})
    mau_row = next(plan for plan in wider["license_usage"]["plans"] if plan["plan_id"] == mau["plan_id"])
    assert (mau_row["peak"], mau_row["monthly_average"]) == (2, 1.5)
    seats_row = next(plan for plan in wider["license_usage"]["plans"] if plan["plan_id"] == seats["plan_id"])
    assert (seats_row["peak"], seats_row["monthly_average"]) == (3, 1.5)  # September 0, October 3
    # this_quarter reads what the rollup precomputed; the same dates as a custom window add days up.
    quarter = report(stack, org_id, timeframe="this_quarter")
    dates = {"from": quarter["timeframe"]["from"], "to": quarter["timeframe"]["to"]}
    same = report(stack, org_id, timeframe="custom", **dates)
    for section in ("user_activity", "license_usage", "ai_actions", "consumption_by_group"):
        assert quarter[section] == same[section], section
    if dates["from"] <= "2026-10-12" and dates["to"] >= "2026-10-25":  # the quarter holds the scenario
        assert quarter["user_activity"]["totals"]["sessions"] == 5  # and the two observe logins of October


def test_combined_counts_users_on_plans_of_two_or_more_products_at_the_windows_end(stack: Stack) -> None:
    org_id = new_org("combined")
    key = create_key(stack, org_id)
    start = "2026-09-01T00:00:00Z"
    create_plan(stack, org_id, type="seats", product="learn", amount=10, start=start)
    create_plan(stack, org_id, type="mau", product="observe", amount=10, start=start)
    create_plan(stack, org_id, type="mauc", product="coach", amount=10, start=start)
    events = [
        login("a1", "ann", "2026-10-02T08:00:00Z", product="learn"),
        login("a2", "ann", "2026-10-03T08:00:00Z", product="observe"),
        login("b1", "bob", "2026-10-02T09:00:00Z", product="learn"),
        login("b2", "bob", "2026-10-04T09:00:00Z", product="observe"),
        login("b3", "bob", "2026-10-05T09:00:00Z", product="coach"),
        login("c1", "cat", "2026-10-05T09:00:00Z", product="learn"),
        login("c2", "cat", "2026-09-20T09:00:00Z", product="observe"),  # September: not active in October
        {"id": "off", "type": "user.deactivated", "timestamp": "2026-10-20T00:00:00Z", "user_id": "ann"},
    ]
    send(stack, key, events)
    roll_up(stack)
    mid = report(stack, org_id, timeframe="custom", **{"from": "2026-10-01", "to": "2026-10-15"})
    assert mid["license_usage"]["combined"] == [
        {"products": ["coach", "learn", "observe"], "users": 1},  # bob
        {"products": ["learn", "observe"], "users": 1},  # ann (cat was active on observe in September)
    ]
    late = report(stack, org_id, timeframe="custom", **{"from": "2026-10-01", "to": "2026-10-25"})
    assert late["license_usage"]["combined"] == [{"products": ["coach", "learn", "observe"], "users": 1}]
