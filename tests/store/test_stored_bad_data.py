"""Data the API now refuses but an earlier version stored (issue 9): it cannot break its
organization or the rollups of any other."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from usage_local.dynamodb_local import LocalDynamoDB

NOW = datetime.now(UTC)


def _stored_plan(org_id: str, start: str, end: str) -> str:
    from license_usage.store.keys import plan_key
    from license_usage.store.plans import PlanRecord

    plan_id = f"pln_{uuid.uuid4().hex[:16]}"
    PlanRecord(
        *plan_key(org_id, plan_id),
        plan_id=plan_id,
        org_id=org_id,
        type="seats",
        product="learn",
        amount=5,
        start=start,
        end=end,
        overdraft=0,
        enforcement="soft",
        grace_days=0,
        created_at=NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    ).save()
    return plan_id


def test_a_plan_stored_with_an_unreadable_start_is_left_out_and_the_rollups_keep_running(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.domain.access import Principal, Role
    from license_usage.domain.errors import NotFound
    from license_usage.domain.plans import Plan, PlanType
    from license_usage.store.dirty_days import mark_days_dirty
    from license_usage.store.orgs import OrgRecord
    from license_usage.store.plans import get_plan, plans_of_org, save_new_plan
    from license_usage.usecases.rollups import run_daily_rollup

    poisoned, healthy = f"org-{uuid.uuid4().hex[:8]}", f"org-{uuid.uuid4().hex[:8]}"
    # As the old code stored a plan starting 0999-06-01 (strftime gave a 3-digit year).
    bad = _stored_plan(poisoned, "999-06-01T00:00:00.000000Z", "1000-06-01T00:00:00.000000Z")
    good = Plan(
        f"pln_{uuid.uuid4().hex[:16]}",
        poisoned,
        PlanType.SEATS,
        "observe",
        5,
        NOW - timedelta(days=5),
        NOW + timedelta(days=300),
    )
    save_new_plan(good, 0, Principal(Role.VENDOR_ADMIN, None, "t"), NOW)
    OrgRecord("ORGS", f"ORG#{healthy}", org_id=healthy, created_at="2026-01-01T00:00:00.000000Z").save()
    mark_days_dirty(poisoned, [NOW.date().isoformat()], NOW)
    mark_days_dirty(healthy, [NOW.date().isoformat()], NOW)
    assert [plan.plan_id for plan in plans_of_org(poisoned)] == [good.plan_id]
    with pytest.raises(NotFound):
        get_plan(poisoned, bad)
    report = run_daily_rollup(NOW)
    assert report.failed_orgs == []
    assert f"{healthy}/{NOW.date().isoformat()}" in report.days_rolled_up
    assert f"{poisoned}/{NOW.date().isoformat()}" in report.days_rolled_up


def test_a_day_with_more_distinct_ids_than_one_item_holds_is_stored_and_read_back_whole(
    dynamodb: LocalDynamoDB,
) -> None:
    from datetime import date

    from license_usage.domain.rollups import DayFigures, GroupFigures
    from license_usage.store.rollups import save_day_figures, stored_days

    org_id = f"org-{uuid.uuid4().hex[:8]}"
    sessions = {f"{index:06d}" + "s" * 122 for index in range(6_000)}  # 6,000 × 128 bytes: ~770 KB
    instances = {f"{index:06d}" + "i" * 122 for index in range(3_000)}
    users = {f"user-{index}" for index in range(5_000)}
    figures = DayFigures()
    figures.ai.quality_check.update(f"goal-{index:05d}" + "g" * 100 for index in range(4_000))
    figures.groups["north"] = GroupFigures(
        active_users=users, session_ids=sessions, loose_logins=7, instance_ids=instances
    )
    save_day_figures(org_id, "2026-11-05", figures)
    save_day_figures(org_id, "2026-11-05", figures)  # replacing it leaves no stale part behind
    days, groups = stored_days(org_id, date(2026, 11, 5), date(2026, 11, 5))
    assert len(days) == 1
    assert len(days[0].ai.quality_check) == 4_000
    (north,) = groups["north"]
    assert (set(north.session_ids), set(north.instance_ids), set(north.active_users)) == (sessions, instances, users)
    assert north.loose_logins == 7
