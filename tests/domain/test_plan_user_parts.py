"""A plan user's marks kept in bounded items (issue 20): however many marks one user gathers
(refusals of a hard limit, role changes, releases, API calls of the longest callers), arriving late
and out of order, the user's item and every part stay under their computed bounds, an action
rewrites only the items whose marks it changed, what is kept reads back whole, and where the marks
are kept never changes a decision (the same actions against an aggregate that keeps every mark on
its item give the same changes)."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from license_usage.domain.directory import DYNAMODB_ITEM_BYTES
from license_usage.domain.plan_user import (
    MAX_PLAN_MONTHS,
    MAX_SUBJECT_BYTES,
    PART_MARKS_BYTES,
    USER_ITEM_MARKS_BYTES,
    Action,
    ActionKind,
    Change,
    Mark,
    MarkKind,
    PlanUser,
    item_marks_bytes_bound,
    mark_bytes,
    mark_parts_after,
    max_mark_bytes,
    max_marks_of_one_key_bytes,
    part_marks_bytes_bound,
    placed_marks,
    plan_user_item_bytes_bound,
    plan_user_part_bytes_bound,
)
from license_usage.domain.plans import Enforcement, Plan, PlanType, one_year_after, plan_months
from license_usage.domain.timestamps import format_utc

START = datetime(2025, 8, 1, tzinfo=UTC)
END = datetime(2026, 8, 1, tzinfo=UTC)
WIDE = [chr(code) for code in range(0x1F300, 0x1F5FF)]  # 4 bytes in UTF-8, 12 in JSON


def seats_plan(enforcement: Enforcement = Enforcement.HARD, roles: tuple[str, ...] = ()) -> Plan:
    return Plan("pln_1", "org", PlanType.SEATS, "learn", 1, START, END, enforcement=enforcement, assign_roles=roles)


def order_key(instant: datetime, index: int) -> str:
    return f"{format_utc(instant)}#{index:06d}{'e' * 122}"  # event ids of 128 characters


def marks_json_bytes(marks: tuple[Mark, ...]) -> int:
    """What ``store.plan_users`` writes for these marks (a JSON list, ``json.dumps``' defaults)."""
    import json

    return len(json.dumps([[m.order_key, m.kind.value, m.source] for m in marks]))


@dataclass
class Shelf:
    """What the store keeps of one user: the user's item's marks and each part's by its first order
    key. A commit writes the user's item and the parts whose marks changed, as ``store.plan_users``
    does."""

    item: tuple[Mark, ...] = ()
    parts: dict[str, tuple[Mark, ...]] = field(default_factory=dict)

    def commit(self, change: Change) -> dict[str, tuple[Mark, ...]]:
        """Returns the parts written."""
        before, after = change.before, change.after
        old = dict(zip(before.mark_parts[:-1], placed_marks(before.mark_parts, before.marks)[:-1], strict=True))
        new = zip(after.mark_parts[:-1], placed_marks(after.mark_parts, after.marks)[:-1], strict=True)
        written = {first: marks for first, marks in new if old.get(first) != marks}
        self.parts.update(written)
        self.item = placed_marks(after.mark_parts, after.marks)[-1]
        return written

    def marks(self) -> tuple[Mark, ...]:
        return tuple(sorted({*self.item, *(m for part in self.parts.values() for m in part)}))


def lookup(user: PlanUser, plan: Plan, action: Action, arrived: list[Action]) -> str | None:
    """The earliest raw login in the window a late release opens (the use case reads raw events)."""
    window = user.later_login_window(plan, action)
    if window is None:
        return None
    found = [
        a.order_key
        for a in arrived
        if a.kind is ActionKind.LOGIN
        and window.after < a.order_key
        and (window.before is None or a.order_key < window.before)
    ]
    return min(found, default=None)


def history(rng: random.Random, plan: Plan, count: int) -> list[tuple[Action, bool]]:
    """``count`` actions of one user with a seat free or not: on a plan that assigns by role, role
    gains and losses and releases; otherwise logins (most refused), releases and now and then a
    claim or release through the API by a caller whose subject is as long as a token allows."""
    base = START + timedelta(days=10)
    actions = []
    for index in range(count):
        instant = base + timedelta(seconds=index * 37 + rng.randrange(30))
        draw = rng.random()
        if plan.assigns_by_role:
            kind = ActionKind.RELEASE if draw < 0.1 else rng.choice([ActionKind.ROLE_GAIN, ActionKind.ROLE_LOSS])
            actions.append((Action(order_key(instant, index), kind), True))
        elif draw < 0.02:
            subject = "".join(rng.choice(WIDE) for _ in range(MAX_SUBJECT_BYTES // 4))
            kind = rng.choice([ActionKind.CLAIM, ActionKind.RELEASE])
            actions.append((Action(f"{format_utc(instant)}#api.{index:032x}", kind, f"org_admin:{subject}"), True))
        else:
            kind = ActionKind.RELEASE if draw < 0.15 else ActionKind.LOGIN
            actions.append((Action(order_key(instant, index), kind), rng.random() < 0.2))
    return actions


def arrival_order(rng: random.Random, actions: list[tuple[Action, bool]]) -> list[tuple[Action, bool]]:
    """The newer half first, mostly in time order with a few late; then the older half, shuffled:
    late events that land in the first parts and make them grow."""
    half = len(actions) // 2
    newer = actions[half:]
    for _ in range(len(newer) // 10):
        i, j = rng.randrange(len(newer)), rng.randrange(len(newer))
        newer[i], newer[j] = newer[j], newer[i]
    older = actions[:half]
    rng.shuffle(older)
    return newer + older


@pytest.mark.parametrize("roles", [(), ("coach",)], ids=["hard_limit", "by_role"])
@pytest.mark.parametrize("seed", range(2))
def test_thousands_of_marks_arriving_out_of_order_stay_in_bounded_items_and_decide_as_if_on_one(
    roles: tuple[str, ...], seed: int
) -> None:
    rng = random.Random(seed)
    plan = seats_plan(Enforcement.HARD, roles)
    actions = history(rng, plan, 1200)
    user, reference, shelf, arrived = PlanUser("pln_1", "u1"), PlanUser("pln_1", "u1"), Shelf(), []
    parts_seen: set[str] = set()
    for action, seat_free in arrival_order(rng, actions):
        arrived.append(action)
        later = lookup(user, plan, action, arrived)
        change = user.apply(plan, action, seat_free=seat_free, later_login=later)
        # The same action on an aggregate whose marks were never split decides the same.
        expected = reference.apply(plan, action, seat_free=seat_free, later_login=later)
        assert replace(change, before=expected.before, after=expected.after) == expected
        assert (change.after.marks, change.after.months, change.after.last_login) == (
            expected.after.marks,
            expected.after.months,
            expected.after.last_login,
        )
        reference = replace(expected.after, mark_parts=())
        if change.is_empty:
            assert change.after.mark_parts == user.mark_parts
            user = change.after
            continue
        written = shelf.commit(change)
        user = replace(change.after, version=user.version + 1)
        # Every item bounded (those not written are as they were); parts only added; an action
        # rewrites few of them; what is kept reads back whole.
        assert marks_json_bytes(shelf.item) <= item_marks_bytes_bound()
        assert all(marks_json_bytes(part) <= part_marks_bytes_bound() for part in written.values())
        assert len(written) <= 6
        assert parts_seen <= set(shelf.parts)
        parts_seen = set(shelf.parts)
        assert list(user.mark_parts) == sorted(set(user.mark_parts))
        assert not user.mark_parts or user.mark_parts[0] == ""
        if len(arrived) % 50 == 0:
            assert shelf.marks() == user.marks
    assert shelf.marks() == user.marks
    # It did spill, and the late older half cut the first part (parts begin within its range).
    boundary = actions[len(actions) // 2][0].order_key
    assert len([first for first in shelf.parts if first and first < boundary]) >= 1
    assert sum(len(part) for part in shelf.parts.values()) + len(shelf.item) == len(user.marks)
    if plan.assigns_by_role:  # each role event is a mark: every one of them kept
        assert len(user.marks) == len(actions)


def denial(index: int, source: str = "event") -> Mark:
    return Mark(order_key(START + timedelta(days=20, seconds=index), index), MarkKind.DENIED, source)


def test_marks_stay_on_the_users_item_until_it_is_full_then_the_oldest_go_to_a_part() -> None:
    few = tuple(denial(index) for index in range(150))
    assert marks_json_bytes(few) < USER_ITEM_MARKS_BYTES
    assert mark_parts_after((), few[:-1], few) == ()
    many = tuple(denial(index) for index in range(250))
    assert marks_json_bytes(many) > USER_ITEM_MARKS_BYTES
    parts = mark_parts_after((), many[:-1], many)
    assert parts[0] == ""
    item = placed_marks(parts, many)[-1]
    assert item == many[-len(item) :]  # the newest stay on the user's item
    assert marks_json_bytes(item) <= USER_ITEM_MARKS_BYTES // 2
    assert [m for group in placed_marks(parts, many) for m in group] == list(many)


def test_a_late_mark_rewrites_only_its_part_and_a_full_part_is_cut_in_two() -> None:
    marks = tuple(denial(index) for index in range(0, 4000, 2))
    parts: tuple[str, ...] = ()
    for count in range(1, len(marks) + 1):
        parts = mark_parts_after(parts, marks[: count - 1], marks[:count])
    groups = placed_marks(parts, marks)
    late = denial(2001)  # between two marks of a part in the middle
    after = tuple(sorted((*marks, late)))
    same = mark_parts_after(parts, marks, after)
    assert same == parts
    changed = [i for i, (a, b) in enumerate(zip(groups, placed_marks(parts, after), strict=True)) if a != b]
    assert len(changed) == 1
    # Marks late enough to fill that part past its room cut it in two; the others stay as they were.
    index = changed[0]
    full = after
    for odd in range(2003, 4000, 2):
        if marks_json_bytes(placed_marks(parts, full)[index]) > PART_MARKS_BYTES:
            break
        full = tuple(sorted((*full, denial(odd))))
    cut = mark_parts_after(parts, after, full)
    assert set(parts) < set(cut)
    assert len(cut) == len(parts) + 1
    assert all(marks_json_bytes(group) <= PART_MARKS_BYTES for group in placed_marks(cut, full))


def test_a_refusal_and_the_login_that_later_takes_the_seat_under_one_order_key_are_never_cut_apart() -> None:
    marks = []
    for index in range(400):
        marks.append(denial(index))
        marks.append(Mark(denial(index).order_key, MarkKind.LOGIN))
    after = tuple(sorted(marks))
    parts = mark_parts_after((), after[:-1], after)
    groups = placed_marks(parts, after)
    for left, right in itertools.pairwise(groups):
        if left and right:
            assert left[-1].order_key != right[0].order_key
    assert marks_json_bytes(groups[-1]) <= item_marks_bytes_bound()


def test_the_longest_mark_is_an_api_callers_with_the_longest_subject_and_fits_half_an_item() -> None:
    from license_usage.authentication import MAX_TOKEN_CHARS

    assert MAX_SUBJECT_BYTES >= MAX_TOKEN_CHARS * 3 // 4  # a token's payload, subject included
    subject = "".join(WIDE[index % len(WIDE)] for index in range(MAX_SUBJECT_BYTES // 4))
    mark = Mark(order_key(START, 1), MarkKind.FIRST_LOGIN, f"vendor_admin:{subject}")
    assert mark_bytes(mark) <= max_mark_bytes()
    assert max_mark_bytes() - mark_bytes(mark) < 200
    assert max_marks_of_one_key_bytes() <= USER_ITEM_MARKS_BYTES // 2
    assert max_marks_of_one_key_bytes() <= PART_MARKS_BYTES // 2


def test_every_plan_user_item_is_bounded_far_below_400_kb() -> None:
    assert item_marks_bytes_bound() == USER_ITEM_MARKS_BYTES
    assert part_marks_bytes_bound() == PART_MARKS_BYTES
    assert plan_user_item_bytes_bound() < DYNAMODB_ITEM_BYTES // 8
    assert plan_user_part_bytes_bound() < DYNAMODB_ITEM_BYTES // 3
    # A plan lasts at most a year: its logins fall in at most 13 calendar months.
    starts = [
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 3, 15, 12, tzinfo=UTC),
        datetime(2024, 2, 29, tzinfo=UTC),
    ]
    assert max(len(plan_months(start, one_year_after(start))) for start in starts) == MAX_PLAN_MONTHS


def test_a_marks_bytes_are_its_json_in_the_stored_list_whatever_its_characters() -> None:
    import json

    rng = random.Random(3)
    alphabet = ["a", "#", " ", '"', "\\", "\x01", "\x7f", "é", "\u2028", WIDE[0]]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(30)))
        source = rng.choice(["event", f"org_admin:{text}", text])
        mark = Mark(f"{format_utc(START)}#{text}", rng.choice(list(MarkKind)), source)
        assert mark_bytes(mark) == len(json.dumps([mark.order_key, mark.kind.value, mark.source])) + len(", ")


def test_a_parts_key_at_the_longest_ids_stays_within_dynamodbs_key_limits() -> None:
    from license_usage.domain.identifiers import DYNAMODB_PARTITION_KEY_BYTES, DYNAMODB_SORT_KEY_BYTES
    from license_usage.store.keys import plan_user_part_key

    user = "".join(WIDE[index % len(WIDE)] for index in range(256))  # 1,024 bytes: stored by earlier versions
    pk, sk = plan_user_part_key("pln_0123456789abcdef", user, order_key(START, 1))
    assert len(pk.encode()) <= DYNAMODB_PARTITION_KEY_BYTES // 2
    assert len(sk.encode()) <= DYNAMODB_SORT_KEY_BYTES * 3 // 4
