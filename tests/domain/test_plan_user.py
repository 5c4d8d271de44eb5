"""SPEC §2 and §4: one user's consumption of a plan settles as if the events had arrived in time
order, whatever order they arrive in. Table tests at the edges, then a randomised property test
of the aggregate (with the raw-event lookup a late release needs) against a small in-order
reference implementation written here."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from license_usage.domain.plan_user import (
    Action,
    ActionKind,
    Change,
    MarkKind,
    PlanUser,
    Tally,
    action_of_event,
    latest_logins,
    plans_consumed_by,
)
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.domain.timestamps import format_utc

START = datetime(2025, 8, 1, tzinfo=UTC)
END = datetime(2026, 8, 1, tzinfo=UTC)


def plan(plan_type: PlanType = PlanType.SEATS, enforcement: Enforcement = Enforcement.SOFT) -> Plan:
    return Plan("pln_1", "org", plan_type, "learn", 2, START, END, enforcement=enforcement)


def key(instant: datetime, event_id: str) -> str:
    return f"{format_utc(instant)}#{event_id}"


def login(instant: datetime, event_id: str) -> Action:
    return Action(key(instant, event_id), ActionKind.LOGIN)


def release(instant: datetime, event_id: str) -> Action:
    return Action(key(instant, event_id), ActionKind.RELEASE)


@dataclass
class Replay:
    """Feeds actions to the aggregate one at a time, as the use case does: the raw events seen
    so far answer the later-login lookup, and every change's effects are added up."""

    plan: Plan
    user: PlanUser
    arrived: list[Action]
    seats: int = 0
    days: Counter[tuple[str, str]] = field(default_factory=Counter)
    months: Counter[str] = field(default_factory=Counter)
    activity: set[tuple[str, str]] = field(default_factory=set)

    def lookup(self, action: Action) -> str | None:
        window = self.user.later_login_window(self.plan, action)
        if window is None:
            return None
        found = [
            a.order_key
            for a in self.arrived
            if a.kind is ActionKind.LOGIN
            and window.after < a.order_key
            and (window.before is None or a.order_key < window.before)
        ]
        return min(found, default=None)

    def send(self, action: Action, seat_free: bool = True) -> Change:
        self.arrived.append(action)
        change = self.user.apply(self.plan, action, seat_free=seat_free, later_login=self.lookup(action))
        self.record(change)
        return change

    def record(self, change: Change) -> None:
        self.user = change.after
        self.seats += change.seats_delta
        for day, tally in change.days.items():
            for name in ("seats_taken", "seats_released", "credits_used"):
                self.days[(day, name)] += getattr(tally, name)
        for month, tally in change.months.items():
            self.months[month] += tally.active_users
        for step in change.steps_removed:
            self.activity.remove((step.activity_type, step.mark.order_key))
        for step in change.steps_added:
            assert (step.activity_type, step.mark.order_key) not in self.activity
            self.activity.add((step.activity_type, step.mark.order_key))


def replay(actions: list[Action], plan_: Plan | None = None) -> Replay:
    run = Replay(plan_ or plan(), PlanUser("pln_1", "u1"), [])
    for action in actions:
        run.send(action)
    return run


# ---------------------------------------------------------------------- the reference


def reference_seat_periods(actions: list[Action]) -> list[tuple[str, str | None]]:
    """SPEC §2 read literally, over every event in time order."""
    periods: list[tuple[str, str | None]] = []
    held: str | None = None
    for action in sorted(actions):
        if action.kind in (ActionKind.LOGIN, ActionKind.CLAIM) and held is None:
            held = action.order_key
        elif action.kind is ActionKind.RELEASE and held is not None:
            periods.append((held, action.order_key))
            held = None
    if held is not None:
        periods.append((held, None))
    return periods


def reference_seat_figures(actions: list[Action]) -> tuple[int, Counter[tuple[str, str]], set[tuple[str, str]]]:
    periods = reference_seat_periods(actions)
    days: Counter[tuple[str, str]] = Counter()
    activity = set()
    for start, end in periods:
        days[(start[:10], "seats_taken")] += 1
        activity.add(("seat.claimed", start))
        if end is not None:
            days[(end[:10], "seats_released")] += 1
            activity.add(("seat.released", end))
    held = int(bool(periods) and periods[-1][1] is None)
    return held, days, activity


def reference_months(actions: list[Action]) -> dict[str, str]:
    months: dict[str, str] = {}
    for action in sorted(actions):
        if action.kind is ActionKind.LOGIN:
            months.setdefault(action.order_key[:7], action.order_key)
    return months


# ---------------------------------------------------------------------- table tests

DAY = datetime(2025, 9, 10, tzinfo=UTC)
AT_09 = login(DAY.replace(hour=9), "a")
AT_12_OFF = release(DAY.replace(hour=12), "b")
AT_15 = login(DAY.replace(hour=15), "c")


@pytest.mark.parametrize(
    "order",
    [
        [AT_09, AT_12_OFF, AT_15],
        [AT_09, AT_15, AT_12_OFF],
        [AT_12_OFF, AT_09, AT_15],
        [AT_12_OFF, AT_15, AT_09],
        [AT_15, AT_09, AT_12_OFF],
        [AT_15, AT_12_OFF, AT_09],
    ],
    ids=lambda order: "-".join(a.order_key[11:13] for a in order),
)
def test_login_at_9_deactivation_at_12_login_at_15_hold_a_seat_in_every_arrival_order(order: list[Action]) -> None:
    run = replay(order)
    assert run.user.holds_seat
    assert run.seats == 1
    assert [(p.start.order_key, p.end.order_key if p.end else None) for p in run.user.periods] == [
        (AT_09.order_key, AT_12_OFF.order_key),
        (AT_15.order_key, None),
    ]
    assert run.days[("2025-09-10", "seats_taken")] == 2
    assert run.days[("2025-09-10", "seats_released")] == 1


def test_a_late_login_between_a_deactivation_and_a_return_takes_the_seat_back_from_its_own_instant() -> None:
    first = login(datetime(2025, 8, 5, tzinfo=UTC), "l0")
    off = release(datetime(2025, 8, 10, tzinfo=UTC), "off")
    back = login(datetime(2025, 10, 5, tzinfo=UTC), "back")
    late = login(datetime(2025, 9, 1, tzinfo=UTC), "late")
    run = replay([first, off, back])
    change = run.send(late)
    assert change.seats_delta == 0  # held before and after
    assert [s.mark.order_key for s in change.steps_added] == [late.order_key]
    assert [s.mark.order_key for s in change.steps_removed] == [back.order_key]
    assert change.days == {
        "2025-09-01": Tally(seats_taken=1, seat_changes=1),
        "2025-10-05": Tally(seats_taken=-1, seat_changes=1),
    }


def test_a_deactivation_arriving_before_an_older_login_still_counts_the_seat_up_to_it() -> None:
    off = release(datetime(2025, 11, 20, tzinfo=UTC), "off")
    older = login(datetime(2025, 11, 10, tzinfo=UTC), "in")
    run = replay([off])
    assert not run.user.holds_seat
    change = run.send(older)
    assert change.seats_delta == 0
    assert {(s.activity_type, s.mark.order_key) for s in change.steps_added} == {
        ("seat.claimed", older.order_key),
        ("seat.released", off.order_key),
    }
    assert not run.user.holds_seat


def test_a_repeat_login_changes_nothing_and_a_resend_of_any_action_changes_nothing() -> None:
    run = replay([AT_09, AT_12_OFF])
    again = run.user.apply(plan(), login(DAY.replace(hour=10), "x"))
    assert again.is_empty  # a later login in the same stretch: nothing to write
    for action in (AT_09, AT_12_OFF):
        assert run.user.apply(plan(), action).is_empty


def test_a_hard_limit_refuses_the_seat_and_remembers_the_refusal() -> None:
    hard = plan(enforcement=Enforcement.HARD)
    user = PlanUser("pln_1", "u1")
    change = user.apply(hard, AT_09, seat_free=False)
    assert change.denied is not None
    assert change.denied.kind is MarkKind.DENIED
    assert change.seats_delta == 0
    assert not change.after.holds_seat
    assert change.after.apply(hard, AT_09, seat_free=True).is_empty  # a resend stays refused


def test_a_hard_limit_needs_no_free_seat_to_move_a_held_seat_earlier() -> None:
    hard = plan(enforcement=Enforcement.HARD)
    user = PlanUser("pln_1", "u1").apply(hard, AT_15).after
    change = user.apply(hard, AT_09, seat_free=False)
    assert change.denied is None
    assert change.seats_delta == 0
    assert change.after.periods[0].start.order_key == AT_09.order_key


@pytest.mark.parametrize("plan_type", [PlanType.MAU, PlanType.MAUC])
def test_months_count_once_and_a_late_earlier_login_moves_the_mauc_credit_to_its_day(plan_type: PlanType) -> None:
    later = login(datetime(2025, 9, 20, tzinfo=UTC), "b")
    earlier = login(datetime(2025, 9, 3, tzinfo=UTC), "a")
    user = PlanUser("pln_1", "u1")
    first = user.apply(plan(plan_type), later)
    assert first.months == {"2025-09": Tally(active_users=1)}
    second = first.after.apply(plan(plan_type), earlier)
    assert second.months == {}
    if plan_type is PlanType.MAUC:
        assert second.days == {"2025-09-03": Tally(credits_used=1), "2025-09-20": Tally(credits_used=-1)}
    else:
        assert second.days == {}
    assert second.after.first_login == earlier.order_key
    assert second.after.apply(plan(plan_type), login(datetime(2025, 9, 25, tzinfo=UTC), "c")).is_empty


def test_which_plans_an_event_consumes_from() -> None:
    seats, mau = plan(), Plan("pln_2", "org", PlanType.MAU, "learn", 5, START, END)
    other = Plan("pln_3", "org", PlanType.SEATS, "observe", 5, START, END)
    inside, outside = datetime(2025, 9, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)
    assert plans_consumed_by("user.login", "learn", inside, [seats, mau, other]) == [seats, mau]
    assert plans_consumed_by("user.login", "learn", outside, [seats, mau]) == []
    assert plans_consumed_by("user.deactivated", None, inside, [seats, mau, other]) == [seats, other]
    assert plans_consumed_by("user.deleted", "observe", inside, [seats, other]) == [other]
    assert plans_consumed_by("ai.quality_check", "learn", inside, [seats]) == []


def test_latest_logins_per_plan_and_user() -> None:
    seats = plan()
    logins = [(key(DAY, "a"), "u1", "learn"), (key(DAY + timedelta(hours=5), "b"), "u1", "learn")]
    logins.append((key(DAY, "c"), "u2", "observe"))
    assert latest_logins(logins, [seats]) == {("pln_1", "u1"): logins[1][0]}


# ---------------------------------------------------------------------- the property


def _history(rng: random.Random) -> list[Action]:
    """A user's logins and releases over a few days, often several on one day, ids unique."""
    actions = []
    base = datetime(2025, 9, 1, tzinfo=UTC)
    for index in range(rng.randint(1, 12)):
        instant = base + timedelta(days=rng.randint(0, 4), hours=rng.randint(0, 23), minutes=rng.choice([0, 30]))
        kind = ActionKind.RELEASE if rng.random() < 0.3 else ActionKind.LOGIN
        actions.append(Action(key(instant, f"e{index}"), kind))
    return actions


@pytest.mark.parametrize("seed", range(40))
def test_any_arrival_order_settles_seats_exactly_as_in_time_order(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(100):
        history = _history(rng)
        arrival = history[:]
        rng.shuffle(arrival)
        run = replay(arrival)
        held, days, activity = reference_seat_figures(history)
        expected_periods = reference_seat_periods(history)
        got_periods = [(p.start.order_key, p.end.order_key if p.end else None) for p in run.user.periods]
        assert got_periods == expected_periods, (history, arrival)
        assert run.seats == held
        assert +run.days == +days  # positive counts only: zeros cancel out
        assert run.activity == activity
        # Resending everything, in another order, changes nothing.
        rng.shuffle(arrival)
        for action in arrival:
            assert run.user.apply(run.plan, action, later_login=run.lookup(action)).is_empty


@pytest.mark.parametrize("plan_type", [PlanType.MAU, PlanType.MAUC])
@pytest.mark.parametrize("seed", range(10))
def test_any_arrival_order_counts_months_and_credits_exactly_as_in_time_order(plan_type: PlanType, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(100):
        history = []
        for index in range(rng.randint(1, 15)):
            instant = datetime(2025, 8, 25, tzinfo=UTC) + timedelta(days=rng.randint(0, 70), hours=rng.randint(0, 23))
            history.append(login(instant, f"e{index}"))
        arrival = history[:]
        rng.shuffle(arrival)
        run = replay(arrival, plan(plan_type))
        expected = reference_months(history)
        assert dict(run.user.months) == expected
        assert +run.months == Counter(dict.fromkeys(expected, 1))
        credits = (
            Counter({(k[:10], "credits_used"): 1 for k in expected.values()})
            if plan_type is PlanType.MAUC
            else Counter()
        )
        assert +run.days == credits
        assert run.user.first_login == min(a.order_key for a in history)


# ---------------------------------------------------------------------- assignment by role


def role_plan(enforcement: Enforcement = Enforcement.SOFT) -> Plan:
    return Plan(
        "pln_1", "org", PlanType.SEATS, "learn", 2, START, END, enforcement=enforcement, assign_roles=("coach",)
    )


def role_event(instant: datetime, event_id: str, roles: tuple[str, ...], kind: str = "user.roles_changed") -> Action:
    action = action_of_event(kind, key(instant, event_id), role_plan(), roles)
    assert action is not None
    return action


def reference_role_periods(actions: list[Action]) -> list[tuple[str, str | None]]:
    """SPEC §2 for a plan that assigns by role, read literally over every event in time order."""
    periods: list[tuple[str, str | None]] = []
    held: str | None = None
    for action in sorted(actions):
        if action.kind is ActionKind.ROLE_GAIN and held is None:
            held = action.order_key
        elif action.kind in (ActionKind.ROLE_LOSS, ActionKind.RELEASE) and held is not None:
            periods.append((held, action.order_key))
            held = None
    if held is not None:
        periods.append((held, None))
    return periods


def test_on_a_role_plan_roles_take_and_free_seats_and_logins_take_none() -> None:
    day = datetime(2025, 9, 10, tzinfo=UTC)
    run = replay(
        [
            login(day, "l0"),
            role_event(day + timedelta(hours=1), "c", ("coach", "admin"), "user.created"),
            role_event(day + timedelta(hours=2), "r", ("learner",)),
            login(day + timedelta(hours=3), "l1"),
        ],
        role_plan(),
    )
    assert [(p.start.event_id, p.end.event_id if p.end else None) for p in run.user.periods] == [("c", "r")]
    assert run.seats == 0
    assert run.user.last_login is not None
    assert run.user.last_login.endswith("#l1")
    first = PlanUser("pln_1", "u").apply(role_plan(), login(day, "x"))
    assert first.seats_delta == 0
    assert not first.after.holds_seat
    assert first.after.first_login == login(day, "x").order_key  # the one write: the earliest login
    assert first.after.apply(role_plan(), login(day + timedelta(hours=1), "y")).is_empty
    earlier = first.after.apply(role_plan(), login(day - timedelta(hours=1), "w"))
    assert earlier.after.first_login == login(day - timedelta(hours=1), "w").order_key
    back = run.send(role_event(day + timedelta(hours=4), "again", ("coach",)))
    assert back.seats_delta == 1
    assert run.user.seat_reason == "role"


def test_a_late_role_change_after_a_deactivation_lands_exactly() -> None:
    day = datetime(2025, 9, 10, tzinfo=UTC)
    created = role_event(day, "c", ("coach",), "user.created")
    off = release(day + timedelta(days=5), "off")
    late_change = role_event(day + timedelta(days=2), "r", ("learner",))  # arrives last
    run = replay([created, off, late_change], role_plan())
    assert [(p.start.event_id, p.end.event_id if p.end else None) for p in run.user.periods] == [("c", "r")]
    assert run.seats == 0
    assert run.days == Counter(
        {("2025-09-10", "seats_taken"): 1, ("2025-09-12", "seats_released"): 1, ("2025-09-15", "seats_released"): 0}
    )


def test_a_hard_role_plan_refuses_an_assignment_beyond_its_limit() -> None:
    plan_ = role_plan(Enforcement.HARD)
    change = PlanUser("pln_1", "u").apply(
        plan_, role_event(datetime(2025, 9, 1, tzinfo=UTC), "c", ("coach",)), seat_free=False
    )
    assert change.denied is not None
    assert change.seats_delta == 0
    assert not change.after.holds_seat


@pytest.mark.parametrize("seed", range(20))
def test_any_arrival_order_of_role_histories_settles_as_in_time_order(seed: int) -> None:
    rng = random.Random(seed)
    base = datetime(2025, 9, 1, tzinfo=UTC)
    for _ in range(100):
        history = []
        for index in range(rng.randint(1, 10)):
            instant = base + timedelta(days=rng.randint(0, 4), hours=rng.randint(0, 23))
            draw = rng.random()
            if draw < 0.25:
                history.append(release(instant, f"e{index}"))
            elif draw < 0.45:
                history.append(login(instant, f"e{index}"))
            else:
                roles = rng.choice([("coach",), ("learner",), ("coach", "admin"), ()])
                history.append(role_event(instant, f"e{index}", roles))
        arrival = history[:]
        rng.shuffle(arrival)
        run = replay(arrival, role_plan())
        expected = reference_role_periods(history)
        assert [(p.start.order_key, p.end.order_key if p.end else None) for p in run.user.periods] == expected
        assert run.seats == int(bool(expected) and expected[-1][1] is None)
        for action in arrival:
            assert run.user.apply(run.plan, action).is_empty
