"""Issue 20 through the local stack: what an earlier version stored in one organization's events (a
user id and a group of 256 emoji, 150 role changes of 50 long roles for one user) next to another
organization's events. The real ``DailyRollupFunction`` rolls both up and refreshes the vendor's
index; what it cannot do (an event item no version of the API writes) is quarantined with its
reason, alarmed through its metric, and blocks neither the organization's other days, nor other
organizations, nor the index; repairing the item and running again releases it."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Api
from tests.support import Stack, create_key, create_plan, invoke_process, iso, login, new_org, send

EMOJI_USER = "\U0001f600" * 256  # 256 characters, 1,024 bytes
EMOJI_GROUP = "\U0001f47e" * 256
WIDE = [chr(code) for code in range(0x1F300, 0x1F5FF)]


def _put_event(stack: Stack, org_id: str, event_id: str, event_type: str, at: datetime, **fields: Any) -> None:
    """One event item as the ingest of an earlier version stored it (the table's own model)."""
    from license_usage.domain.events import DIRECTORY_EVENT_TYPES, RAW_EVENT_RETENTION
    from license_usage.domain.timestamps import format_utc
    from license_usage.store.keys import day_partition, directory_day_partition, event_key
    from license_usage.store.tables import EventRecord

    day = at.date().isoformat()
    partition = (
        directory_day_partition(org_id, day)
        if event_type in DIRECTORY_EVENT_TYPES
        else day_partition(org_id, day, event_id)
    )
    record = EventRecord(
        event_key(org_id, event_id),
        day=partition,
        at=fields.pop("order_key", None) or f"{format_utc(at)}#{event_id}",
        org_id=org_id,
        event_id=event_id,
        type=event_type,
        timestamp=format_utc(at),
        received_at=format_utc(at),
        expires_at=at + RAW_EVENT_RETENTION,
        **fields,
    )
    stack.client("dynamodb").put_item(TableName=stack.env["EVENTS_TABLE"], Item=record.serialize())


def _mark_dirty(stack: Stack, org_id: str, day: str) -> None:
    """The dirty-day mark that ingest writes after storing a day's events."""
    from license_usage.store.keys import dirty_day_key

    pk, sk = dirty_day_key(org_id, day)
    stack.client("dynamodb").put_item(
        TableName=stack.env["LICENSING_TABLE"],
        Item={
            "pk": {"S": pk},
            "sk": {"S": sk},
            "org_id": {"S": org_id},
            "day": {"S": day},
            "marks": {"N": "1"},
            "marked_at": {"S": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
        },
    )


def _run(stack: Stack, at: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One ``DailyRollupFunction`` run at ``at``: its result (it must succeed) and its JSON log lines."""
    done = invoke_process(stack, "DailyRollupFunction", at)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = []
    for line in done.stderr.splitlines():
        start = line.find("{")
        if start >= 0:
            try:
                lines.append(json.loads(line[start:]))
            except ValueError:
                continue
    result: dict[str, Any] = json.loads(done.stdout)
    return result, lines


def _metric(lines: list[dict[str, Any]], name: str) -> list[float]:
    """The values of one EMF metric among the log lines."""
    found: list[float] = []
    for line in lines:
        if "_aws" in line and any(m["Name"] == name for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]):
            value = line[name]
            found += [float(v) for v in value] if isinstance(value, list) else [float(value)]
    return found


def _report(api: Api, org_id: str, first: str, last: str) -> dict[str, Any]:
    answer = api.get(
        f"/v1/orgs/{org_id}/reports/license-ai-usage",
        role="org_admin",
        org_id=org_id,
        params={"timeframe": "custom", "from": first, "to": last},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _index_as_of(api: Api) -> str | None:
    answer = api.get("/v1/insights", role="vendor_admin")
    assert answer.status_code == 200, answer.text
    as_of: str | None = answer.json()["data_as_of"]
    return as_of


def _quarantine_item(stack: Stack, org_id: str, scope: str) -> dict[str, Any] | None:
    from license_usage.store.keys import quarantine_key

    pk, sk = quarantine_key(org_id, scope)
    item: dict[str, Any] | None = (
        stack.client("dynamodb")
        .get_item(TableName=stack.env["LICENSING_TABLE"], Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        .get("Item")
    )
    return item


def _day_of(instant: datetime) -> str:
    return instant.date().isoformat()


def test_events_an_earlier_version_stored_roll_up_beside_another_organization_and_the_index_refreshes(
    stack: Stack, api: Api
) -> None:
    poisoned, healthy = new_org("poisoned"), new_org("healthy")
    key_poisoned, key_healthy = create_key(stack, poisoned), create_key(stack, healthy)
    create_plan(stack, healthy, type="seats", product="learn", amount=5, start="2026-01-01T00:00:00Z")
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    day = _day_of(when)
    assert send(stack, key_healthy, [login("h1", "bob", iso(when), group="north")]).status_code == 200
    assert send(stack, key_poisoned, [login("p1", "ann", iso(when), group="west")]).status_code == 200

    rng = random.Random(20)
    _put_event(stack, poisoned, "u1", "user.created", when, user_id=EMOJI_USER, roles=["learner"])
    _put_event(stack, poisoned, "u2", "user.login", when, user_id=EMOJI_USER, product="learn", group="west")
    _put_event(stack, poisoned, "g1", "user.login", when, user_id="carl", product="learn", group=EMOJI_GROUP)
    _put_event(stack, poisoned, "d0", "user.created", when - timedelta(minutes=5), user_id="dana", roles=["coach"])
    for index in range(150):  # one user's directory item would outgrow 400 KB
        roles = [f"{index:03d}{role:02d}" + "".join(rng.choice(WIDE) for _ in range(59)) for role in range(50)]
        at = when + timedelta(seconds=index)
        _put_event(stack, poisoned, f"r{index:03d}", "user.roles_changed", at, user_id="dana", roles=roles)
    _mark_dirty(stack, poisoned, day)

    at = datetime.now(UTC).replace(microsecond=0)
    result, lines = _run(stack, at)
    assert {f"{poisoned}/{day}", f"{healthy}/{day}"} <= set(result["days_rolled_up"])
    assert [label for label in result["quarantined"] if label.startswith((poisoned, healthy))] == []
    assert _index_as_of(api) == iso(at)  # the vendor's index was refreshed by this very run
    assert _metric(lines, "RollupQuarantined") == [len(result["quarantined"])]

    report = _report(api, poisoned, day, day)
    assert report["freshness"] == "current"
    assert report["user_activity"]["totals"]["active_users"] == 3  # ann, the emoji user, carl
    groups = {row["group"]: row["active_users"] for row in report["consumption_by_group"]}
    assert groups == {"west": 2, EMOJI_GROUP: 1}
    last_roles = [f"149{role:02d}" for role in range(50)]
    assert sorted(role[:5] for role in report["roles_distribution"] if role != "learner") == last_roles
    assert report["roles_distribution"]["learner"] == 1
    assert _report(api, healthy, day, day)["user_activity"]["totals"]["active_users"] == 1


def test_a_day_that_cannot_be_rolled_up_is_quarantined_alone_and_a_rerun_after_the_repair_releases_it(
    stack: Stack, api: Api
) -> None:
    org_id, other = new_org("quarantined"), new_org("beside")
    key, other_key = create_key(stack, org_id), create_key(stack, other)
    plan = create_plan(stack, org_id, type="seats", product="learn", amount=5, start="2026-01-01T00:00:00Z")
    now = datetime.now(UTC).replace(microsecond=0)
    good, bad = now - timedelta(hours=1), now - timedelta(days=3)
    good_day, bad_day = _day_of(good), _day_of(bad)
    events = [login("q1", "ann", iso(good)), login("q2", "bob", iso(bad))]
    assert send(stack, key, events).status_code == 200
    assert send(stack, other_key, [login("o1", "cy", iso(good))]).status_code == 200
    # A seat entry whose properties are not JSON: no version writes it; the day cannot be read.
    broken: dict[str, Any] = {"user_id": "dee", "product": "learn", "order_key": f"{iso(bad)[:-1]}.000000Z#x#sys"}
    _put_event(stack, org_id, "sys.seat.claimed.broken", "seat.claimed", bad, **broken)
    _break_properties(stack, org_id, "sys.seat.claimed.broken", "{not json")

    at = datetime.now(UTC).replace(microsecond=0)
    result, lines = _run(stack, at)  # the run succeeds
    label = f"{org_id}/{bad_day}"
    assert label in result["quarantined"]
    assert f"{org_id}/{good_day}" in result["days_rolled_up"]  # its other day
    assert f"{other}/{good_day}" in result["days_rolled_up"]  # another organization
    assert _index_as_of(api) == iso(at)
    assert _metric(lines, "RollupQuarantined") == [len(result["quarantined"])]
    assert any(line.get("message") == "rollup quarantined" and line.get("org_id") == org_id for line in lines)
    item = _quarantine_item(stack, org_id, bad_day)
    assert item is not None
    assert item["reason"]["S"].startswith("day: JSONDecodeError"), item["reason"]
    assert item["attempts"]["N"] == "1"
    # Its reports say what waits: the window with the day aggregates, the other is current.
    assert _report(api, org_id, bad_day, good_day)["freshness"] == "aggregating"
    assert _report(api, org_id, good_day, good_day)["freshness"] == "current"

    again, _ = _run(stack, datetime.now(UTC).replace(microsecond=0))  # not repaired: tried again
    assert label in again["quarantined"]
    item = _quarantine_item(stack, org_id, bad_day)
    assert item is not None
    assert item["attempts"]["N"] == "2"

    _break_properties(stack, org_id, "sys.seat.claimed.broken", json.dumps({"plan_id": plan["plan_id"]}))
    fixed, lines = _run(stack, datetime.now(UTC).replace(microsecond=0))
    assert label in fixed["released"]
    assert label not in fixed["quarantined"]
    assert f"{org_id}/{bad_day}" in fixed["days_rolled_up"]
    assert _quarantine_item(stack, org_id, bad_day) is None
    assert _metric(lines, "RollupQuarantined") == [len(fixed["quarantined"])]
    repaired = _report(api, org_id, bad_day, good_day)
    assert repaired["freshness"] == "current"
    assert repaired["user_activity"]["totals"]["active_users"] == 2  # bob's day counts now


def _break_properties(stack: Stack, org_id: str, event_id: str, text: str) -> None:
    """Set an event item's stored ``properties`` text as it is (an operator's repair, or the damage)."""
    from license_usage.store.keys import event_key

    stack.client("dynamodb").update_item(
        TableName=stack.env["EVENTS_TABLE"],
        Key={"pk": {"S": event_key(org_id, event_id)}},
        UpdateExpression="SET properties = :p",
        ExpressionAttributeValues={":p": {"S": text}},
    )
