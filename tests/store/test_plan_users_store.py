"""The consumption commit against DynamoDB Local: one transaction, conditioned on the version it
read and, for a claim on a hard plan, on the seats in use; what a failed condition reports; and
counting through the use case on the DynamoDB ports (its retry after a conflict: tests/usecases)."""

from __future__ import annotations

import pytest

from license_usage.domain.plan_user import Action, Change, PlanUser
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.usecases.ports import Ports
from tests.store.builders import NOW, login, new_plan
from usage_local.dynamodb_local import LocalDynamoDB


def dynamo() -> Ports:
    from license_usage.store.ports import dynamo_ports

    return dynamo_ports()


def settle(plan: Plan, user_id: str, action: Action) -> list[Change]:
    """Count one action through the use case on the DynamoDB ports; the changes it committed."""
    from license_usage.domain.counting import Counting
    from license_usage.usecases.counting import count

    outcome = count(dynamo(), plan.org_id, [Counting(plan, user_id, action)], NOW)
    return [change for _, change in outcome.committed]


def test_a_commit_writes_the_user_the_counter_the_tally_and_the_activity_entry_together(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.store.plan_users import CommitOutcome, commit, load_plan_user, seats_in_use
    from license_usage.store.plans import plan_counters

    plan = new_plan(dynamo())
    change = PlanUser(plan.plan_id, "ann").apply(plan, login(5, "e1"))
    assert commit(plan, change, NOW) is CommitOutcome.COMMITTED
    stored = load_plan_user(plan.plan_id, "ann")
    assert stored.version == 1
    assert stored.marks == change.after.marks
    assert seats_in_use(plan.plan_id) == 1
    day = change.after.marks[0].order_key[:10]
    assert plan_counters(plan).days[day].seats_taken == 1
    from license_usage.store.keys import day_partitions

    entries = [
        item
        for partition in day_partitions(plan.org_id, day)  # the day's shards
        for item in dynamodb.client().query(
            TableName=dynamodb.names["EventsTable"],
            IndexName="by_day",
            KeyConditionExpression="#d = :d",
            ExpressionAttributeNames={"#d": "day"},
            ExpressionAttributeValues={":d": {"S": partition}},
        )["Items"]
    ]
    assert [item["type"]["S"] for item in entries] == ["seat.claimed"]


def test_a_commit_on_a_stale_version_writes_nothing_and_says_so(dynamodb: LocalDynamoDB) -> None:
    from license_usage.store.plan_users import CommitOutcome, commit, load_plan_user, seats_in_use

    plan = new_plan(dynamo())
    empty = PlanUser(plan.plan_id, "ann")
    assert commit(plan, empty.apply(plan, login(9, "e1")), NOW) is CommitOutcome.COMMITTED
    # A second writer that read the user before the first commit:
    stale = empty.apply(plan, login(8, "e2"))
    assert commit(plan, stale, NOW) is CommitOutcome.VERSION_CHANGED
    assert seats_in_use(plan.plan_id) == 1
    assert load_plan_user(plan.plan_id, "ann").version == 1


def test_a_claim_beyond_the_hard_limit_fails_on_the_counter_and_says_so(dynamodb: LocalDynamoDB) -> None:
    from license_usage.store.plan_users import CommitOutcome, commit, load_plan_user, seats_in_use

    plan = new_plan(dynamo(), amount=1, enforcement=Enforcement.HARD)
    assert commit(plan, PlanUser(plan.plan_id, "ann").apply(plan, login(9, "a")), NOW) is CommitOutcome.COMMITTED
    taking = PlanUser(plan.plan_id, "bob").apply(plan, login(8, "b"))
    assert taking.takes_seat
    assert commit(plan, taking, NOW) is CommitOutcome.SEAT_LIMIT
    assert seats_in_use(plan.plan_id) == 1
    assert load_plan_user(plan.plan_id, "bob").version == 0  # nothing of the transaction landed


def test_a_hard_limit_refusal_is_decided_by_the_domain_and_committed_as_a_denial(dynamodb: LocalDynamoDB) -> None:
    from license_usage.store.plan_users import load_plan_user, seats_in_use

    plan = new_plan(dynamo(), amount=1, enforcement=Enforcement.HARD)
    settle(plan, "ann", login(9, "a"))
    [change] = settle(plan, "bob", login(8, "b"))
    assert change.denied is not None
    assert seats_in_use(plan.plan_id) == 1
    bob = load_plan_user(plan.plan_id, "bob")
    assert not bob.holds_seat
    assert [m.kind.value for m in bob.marks] == ["denied"]


@pytest.mark.parametrize("plan_type", [PlanType.MAU, PlanType.MAUC])
def test_month_counts_commit_once_per_user_and_month(dynamodb: LocalDynamoDB, plan_type: PlanType) -> None:
    from license_usage.store.plans import plan_counters

    plan = new_plan(dynamo(), plan_type)
    assert len(settle(plan, "ann", login(30, "a"))) == 1
    assert settle(plan, "ann", login(20, "b")) == []  # nothing to commit
    counters = plan_counters(plan)
    assert sum(counts.active_users for counts in counters.months.values()) == 1
    credits = sum(day.credits_used for day in counters.days.values())
    assert credits == (1 if plan_type is PlanType.MAUC else 0)


def test_the_rollup_settles_last_login_forward_only_and_bumps_the_version(dynamodb: LocalDynamoDB) -> None:
    from license_usage.store.plan_users import load_plan_user, settle_last_login

    plan = new_plan(dynamo(), PlanType.MAU)
    settle(plan, "ann", login(30, "a"))
    later = login(5, "z").order_key
    assert settle_last_login(plan.plan_id, "ann", later)
    assert not settle_last_login(plan.plan_id, "ann", login(10, "y").order_key)
    stored = load_plan_user(plan.plan_id, "ann")
    assert (stored.last_login, stored.version) == (later, 2)
    assert not settle_last_login(plan.plan_id, "nobody", later)  # no item: nothing is created
