"""A plan user's item stays bounded whatever the user does (issue 20): thousands of refusals by a
hard limit, refusals of API claims by callers with the longest subject a token holds, thousands of
role changes arriving late and out of order. Each goes through the store's load and commit, as
counting calls them (load, decide, commit conditioned on the version, decide again on a failed
condition), against DynamoDB Local; the user's item and the parts of their marks are measured as
DynamoDB counts them against the bounds computed from their fields' limits, and the figures are
those of a reference that reads the same events in time order. A resend changes nothing."""

from __future__ import annotations

import random
import string
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from license_usage.domain.plan_user import Action, ActionKind, PlanUser
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.domain.timestamps import format_utc
from tests.store.test_bounded_items import WIDE, item_bytes, partition_items
from usage_local.dynamodb_local import LocalDynamoDB

NOW = datetime.now(UTC).replace(microsecond=0)
BATCH = 500  # a user's state is read again after so many actions, as a new request would
ITEM_LIMIT = 400 * 1024


def new_plan(**terms: Any) -> Plan:
    from license_usage.domain.access import Principal, Role
    from license_usage.store.plans import save_new_plan

    plan = Plan(
        plan_id=f"pln_{uuid.uuid4().hex[:16]}",
        org_id=f"bounds-{uuid.uuid4().hex[:10]}",
        type=PlanType.SEATS,
        product="learn",
        start=NOW - timedelta(days=30),
        end=NOW + timedelta(days=300),
        **{"amount": 1, **terms},
    )
    save_new_plan(plan, 0, Principal(Role.VENDOR_ADMIN, None, "tester"), NOW)
    return plan


def long_user(rng: random.Random) -> str:
    return "".join(rng.choice(WIDE) for _ in range(128))  # 512 bytes: the longest id the API takes


def order_key(at: datetime, index: int) -> str:
    alphabet = string.ascii_letters + string.digits
    event_id = f"{index:06d}-" + "".join(random.Random(index).choice(alphabet) for _ in range(121))  # 128
    return f"{format_utc(at)}#{event_id}"


def count(plan: Plan, user_id: str, actions: list[Action]) -> PlanUser:
    """One user's actions in arrival order, as counting does: read the user (again every
    ``BATCH``), decide, commit conditioned on the version; a hard limit's failed condition is
    decided again as a refusal."""
    from license_usage.store.plan_users import CommitOutcome, commit, load_plan_users

    key = (plan.plan_id, user_id)
    user = PlanUser(plan.plan_id, user_id)
    for index, action in enumerate(actions):
        if index % BATCH == 0:
            user = load_plan_users([key])[key]
        change = user.apply(plan, action)
        if change.is_empty:
            user = change.after
            continue
        outcome = commit(plan, change, NOW)
        if outcome is CommitOutcome.SEAT_LIMIT:
            change = user.apply(plan, action, seat_free=False)
            outcome = commit(plan, change, NOW)
        assert outcome is CommitOutcome.COMMITTED
        user = replace(change.after, version=user.version + 1)
    return user


def stored_items(dynamodb: LocalDynamoDB, plan: Plan, user_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The user's item and the parts of their marks, as DynamoDB stores them."""
    from license_usage.store.keys import plan_user_key, plan_user_parts_prefix

    partition, sort_key = plan_user_key(plan.plan_id, user_id)
    items = partition_items(dynamodb, partition)
    [item] = [i for i in items if i["sk"]["S"] == sort_key]
    parts = [i for i in items if i["sk"]["S"].startswith(plan_user_parts_prefix(user_id))]
    return item, parts


def assert_bounded(item: dict[str, Any], parts: list[dict[str, Any]]) -> int:
    """Every item under its bound; returns how many bytes the user's marks take in all."""
    from license_usage.domain.plan_user import plan_user_item_bytes_bound, plan_user_part_bytes_bound

    assert plan_user_item_bytes_bound() < ITEM_LIMIT
    assert plan_user_part_bytes_bound() < ITEM_LIMIT
    assert item_bytes(item) <= plan_user_item_bytes_bound()
    assert all(item_bytes(part) <= plan_user_part_bytes_bound() for part in parts)
    return sum(len(i["marks"]["S"]) for i in [item, *parts])


def test_a_user_refused_thousands_of_times_by_a_hard_limit_keeps_bounded_items_and_exact_figures(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.domain.plan_user import MAX_SUBJECT_BYTES, MarkKind
    from license_usage.store.plan_users import load_plan_user, load_plan_users, seats_in_use

    rng = random.Random(1200)
    plan = new_plan(enforcement=Enforcement.HARD)
    holder, refused = "holder", long_user(rng)
    first_at = NOW - timedelta(days=20)
    count(plan, holder, [Action(order_key(first_at, 0), ActionKind.LOGIN)])
    logins = [
        Action(order_key(first_at + timedelta(seconds=index * 613), index), ActionKind.LOGIN)
        for index in range(1, 1201)
    ]
    # Org admins whose tokens carry the longest subject claim seats for the user: each refusal is a
    # mark of about 18 KB.
    subject = "".join(rng.choice(WIDE) for _ in range(MAX_SUBJECT_BYTES // 4))
    claims = [
        Action(
            f"{format_utc(NOW - timedelta(minutes=n))}#api.{uuid.uuid4().hex}", ActionKind.CLAIM, f"org_admin:{subject}"
        )
        for n in range(12)
    ]
    arrival = logins + claims
    rng.shuffle(arrival)  # late and out of order
    count(plan, refused, arrival)

    item, parts = stored_items(dynamodb, plan, refused)
    assert assert_bounded(item, parts) > ITEM_LIMIT  # one item could not have held them
    assert len(parts) > 5
    user = load_plan_user(plan.plan_id, refused)
    assert [m.kind for m in user.marks] == [MarkKind.DENIED] * len(arrival)
    assert {m.order_key for m in user.marks} == {a.order_key for a in arrival}
    assert not user.holds_seat
    assert user.first_login == logins[0].order_key  # a refused login is a login (users list)
    assert seats_in_use(plan.plan_id) == 1
    assert load_plan_users([(plan.plan_id, refused)])[(plan.plan_id, refused)].marks == user.marks

    # A resend of every action, the oldest first (in the first parts by now), changes nothing.
    count(plan, refused, sorted(arrival))
    assert load_plan_user(plan.plan_id, refused).version == user.version
    assert stored_items(dynamodb, plan, refused) == (item, parts)


def role_event(rng: random.Random, at: datetime, index: int) -> tuple[Action, bool]:
    """A ``user.roles_changed`` with roles that hold the plan's role or not."""
    gains = rng.random() < 0.5
    return Action(order_key(at, index), ActionKind.ROLE_GAIN if gains else ActionKind.ROLE_LOSS), gains


def reference_roles(changes: list[Action]) -> tuple[Counter[tuple[str, str]], bool]:
    """SPEC §2 for a plan that assigns by role, over the events in time order: the seats taken and
    released per day, and whether the seat is held at the end."""
    days: Counter[tuple[str, str]] = Counter()
    held = False
    for action in sorted(changes):
        gains = action.kind is ActionKind.ROLE_GAIN
        if gains and not held:
            days[(action.order_key[:10], "seats_taken")] += 1
        elif not gains and held:
            days[(action.order_key[:10], "seats_released")] += 1
        held = gains
    return days, held


def test_a_user_with_thousands_of_role_changes_out_of_order_keeps_bounded_items_and_exact_figures(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.store.plan_users import load_plan_user, seats_in_use
    from license_usage.store.plans import plan_counters

    rng = random.Random(2300)
    plan = new_plan(assign_roles=("coach",), amount=5)
    user_id = long_user(rng)
    start = NOW - timedelta(days=25)
    changes = [role_event(rng, start + timedelta(seconds=i * 900 + rng.randrange(600)), i)[0] for i in range(2300)]
    newer, older = changes[len(changes) // 2 :], changes[: len(changes) // 2]
    rng.shuffle(older)
    for first in range(0, len(newer), 50):  # mostly in order, a little out of order
        window = newer[first : first + 50]
        rng.shuffle(window)
        newer[first : first + 50] = window
    count(plan, user_id, newer + older)  # the older half late, landing in the first parts

    item, parts = stored_items(dynamodb, plan, user_id)
    assert assert_bounded(item, parts) > ITEM_LIMIT
    days, held = reference_roles(changes)
    user = load_plan_user(plan.plan_id, user_id)
    assert len(user.marks) == len(changes)  # every role event decides the seat from its instant on
    assert user.holds_seat == held
    assert seats_in_use(plan.plan_id) == int(held)
    stored_days: Counter[tuple[str, str]] = Counter()
    for day, counts in plan_counters(plan).days.items():
        for name in ("seats_taken", "seats_released"):
            if getattr(counts, name):
                stored_days[(day, name)] = getattr(counts, name)
    assert stored_days == days

    version = user.version
    resend = changes[:]
    rng.shuffle(resend)
    count(plan, user_id, resend)
    assert load_plan_user(plan.plan_id, user_id).version == version
