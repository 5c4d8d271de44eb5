"""The ports' contract (``usecases/ports.py``), run against both implementations: the DynamoDB
store (DynamoDB Local) and the in-memory ports the use-case tests use (tests/usecases/memory.py).
What the use cases rely on: a commit conditioned on the version read and on a hard limit,
reporting which failed and writing nothing then; first write wins for events; the later-login
search; plan creation under its guard; totals after commits; the overdraft flag; dirty days;
a notice stored once per once key, and the outbox's lease."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from license_usage.domain.errors import Conflict, NotFound
from license_usage.domain.events import UsageEvent
from license_usage.domain.notifications import hard_limit_notice
from license_usage.domain.plan_user import PlanUser
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.usecases.ports import CommitResult, Ports
from tests.store.builders import NOW, VENDOR, login, new_plan


@pytest.fixture(params=["memory", "dynamodb"])
def ports(request: pytest.FixtureRequest) -> Iterator[Ports]:
    if request.param == "memory":
        from tests.usecases.memory import memory_ports

        yield memory_ports().ports
    else:
        request.getfixturevalue("dynamodb")
        from license_usage.store.ports import dynamo_ports

        yield dynamo_ports()


def test_a_commit_is_conditioned_on_the_version_read(ports: Ports) -> None:
    plan = new_plan(ports)
    key = (plan.plan_id, "ann")
    empty = ports.plan_users.load([key])[key]
    assert empty == PlanUser(plan.plan_id, "ann")
    first = empty.apply(plan, login(9, "e1"))
    assert ports.plan_users.commit(plan, first, NOW) is CommitResult.COMMITTED
    stored = ports.plan_users.load([key], consistent=True)[key]
    assert (stored.version, stored.marks) == (1, first.after.marks)
    stale = empty.apply(plan, login(8, "e2"))  # decided on the state before the first commit
    assert ports.plan_users.commit(plan, stale, NOW) is CommitResult.VERSION_CHANGED
    assert ports.plan_users.load([key], consistent=True)[key].version == 1
    assert ports.plans.totals(plan).seats_in_use == 1


def test_a_seat_beyond_a_hard_limit_is_refused_by_the_commit_and_nothing_lands(ports: Ports) -> None:
    plan = new_plan(ports, amount=1, enforcement=Enforcement.HARD)
    ann = PlanUser(plan.plan_id, "ann").apply(plan, login(9, "a"))
    assert ports.plan_users.commit(plan, ann, NOW) is CommitResult.COMMITTED
    bob = PlanUser(plan.plan_id, "bob").apply(plan, login(8, "b"))
    assert ports.plan_users.commit(plan, bob, NOW) is CommitResult.SEAT_LIMIT
    assert ports.plan_users.load([(plan.plan_id, "bob")], consistent=True)[(plan.plan_id, "bob")].version == 0
    denied = PlanUser(plan.plan_id, "bob").apply(plan, login(8, "b"), seat_free=False)
    assert ports.plan_users.commit(plan, denied, NOW) is CommitResult.COMMITTED
    assert ports.plans.totals(plan).seats_in_use == 1


def test_totals_add_up_the_month_tallies_and_carry_the_flag(ports: Ports) -> None:
    plan = new_plan(ports, PlanType.MAU, amount=1)
    for user in ("ann", "bob"):
        change = PlanUser(plan.plan_id, user).apply(plan, login(5, user))
        assert ports.plan_users.commit(plan, change, NOW) is CommitResult.COMMITTED
    totals = ports.plans.totals(plan)
    assert sum(m.active_users for m in totals.months.values()) == 2
    assert not totals.flagged_over_amount
    ports.plans.set_overdraft_flag(plan, True)
    assert ports.plans.totals(plan).flagged_over_amount
    ports.plans.set_overdraft_flag(plan, False)
    assert not ports.plans.totals(plan).flagged_over_amount


def test_plans_are_created_under_their_guard(ports: Ports) -> None:
    plan = new_plan(ports)
    assert ports.plans.get(plan.org_id, plan.plan_id).plan_id == plan.plan_id
    assert [p.plan_id for p in ports.plans.of_org(plan.org_id)] == [plan.plan_id]
    with pytest.raises(NotFound):
        ports.plans.get(plan.org_id, ports.plans.new_id())
    second = Plan(ports.plans.new_id(), plan.org_id, plan.type, plan.product, 5, plan.end, plan.end + timedelta(days=9))
    stale = ports.plans.guard_version(plan) - 1
    with pytest.raises(Conflict):
        ports.plans.save_new(second, stale, VENDOR, NOW)
    ports.plans.save_new(second, ports.plans.guard_version(second), VENDOR, NOW)
    assert len(ports.plans.of_org(plan.org_id)) == 2


def test_the_first_write_of_an_event_id_wins_and_logins_are_found_in_their_window(ports: Ports) -> None:
    org_id = f"org-{uuid.uuid4().hex[:8]}"
    at = NOW - timedelta(hours=3)

    def event(event_id: str, minutes: int, user: str = "ann", kind: str = "user.login") -> UsageEvent:
        return UsageEvent(org_id, event_id, kind, at + timedelta(minutes=minutes), NOW, user_id=user, product="learn")

    first = ports.events.store([event("e1", 0), event("e2", 10), event("e1", 20)])
    assert [(s.new, s.as_stored) for s in first] == [(True, event("e1", 0)), (True, event("e2", 10)), (False, None)]
    again = ports.events.store([event("e2", 99, user="bob"), event("e3", 30, user="bob")])
    assert [s.new for s in again] == [False, True]
    assert again[0].as_stored is not None
    assert (again[0].as_stored.user_id, again[0].as_stored.timestamp) == ("ann", at + timedelta(minutes=10))
    day = at.date().isoformat()
    e1, e2 = event("e1", 0).order_key, event("e2", 10).order_key
    assert ports.events.earliest_login(org_id, "ann", "learn", e1, None, [day]) == e2
    assert ports.events.earliest_login(org_id, "ann", "learn", "", None, [day]) == e1
    assert ports.events.earliest_login(org_id, "ann", "learn", e1, e2, [day]) is None
    assert ports.events.earliest_login(org_id, "ann", "learn", "", None, ["2000-01-01"]) is None
    assert ports.events.earliest_login(org_id, "ann", "observe", "", None, [day]) is None


def test_dirty_days_wait_once_marked(ports: Ports) -> None:
    org_id = f"org-{uuid.uuid4().hex[:8]}"
    assert ports.dirty_days.waiting(org_id) == []
    ports.dirty_days.mark(org_id, ["2026-12-01", "2026-12-03", "2026-12-01"], NOW)
    assert sorted(ports.dirty_days.waiting(org_id)) == ["2026-12-01", "2026-12-03"]


def test_a_notice_is_stored_once_and_the_outbox_leases_it(ports: Ports) -> None:
    plan = new_plan(ports, amount=1, enforcement=Enforcement.HARD)
    notice = hard_limit_notice(plan, 1, "bob", NOW)
    notices = ports.outbox.notices
    assert notices.record_once(notice, NOW - timedelta(seconds=1))  # its writer's lease ran out
    assert not notices.record_once(notice, NOW + timedelta(minutes=1))
    claimed = [p for p in notices.claim_pending(NOW, timedelta(minutes=1)) if p.notice.notice_id == notice.notice_id]
    assert [(p.notice.once_key, p.published) for p in claimed] == [(notice.once_key, frozenset())]
    assert not [p for p in notices.claim_pending(NOW, timedelta(minutes=1)) if p.notice.notice_id == notice.notice_id]
    notices.mark_published(notice.notice_id, "sns")
    later = NOW + timedelta(minutes=2)
    [again] = [p for p in notices.claim_pending(later, timedelta(minutes=1)) if p.notice.notice_id == notice.notice_id]
    assert again.published == frozenset({"sns"})
    notices.finish(notice.notice_id)
    gone = [p for p in notices.claim_pending(later + timedelta(minutes=5), timedelta(minutes=1))]
    assert notice.notice_id not in {p.notice.notice_id for p in gone}


@pytest.mark.parametrize("plan_type", [PlanType.SEATS, PlanType.MAU, PlanType.MAUC])
def test_a_group_commits_every_fresh_user_and_reports_the_stale_ones(ports: Ports, plan_type: PlanType) -> None:
    plan = new_plan(ports, plan_type)
    users = [f"u{n:03d}" for n in range(150)]  # more than one transaction holds
    ann = PlanUser(plan.plan_id, users[0]).apply(plan, login(30, "first"))
    assert ports.plan_users.commit(plan, ann, NOW) is CommitResult.COMMITTED  # another writer, first
    changes = [PlanUser(plan.plan_id, user).apply(plan, login(20, user)) for user in users]
    result = ports.plan_users.commit_groups(plan, changes, NOW)
    assert result.stale == (users[0],)  # decided on version 0, which it no longer is
    assert sorted(result.committed) == users[1:]
    assert result.conflicted == ()
    loaded = ports.plan_users.load([(plan.plan_id, user) for user in users], consistent=True)
    assert all(loaded[(plan.plan_id, user)].version == 1 for user in users)
    totals = ports.plans.totals(plan)
    if plan_type is PlanType.SEATS:
        assert totals.seats_in_use == 150
    else:
        assert sum(m.active_users for m in totals.months.values()) == 150
