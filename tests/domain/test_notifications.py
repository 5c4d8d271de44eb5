"""SPEC §7 notifications: which notices a plan is due at an instant, once keys, what they say."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from license_usage.domain.notifications import (
    SUBJECT_LIMIT,
    NoticeKind,
    UsageSnapshot,
    expiry_notices,
    filter_policy,
    hard_limit_notice,
    is_renewed,
    mau_month_forecast,
    not_sent,
    notice_json,
    notice_view,
    subscription_id,
    usage_notices,
)
from license_usage.domain.plans import Plan, PlanType

START = datetime(2025, 3, 15, 9, 30, tzinfo=UTC)
END = datetime(2026, 3, 15, 9, 30, tzinfo=UTC)


def plan(
    plan_type: PlanType = PlanType.SEATS,
    *,
    amount: int = 10,
    start: datetime = START,
    end: datetime = END,
    grace_days: int = 0,
    notify_at: tuple[int, ...] = (80, 100),
    plan_id: str = "pln_0000000000000001",
    renewed_from: str | None = None,
    product: str = "learn",
) -> Plan:
    return Plan(
        plan_id=plan_id,
        org_id="acme",
        type=plan_type,
        product=product,
        amount=amount,
        start=start,
        end=end,
        grace_days=grace_days,
        notify_at=notify_at,
        renewed_from=renewed_from,
    )


def kinds(notices: list) -> list[tuple[str, int | None]]:  # type: ignore[type-arg]
    return [(n.kind.value, n.threshold) for n in notices]


# ---------------------------------------------------------------------- plan.expiring


@pytest.mark.parametrize(
    ("before_end", "expected"),
    [
        (timedelta(days=91), []),
        (timedelta(days=90, microseconds=1), []),
        (timedelta(days=90), [("plan.expiring", 90)]),
        (timedelta(days=31), [("plan.expiring", 90)]),
        (timedelta(days=30), [("plan.expiring", 30)]),
        (timedelta(days=7, seconds=1), [("plan.expiring", 30)]),
        (timedelta(days=6, hours=12), [("plan.expiring", 7)]),  # created 6½ days before its end: 7, not four
        (timedelta(days=1), [("plan.expiring", 1)]),
        (timedelta(microseconds=1), [("plan.expiring", 1)]),
    ],
)
def test_expiring_sends_only_the_nearest_threshold_reached(before_end: timedelta, expected: list) -> None:  # type: ignore[type-arg]
    assert kinds(expiry_notices(plan(), END - before_end, renewed=False)) == expected


def test_a_renewed_plan_gets_no_expiry_notices() -> None:
    for at in (END - timedelta(days=3), END, END + timedelta(days=2)):
        assert expiry_notices(plan(grace_days=5), at, renewed=True) == []


def test_a_future_plan_gets_no_expiring_notice() -> None:
    short = plan(start=START, end=START + timedelta(days=20))
    assert expiry_notices(short, START - timedelta(days=1), renewed=False) == []


def test_expired_and_grace_ending() -> None:
    graced = plan(grace_days=10)
    assert kinds(expiry_notices(graced, END, renewed=False)) == [("plan.expired", None)]
    # 8 days of grace left: not yet ending; 7 left: ending.
    assert kinds(expiry_notices(graced, END + timedelta(days=2), renewed=False)) == [("plan.expired", None)]
    assert kinds(expiry_notices(graced, END + timedelta(days=3), renewed=False)) == [
        ("plan.expired", None),
        ("plan.grace_ending", None),
    ]
    # Past the grace period: nothing more.
    assert expiry_notices(graced, END + timedelta(days=10), renewed=False) == []
    # A grace period of a week or less warns on its last day.
    short = plan(grace_days=3)
    assert kinds(expiry_notices(short, END + timedelta(days=1), renewed=False)) == [("plan.expired", None)]
    assert kinds(expiry_notices(short, END + timedelta(days=2), renewed=False))[-1] == ("plan.grace_ending", None)


def test_expired_is_not_sent_for_plans_that_ended_long_ago() -> None:
    ungraced = plan()
    assert kinds(expiry_notices(ungraced, END + timedelta(days=6, hours=23), renewed=False)) == [("plan.expired", None)]
    assert expiry_notices(ungraced, END + timedelta(days=7), renewed=False) == []


def test_renewal_is_the_renewal_call_or_a_plan_starting_at_the_end() -> None:
    current = plan()
    renewal = plan(plan_id="pln_0000000000000002", start=END, end=END + timedelta(days=365), renewed_from=None)
    other_product = plan(plan_id="pln_0000000000000003", start=END, end=END + timedelta(days=300), product="observe")
    assert is_renewed(current, [current, renewal])
    assert not is_renewed(current, [current, other_product])
    later = plan(plan_id="pln_0000000000000004", start=END + timedelta(days=5), end=END + timedelta(days=300))
    assert not is_renewed(current, [current, later])
    by_call = plan(plan_id="pln_0000000000000005", start=END + timedelta(days=5), renewed_from=current.plan_id)
    assert is_renewed(current, [current, by_call])


def test_runs_at_random_instants_send_each_threshold_once_never_a_burst() -> None:
    """Runs at random sorted instants: every run sends at most one plan.expiring; each threshold
    at most once; the thresholds sent shrink over time; the last one reached is always sent."""
    rng = random.Random(7)
    for _ in range(300):
        runs = sorted(END - timedelta(seconds=rng.randint(0, 120 * 86400)) for _ in range(rng.randint(1, 12)))
        sent: list[int] = []
        keys: set[str] = set()
        for at in runs:
            due = not_sent(expiry_notices(plan(), at, renewed=False), keys)
            assert len(due) <= 1
            for notice in due:
                keys.add(notice.once_key)
                assert notice.threshold is not None
                sent.append(notice.threshold)
        assert sent == sorted(set(sent), reverse=True)
        left = END - runs[-1]
        reached = [d for d in (90, 30, 7, 1) if left <= timedelta(days=d)]
        if reached:
            assert min(reached) in sent


# ---------------------------------------------------------------------- usage notices

NOW = datetime(2025, 9, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("consumed", "notify_at", "expected"),
    [
        (7, (80, 100), []),
        (8, (80, 100), [("usage.threshold", 80)]),
        (10, (80, 100), [("usage.threshold", 100)]),
        (11, (80, 100), [("usage.threshold", 100), ("usage.overdraft", None)]),
        (9, (75, 90, 100, 120), [("usage.threshold", 90)]),
        (12, (75, 90, 100, 120), [("usage.threshold", 120), ("usage.overdraft", None)]),
        (12, (), [("usage.overdraft", None)]),
        (0, (1,), []),
    ],
)
def test_thresholds_and_overdraft(consumed: int, notify_at: tuple[int, ...], expected: list) -> None:  # type: ignore[type-arg]
    notices = usage_notices(plan(notify_at=notify_at), UsageSnapshot(consumed), NOW)
    assert kinds(notices) == expected


def test_threshold_arithmetic_is_exact_for_odd_amounts() -> None:
    # 80 % of 7 is 5.6: 5 is under it, 6 reaches it.
    assert usage_notices(plan(amount=7), UsageSnapshot(5), NOW) == []
    assert kinds(usage_notices(plan(amount=7), UsageSnapshot(6), NOW)) == [("usage.threshold", 80)]


def test_usage_notices_only_while_current() -> None:
    assert usage_notices(plan(), UsageSnapshot(20), START - timedelta(seconds=1)) == []
    assert usage_notices(plan(), UsageSnapshot(20), END) == []


@pytest.mark.parametrize(
    ("forecast", "known", "consumed", "sent"),
    [
        (NOW.date() + timedelta(days=30), True, 5, True),
        (NOW.date() + timedelta(days=31), True, 5, False),
        (NOW.date() + timedelta(days=3), False, 5, False),  # ingest knows no forecast
        (None, True, 5, False),
        (NOW.date(), True, 10, False),  # already used up: threshold and overdraft say so
    ],
)
def test_forecast_exhaustion(forecast: date | None, known: bool, consumed: int, sent: bool) -> None:
    notices = usage_notices(plan(notify_at=()), UsageSnapshot(consumed, forecast, known), NOW)
    assert (NoticeKind.USAGE_FORECAST_EXHAUSTION in [n.kind for n in notices]) is sent


def test_mau_notices_are_once_per_plan_month() -> None:
    mau = plan(PlanType.MAU)
    september = usage_notices(mau, UsageSnapshot(8), NOW)
    october = usage_notices(mau, UsageSnapshot(8), NOW + timedelta(days=30))
    assert september[0].once_key != october[0].once_key
    assert september[0].data.month == "2025-09"
    assert october[0].data.month == "2025-10"
    seats = usage_notices(plan(), UsageSnapshot(8), NOW)[0]
    assert seats.once_key == usage_notices(plan(), UsageSnapshot(9), NOW + timedelta(days=30))[0].once_key


def test_mau_month_forecast() -> None:
    mau = plan(PlanType.MAU, amount=100)
    nine_days_in = datetime(2025, 9, 10, tzinfo=UTC)  # 9 days of September behind
    # 45 users in 9 days: 5 a day, 55 to go, 11 days: 2025-09-21.
    assert mau_month_forecast(mau, 45, nine_days_in) == date(2025, 9, 21)
    # 9 users in 9 days: 91 days to go, past the month's end.
    assert mau_month_forecast(mau, 9, nine_days_in) is None
    # Too early in the month to tell, nobody yet, or over already.
    assert mau_month_forecast(mau, 50, datetime(2025, 9, 6, 23, tzinfo=UTC)) is None
    assert mau_month_forecast(mau, 0, nine_days_in) is None
    assert mau_month_forecast(mau, 100, nine_days_in) is None
    # Outside the plan.
    assert mau_month_forecast(mau, 50, END + timedelta(days=10)) is None


def test_hard_limit_notice() -> None:
    hard = plan()
    notice = hard_limit_notice(hard, 10, "ann@example.com", NOW)
    assert notice.kind is NoticeKind.USAGE_HARD_LIMIT
    assert notice.data.refused_user_id == "ann@example.com"
    assert "ann@example.com" in notice.message


# ---------------------------------------------------------------------- what a notice says


def test_notice_ids_follow_from_what_they_are() -> None:
    a = usage_notices(plan(), UsageSnapshot(8), NOW)[0]
    b = usage_notices(plan(), UsageSnapshot(9), NOW + timedelta(hours=5))[0]
    assert a.notice_id == b.notice_id
    assert a.notice_id.startswith("ntf_")
    other_plan = usage_notices(plan(plan_id="pln_0000000000000009"), UsageSnapshot(8), NOW)[0]
    assert other_plan.notice_id != a.notice_id


def test_subject_and_message_say_what_a_person_needs() -> None:
    long_product = plan(product="p" * 64, plan_type=PlanType.MAUC, amount=1_200_000)
    for notice in [
        *expiry_notices(long_product, END - timedelta(days=6, hours=12), renewed=False),
        *usage_notices(long_product, UsageSnapshot(1_000_000), NOW),
    ]:
        assert len(notice.subject) <= SUBJECT_LIMIT
        assert "\n" not in notice.subject
        assert notice.subject.isprintable()
        for part in ("acme", long_product.plan_id, "What to do:"):
            assert part in notice.message
    expiring = expiry_notices(plan(), END - timedelta(days=6, hours=12), renewed=False)[0]
    assert "ends in 7 days" in expiring.subject
    assert expiring.data.days_left == 7
    assert expiring.data.plan_end == "2026-03-15T09:30:00Z"
    threshold = usage_notices(plan(amount=1500), UsageSnapshot(1200), NOW)[0]
    assert "1,200 of 1,500 seats (80%)" in threshold.message


def test_the_bus_detail_is_the_listed_view() -> None:
    notice = usage_notices(plan(), UsageSnapshot(8), NOW)[0]
    detail = json.loads(notice_json(notice))
    view = notice_view(notice)
    assert detail["id"] == view.id
    assert detail["kind"] == "usage.threshold"
    assert detail["threshold"] == 80
    assert detail["created_at"] == "2025-09-10T12:00:00Z"
    assert detail["data"]["consumed"] == 8
    assert detail["data"]["utilization_pct"] == 80.0


def test_filter_policy_names_the_organization() -> None:
    assert json.loads(filter_policy("acme", [])) == {"org_id": ["acme"]}
    policy = json.loads(filter_policy("acme", [NoticeKind.USAGE_OVERDRAFT, NoticeKind.PLAN_EXPIRING]))
    assert policy == {"org_id": ["acme"], "kind": ["plan.expiring", "usage.overdraft"]}
    assert subscription_id("acme", "Ann@Example.com") == subscription_id("acme", "ann@example.com")
    assert subscription_id("acme", "ann@example.com") != subscription_id("other", "ann@example.com")
