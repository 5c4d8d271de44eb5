"""Consumption at ingest (SPEC §2): logins take seats and count users per plan month;
deactivations and deletions free seats. Runs for events stored now, never for duplicates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from license_usage.domain.consumption import is_over_amount
from license_usage.domain.events import UsageEvent
from license_usage.domain.plans import Enforcement, Plan, PlanType, month_of
from license_usage.domain.seats import RELEASING_EVENT_TYPES, SeatOutcome, event_frees_seat, login_takes_seat
from license_usage.domain.timestamps import format_utc
from license_usage.store.consumption import (
    PlanUser,
    claim_seat,
    count_user_month,
    load_plan_users,
    note_login_time,
    release_seat,
    remember_release,
)
from license_usage.store.events import writer_pool
from license_usage.store.plans import plan_counters, record_peak_seats, set_overdraft_flag

CLAIM_ATTEMPTS = 3


def plans_consumed_by(event: UsageEvent, plans: Sequence[Plan]) -> list[Plan]:
    """SPEC §2: a login consumes from the plans of its product that cover its instant; a
    deactivation or deletion frees the user's seats (in its product's plans when it names one)."""
    if event.user_id is None:
        return []
    if event.type == "user.login":
        return [p for p in plans if p.product == event.product and p.covers(event.timestamp)]
    if event.type in RELEASING_EVENT_TYPES:
        return [
            p
            for p in plans
            if p.type is PlanType.SEATS
            and (event.product is None or p.product == event.product)
            and p.covers(event.timestamp)
        ]
    return []


def _take_seat_if_due(plan: Plan, user: PlanUser, event: UsageEvent, details: dict[str, str]) -> bool:
    """Claim the seat a login is due; if another request changed the seat meanwhile, look again."""
    for _ in range(CLAIM_ATTEMPTS):
        if not login_takes_seat(user.seat, event.order_key):
            return False
        outcome = claim_seat(plan, user, event.order_key, event.timestamp, details)
        if outcome is not SeatOutcome.SUPERSEDED:
            return outcome is SeatOutcome.GRANTED
        fresh = load_plan_users([(plan.plan_id, user.user_id)], consistent=True)[(plan.plan_id, user.user_id)]
        user.seat, user.months, user.first_login = fresh.seat, fresh.months, fresh.first_login
    return False


def _apply_to_user(plan: Plan, user: PlanUser, events: list[UsageEvent]) -> bool:
    """One user's events in one plan, in time order. True when a count changed."""
    changed = False
    for event in events:
        details = {"event_id": event.id, "by": "event"}
        if event.type == "user.login":
            if plan.type is PlanType.SEATS:
                changed |= _take_seat_if_due(plan, user, event, details)
            elif month_of(event.timestamp) not in user.months:
                changed |= count_user_month(plan, user, month_of(event.timestamp), event.timestamp)
                continue
            note_login_time(plan.plan_id, user, event.timestamp)
        elif event_frees_seat(user.seat, event.order_key):
            changed |= release_seat(plan, user, event.order_key, event.timestamp, details)
        elif user.seat.after_release(event.order_key, format_utc(event.timestamp)) != user.seat:
            remember_release(plan, user, event.order_key)
    return changed


def apply_consumption(events: Sequence[UsageEvent], plans: Sequence[Plan], now: datetime) -> None:
    work: dict[tuple[str, str], list[UsageEvent]] = defaultdict(list)
    plan_by_id = {plan.plan_id: plan for plan in plans}
    for event in events:
        for plan in plans_consumed_by(event, plans):
            assert event.user_id is not None
            work[(plan.plan_id, event.user_id)].append(event)
    if not work:
        return
    users = load_plan_users(work)
    # Users are independent of each other, so their events run side by side, each user's in
    # order. Under a hard seat limit they compete for seats: there, events run in time order so
    # the earliest logins get the seats, as if the events had arrived one by one.
    jobs: dict[str, list[tuple[str, UsageEvent, PlanUser]]] = defaultdict(list)
    for (plan_id, user_id), user_events in work.items():
        plan = plan_by_id[plan_id]
        lane = (
            plan_id if plan.enforcement is Enforcement.HARD and plan.type is PlanType.SEATS else f"{plan_id}/{user_id}"
        )
        jobs[lane].extend((event.order_key, event, users[(plan_id, user_id)]) for event in user_events)

    def run(lane: list[tuple[str, UsageEvent, PlanUser]]) -> tuple[Plan, bool]:
        plan = plan_by_id[lane[0][2].plan_id]
        changed = False
        for _, event, user in sorted(lane, key=lambda item: item[0]):
            changed |= _apply_to_user(plan, user, [event])
        return plan, changed

    outcomes = list(writer_pool().map(run, jobs.values()))
    changed_plans = {plan.plan_id: plan for plan, changed in outcomes if changed}
    for plan in changed_plans.values():
        refresh_plan_flags(plan, now)


def refresh_plan_flags(plan: Plan, now: datetime) -> None:
    """Keep the month's seat peak and the overdraft index in step with the counters."""
    counters = plan_counters(plan, now)
    if plan.type is PlanType.SEATS:
        record_peak_seats(plan.plan_id, month_of(now), counters.seats_in_use)
    over = is_over_amount(plan, counters, now)
    if over != counters.flagged_over_amount:
        set_overdraft_flag(plan, over)
