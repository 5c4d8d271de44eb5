"""Ingest and the daily rollup with every field at its byte limit (issue 20): random batches of
events whose every field is as long as the API takes it (checked by the API's own reading of an
event), sent late, out of order and partly twice through ``record_events`` with plans of every kind
in place (a seats plan, a hard-limited one, one that assigns by role, mau and mauc), then rolled up
by ``run_daily_rollup``, against DynamoDB Local. Nothing raises, nothing is refused or quarantined,
every plan user's item stays under its bound, and the figures are those of a small reference that
reads the events in time order."""

from __future__ import annotations

import random
import string
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from license_usage.domain.events import UsageEvent
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.domain.timestamps import format_utc
from tests.store.test_bounded_items import WIDE, item_bytes, partition_items
from usage_local.dynamodb_local import LocalDynamoDB

NOW = datetime.now(UTC).replace(microsecond=0)
SEATS, ROLES, HARD = "s" * 64, "r" * 64, "h" * 64  # products: 64 characters, the longest
RELEASES = ("user.deactivated", "user.deleted")


def wide(rng: random.Random, chars: int) -> str:
    return "".join(rng.choice(WIDE) for _ in range(chars))


def new_plan(org_id: str, plan_type: PlanType, product: str, **terms: Any) -> Plan:
    from license_usage.domain.access import Principal, Role
    from license_usage.store.plans import save_new_plan

    plan = Plan(
        plan_id=f"pln_{uuid.uuid4().hex[:16]}",
        org_id=org_id,
        type=plan_type,
        product=product,
        start=NOW - timedelta(days=20),
        end=NOW + timedelta(days=300),
        **{"amount": 1000, **terms},
    )
    save_new_plan(plan, 0, Principal(Role.VENDOR_ADMIN, None, "tester"), NOW)
    return plan


def raw_events(rng: random.Random, coach: str) -> list[dict[str, Any]]:
    """Events as a client sends them, every field at the API's byte limit: user ids, groups, goals
    and features of 128 characters of 4 bytes (512 bytes), 50 roles of 32 such characters (128
    bytes), instance and session ids of 64 (256 bytes), event ids of 128 characters, products of
    64, an IPv6 address with a scope of 64 bytes, properties of about 4 KB; a few users so that
    each has many events, over two days."""
    from license_usage.domain.events import EVENT_TYPES

    users = [wide(rng, 128) for _ in range(5)]
    groups = [wide(rng, 128) for _ in range(3)]
    id_chars = string.ascii_letters + string.digits + "._:-"
    events = []
    for index in range(160):
        kind = rng.choice([*sorted(EVENT_TYPES), *["user.login"] * 8, *["user.roles_changed"] * 3, *RELEASES])
        roles = None
        if kind in ("user.created", "user.roles_changed"):
            roles = [f"{n:02d}" + wide(rng, 30) for n in range(49)]
            roles.append(coach if rng.random() < 0.6 else wide(rng, 32))
        at = NOW - timedelta(
            hours=1 + rng.randrange(40), seconds=rng.randrange(3600), microseconds=rng.randrange(10**6)
        )
        event: dict[str, Any] = {
            "id": f"{index:03d}" + "".join(rng.choice(id_chars) for _ in range(125)),
            "type": kind,
            "timestamp": format_utc(at),
            "user_id": rng.choice(users),
            "group": rng.choice(groups),
            "instance_id": wide(rng, 64),
            "session_id": wide(rng, 64),
            "feature": wide(rng, 128),
            "goal_id": wide(rng, 128),
            "ip": "fe80::1234:5678:9abc:def0%" + "s" * 38,
            "properties": {"note": "v" * 4000},
        }
        if kind == "user.login":
            event["product"] = rng.choice([SEATS, SEATS, ROLES, HARD])
        if roles is not None:
            event["roles"] = roles
        if kind.startswith("ai.suggest_goal"):
            event["quantity"] = 1_000_000
        events.append(event)
    return events


def accepted(org_id: str, raw: list[dict[str, Any]]) -> list[UsageEvent]:
    """The API's own reading of each event: every one of them is taken as it is."""
    from license_usage.api.routers.events import accept_or_reject

    events = [accept_or_reject(index, item, org_id, "key_0123456789abcdef", NOW) for index, item in enumerate(raw)]
    assert all(isinstance(event, UsageEvent) for event in events), [e for e in events if not isinstance(e, UsageEvent)]
    return [event for event in events if isinstance(event, UsageEvent)]


# ---------------------------------------------------------------------- the reference, in time order


def seat_holders(events: list[UsageEvent], product: str) -> tuple[set[str], dict[str, int], dict[str, int]]:
    """SPEC §2 seats: users holding a seat at the end, and seats taken and released per day."""
    held: dict[str, bool] = defaultdict(bool)
    taken: dict[str, int] = defaultdict(int)
    released: dict[str, int] = defaultdict(int)
    for event in sorted(events, key=lambda e: e.order_key):
        user = str(event.user_id)
        if event.type == "user.login" and event.product == product and not held[user]:
            held[user] = True
            taken[event.day] += 1
        elif event.type in RELEASES and held[user]:
            held[user] = False
            released[event.day] += 1
    return {user for user, holds in held.items() if holds}, dict(taken), dict(released)


def role_holders(events: list[UsageEvent], role: str) -> set[str]:
    """SPEC §2 by role: a role event giving the role takes the seat, one without it or a release frees it."""
    held: dict[str, bool] = defaultdict(bool)
    for event in sorted(events, key=lambda e: e.order_key):
        if event.type in ("user.created", "user.roles_changed"):
            held[str(event.user_id)] = role in (event.roles or ())
        elif event.type in RELEASES:
            held[str(event.user_id)] = False
    return {user for user, holds in held.items() if holds}


def active_users(events: list[UsageEvent], product: str) -> dict[str, int]:
    """SPEC §2 mau and mauc: users with a login of the product, per calendar month."""
    months: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.type == "user.login" and event.product == product:
            months[event.timestamp.strftime("%Y-%m")].add(str(event.user_id))
    return {month: len(users) for month, users in months.items()}


@pytest.mark.parametrize("seed", [30, 31, 32])
def test_events_at_every_fields_limit_are_counted_and_rolled_up_exactly_through_ingest(
    dynamodb: LocalDynamoDB, seed: int
) -> None:
    from license_usage.domain.plan_user import plan_user_item_bytes_bound
    from license_usage.store.dirty_days import dirty_days_of
    from license_usage.store.keys import plan_shard_partitions
    from license_usage.store.plan_users import all_plan_users, seats_in_use
    from license_usage.store.plans import plan_counters
    from license_usage.store.ports import dynamo_ports
    from license_usage.usecases.record_events import record_events
    from license_usage.usecases.rollups import run_daily_rollup

    rng = random.Random(seed)
    org_id = f"limits-{seed}-{uuid.uuid4().hex[:8]}"
    coach = wide(rng, 32)  # a role of 128 bytes, the one the role plan assigns
    seats = new_plan(org_id, PlanType.SEATS, SEATS)
    by_role = new_plan(org_id, PlanType.SEATS, ROLES, assign_roles=(coach,))
    hard = new_plan(org_id, PlanType.SEATS, HARD, amount=2, enforcement=Enforcement.HARD)
    mau = new_plan(org_id, PlanType.MAU, SEATS)
    mauc = new_plan(org_id, PlanType.MAUC, SEATS)
    events = accepted(org_id, raw_events(rng, coach))

    ports = dynamo_ports()
    arrival = events[:]
    rng.shuffle(arrival)  # late and out of order, in batches of any size, some sent twice
    sent = 0
    while sent < len(arrival):
        size = rng.randint(1, 60)
        batch = arrival[sent : sent + size]
        recorded = record_events(ports, org_id, list(enumerate(batch)), NOW)
        assert recorded.refused == []
        assert recorded.accepted == len(batch)
        if rng.random() < 0.3:
            again = record_events(ports, org_id, list(enumerate(batch)), NOW)
            assert (again.accepted, again.duplicates) == (0, len(batch))
        sent += size

    # Counted at ingest, exactly as in time order.
    holders, taken, released = seat_holders(events, SEATS)
    assert {u.user_id for u in all_plan_users(seats.plan_id) if u.holds_seat} == holders
    assert seats_in_use(seats.plan_id) == len(holders)
    days = plan_counters(seats).days
    assert {day: counts.seats_taken for day, counts in days.items() if counts.seats_taken} == taken
    assert {day: counts.seats_released for day, counts in days.items() if counts.seats_released} == released
    role_held = {u.user_id for u in all_plan_users(by_role.plan_id) if u.holds_seat}
    assert role_held == role_holders(events, coach)
    assert seats_in_use(by_role.plan_id) == len(role_held)
    hard_held = [u.user_id for u in all_plan_users(hard.plan_id) if u.holds_seat]
    assert seats_in_use(hard.plan_id) == len(hard_held) <= 2
    for plan in (mau, mauc):
        months = plan_counters(plan).months
        assert {m: c.active_users for m, c in months.items() if c.active_users} == active_users(events, SEATS)

    # The daily rollup takes every day of the organization, and settles the last logins.
    report = run_daily_rollup(NOW)
    assert [label for label in [*report.quarantined, *report.retry_later] if label.startswith(org_id)] == []
    assert dirty_days_of(org_id) == []
    latest: dict[tuple[str, str], str] = {}
    for event in events:
        if event.type == "user.login" and event.product == SEATS:
            for plan in (seats, mau, mauc):
                key = (plan.plan_id, str(event.user_id))
                latest[key] = max(latest.get(key, ""), event.order_key)
    for plan in (seats, mau, mauc):
        for user in all_plan_users(plan.plan_id):
            assert user.last_login == latest.get((plan.plan_id, user.user_id)), plan.type

    # Every plan user's item under its bound.
    for plan in (seats, by_role, hard, mau, mauc):
        items = [item for p in plan_shard_partitions(plan.plan_id) for item in partition_items(dynamodb, p)]
        users = [item for item in items if item["sk"]["S"].startswith("USER#")]
        assert users
        assert max(item_bytes(item) for item in users) <= plan_user_item_bytes_bound()
