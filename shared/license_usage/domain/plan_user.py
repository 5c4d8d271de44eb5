"""One user's consumption of one plan (SPEC §2, §4): the aggregate every consuming event goes
through, at ingest, at a seat claim or release through the API, and in the rollups.

``PlanUser.apply(plan, action)`` is pure: it returns the ``Change`` that the action makes (the
user's new state, seats in use, the day and month tallies, the activity entries), and the store
commits that change in one transaction conditioned on the version it read.

Time order, exactly: the state is a function of the *set* of marks (never of their arrival
order). For seats it keeps every release and, per stretch between two releases, the earliest
login or claim, which is where the seat period of that stretch starts (``seat_periods``). A
later login in the same stretch changes nothing and is not kept; should a late release split
the stretch, the use case looks the earliest login after the release up in the raw events
(``later_login_window``) and hands it to ``apply``."""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from operator import attrgetter

from license_usage.domain.directory import ORDER_KEY_BYTES, STORED_ID_BYTES, DirectoryChange, state_before
from license_usage.domain.errors import Conflict, TryAgain
from license_usage.domain.plans import Enforcement, Plan, PlanMonth, PlanType, plan_months
from license_usage.domain.timestamps import format_utc, order_key_instant

RELEASING_EVENT_TYPES = frozenset({"user.deactivated", "user.deleted"})


class SeatLimitReached(Conflict):
    """A hard-enforced plan has no seat left (SPEC §2: 409)."""

    code = "seat_limit_reached"


class ConsumptionConflict(TryAgain):
    """The user's state kept changing under concurrent writers; a resend completes the count."""

    code = "consumption_conflict"


class ActionKind(StrEnum):
    LOGIN = "login"  # user.login
    CLAIM = "claim"  # a seat claimed through the API
    RELEASE = "release"  # user.deactivated, user.deleted, a seat released through the API
    ROLE_GAIN = "role_gain"  # user.created / user.roles_changed giving one of the plan's assign_roles
    ROLE_LOSS = "role_loss"  # user.created / user.roles_changed giving none of them


class MarkKind(StrEnum):
    LOGIN = "login"
    CLAIM = "claim"
    RELEASE = "release"
    DENIED = "denied"  # a login or claim the hard limit refused: kept so a resend changes nothing
    ROLE_GAIN = "role_gain"
    ROLE_LOSS = "role_loss"
    FIRST_LOGIN = "first_login"  # plans that assign by role: the user's earliest login (takes no seat)


_mark_order = attrgetter("order_key", "kind", "source")  # Mark's own order, compared in C

TAKING = frozenset({MarkKind.LOGIN, MarkKind.CLAIM, MarkKind.ROLE_GAIN})
FREEING = frozenset({MarkKind.RELEASE, MarkKind.ROLE_LOSS})


class _Keyed:
    """Something placed in time by an order key ``<UTC timestamp>#<event id>``."""

    order_key: str

    @property
    def at(self) -> datetime:
        return order_key_instant(self.order_key)

    @property
    def event_id(self) -> str:
        return self.order_key.partition("#")[2]


@dataclass(frozen=True, order=True)
class Mark(_Keyed):
    """An event that decided (or may decide) the user's seat; ``source`` says who caused it
    (``event`` or an API caller)."""

    order_key: str
    kind: MarkKind
    source: str = "event"


@dataclass(frozen=True, order=True)
class Action(_Keyed):
    """What one event or API call asks of a user's consumption."""

    order_key: str
    kind: ActionKind
    source: str = "event"

    def mark(self, kind: MarkKind | None = None) -> Mark:
        return Mark(self.order_key, kind or MarkKind(self.kind.value), self.source)


@dataclass(frozen=True)
class SeatPeriod:
    """A seat held from ``start`` until ``end`` (None: still held, until the plan ends)."""

    start: Mark
    end: Mark | None


@dataclass(frozen=True, order=True)
class SeatStep:
    """A seat taken (``taking``) or freed at a mark: what the activity log shows and the day
    tallies count."""

    mark: Mark
    taking: bool

    @property
    def activity_type(self) -> str:
        return "seat.claimed" if self.taking else "seat.released"


@dataclass(frozen=True)
class Tally:
    """Additions to one day's or one month's counters."""

    active_users: int = 0  # months: users with a login (mau), credits used (mauc)
    credits_used: int = 0  # days (mauc): credits whose month's first login fell on the day
    seats_taken: int = 0  # days (seats)
    seats_released: int = 0
    seat_changes: int = 0  # days (seats): this change moved the day's seats (a swing is then stale)

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.active_users + other.active_users,
            self.credits_used + other.credits_used,
            self.seats_taken + other.seats_taken,
            self.seats_released + other.seats_released,
            max(self.seat_changes, other.seat_changes),
        )

    @property
    def is_zero(self) -> bool:
        return self == Tally()


def seat_periods(marks: Iterable[Mark]) -> tuple[SeatPeriod, ...]:
    """SPEC §2, the seat rule: in time order, a login, a claim or (on a plan that assigns by role)
    an event giving one of the plan's roles takes a seat when the user holds none; a release
    (deactivation, deletion, admin release) or an event leaving none of the roles frees it. A
    denied claim takes none. (A plan that assigns by role is given no login marks.)"""
    return _periods_in_order(sorted(marks, key=_mark_order))


def _periods_in_order(marks: Iterable[Mark]) -> tuple[SeatPeriod, ...]:
    """``seat_periods`` of marks already in time order (kinds compared by identity: a user's
    history may hold tens of thousands of marks, and each decision reads them all)."""
    periods: list[SeatPeriod] = []
    held_from: Mark | None = None
    login, claim, gain = MarkKind.LOGIN, MarkKind.CLAIM, MarkKind.ROLE_GAIN
    release, loss = MarkKind.RELEASE, MarkKind.ROLE_LOSS
    for mark in marks:
        kind = mark.kind
        if held_from is None:
            if kind is login or kind is claim or kind is gain:
                held_from = mark
        elif kind is release or kind is loss:
            periods.append(SeatPeriod(held_from, mark))
            held_from = None
    if held_from is not None:
        periods.append(SeatPeriod(held_from, None))
    return tuple(periods)


def _step_keys(periods: Iterable[SeatPeriod]) -> dict[tuple[str, MarkKind, str, bool], SeatStep]:
    """The seat steps of ``periods`` by what makes a step equal to another (its mark, and whether it
    takes the seat), so that two decisions' steps compare by hashing plain tuples."""
    steps = {}
    for period in periods:
        start = period.start
        steps[(start.order_key, start.kind, start.source, True)] = SeatStep(start, taking=True)
        if period.end is not None:
            end = period.end
            steps[(end.order_key, end.kind, end.source, False)] = SeatStep(end, taking=False)
    return steps


def _with(marks: Iterable[Mark], added: Iterable[Mark]) -> list[Mark]:
    """``marks`` and ``added`` in time order, each mark once (the marks kept are sorted already, so
    this costs a pass over them, not a sort)."""
    merged = sorted([*marks, *added], key=_mark_order)
    keys = list(map(_mark_order, merged))
    return [mark for mark, key, previous in zip(merged, keys, [None, *keys], strict=False) if key != previous]


def _kept_marks(ordered: Sequence[Mark]) -> tuple[Mark, ...]:
    """What must be remembered of ``ordered`` (in time order, each mark once): every release,
    denial and role event (each decides the seat from its instant on), and the logins and claims
    that start a seat period (a later login of a stretch that already has a seat decides nothing)."""
    starts = {id(period.start) for period in _periods_in_order(ordered)}
    login, claim = MarkKind.LOGIN, MarkKind.CLAIM
    return tuple(m for m in ordered if (m.kind is not login and m.kind is not claim) or id(m) in starts)


# ---------------------------------------------------------------------- how the marks are kept

# A user's marks grow with what they do (a user a hard limit refused 20,000 times has 20,000 denied
# marks, and each role change on a plan that assigns by role is one), and every one of them may
# still decide a figure (a resend, a late event). So none is dropped: the store keeps the newest on
# the user's item, at most ``USER_ITEM_MARKS_BYTES``, and the older ones in parts of their own, at
# most ``PART_MARKS_BYTES`` each (``store.plan_users``). ``PlanUser.mark_parts`` says where they
# are: the first order key of each part, oldest first, then the user's item's; empty while the
# user's item holds them all. A mark belongs to the last of them at or before its order key. Only
# ``PlanUser.apply`` changes it, and only where the marks changed, so a commit rewrites the user's
# item and the few parts the action touched (docs/decisions.md, 2026-12-08, plan users).
USER_ITEM_MARKS_BYTES = 40_000
PART_MARKS_BYTES = 100_000
# A mark's source is ``event`` or an API caller, ``<role>:<subject>``; a subject is an API key's id
# or a JWT's ``sub``, which a token of at most 8,192 characters (``authentication.MAX_TOKEN_CHARS``)
# holds in a payload of at most 6,144 bytes. JSON (``json.dumps``' defaults: ASCII) writes a byte
# of UTF-8 as at most 3 (a 4-byte character is two ``\uXXXX``).
MAX_SUBJECT_BYTES = 6144
_LONGEST_ROLE = "vendor_admin"


def _json_text_bytes(text: str) -> int:
    """``len(json.dumps(text))``, without encoding the usual text (printable ASCII, no escapes)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return len(json.dumps(text))


def mark_bytes(mark: Mark) -> int:
    """What one mark takes in the JSON list a stored item holds (``[key, kind, source]`` and the
    ``, `` before the next)."""
    return 2 + _json_text_bytes(mark.order_key) + 2 + len(mark.kind.value) + 2 + 2 + _json_text_bytes(mark.source) + 2


def max_mark_bytes() -> int:
    """The most one mark takes: an order key of the longest event id, the longest kind, and the
    longest source (a JWT subject at its longest, every byte escaped at its longest)."""
    longest_kind = max((kind.value for kind in MarkKind), key=len)
    source = len(_LONGEST_ROLE) + 1 + 3 * MAX_SUBJECT_BYTES
    return len(json.dumps(["k" * ORDER_KEY_BYTES, longest_kind, ""])) + source + 2


def max_marks_of_one_key_bytes() -> int:
    """The most the marks of one order key take (items are never cut between them). ``apply`` adds
    no mark under an order key it has (a resend changes nothing) except a login found in the raw
    events (``later_login``) beside that event's refusal, so an API call's key (``<now>#api.<uuid4>``)
    has one mark, and an event's at most one of each kind, each with the source ``event``."""
    longest_kind = max((kind.value for kind in MarkKind), key=len)
    event_mark = len(json.dumps(["k" * ORDER_KEY_BYTES, longest_kind, "event"])) + 2
    return max(max_mark_bytes(), len(MarkKind) * event_mark)


_order_key_of = attrgetter("order_key")


def placed_marks(parts: Sequence[str], marks: Sequence[Mark]) -> list[tuple[Mark, ...]]:
    """``marks`` (sorted) by the item that keeps them: one tuple per entry of ``parts`` (the user's
    item last); all on the user's item when ``parts`` is empty."""
    if not parts:
        return [tuple(marks)]
    cuts = [bisect.bisect_left(marks, lower, key=_order_key_of) for lower in parts[1:]]
    bounds = [0, *cuts, len(marks)]  # the first part also takes any mark before its first key
    return [tuple(marks[low:high]) for low, high in itertools.pairwise(bounds)]


def _marks_bytes(marks: Iterable[Mark]) -> int:
    return sum(mark_bytes(mark) for mark in marks)


def _pieces(marks: Sequence[Mark], budget: int) -> list[list[Mark]]:
    """``marks`` in order, cut into pieces of at most ``budget`` bytes each, never between two marks
    of one order key (a piece may exceed ``budget`` by those)."""
    pieces: list[list[Mark]] = []
    size = 0
    for mark in marks:
        cost = mark_bytes(mark)
        if not pieces or (size + cost > budget and pieces[-1][-1].order_key != mark.order_key):
            pieces.append([])
            size = 0
        pieces[-1].append(mark)
        size += cost
    return pieces


def _kept_on_item(marks: Sequence[Mark]) -> int:
    """How many of the newest ``marks`` the user's item keeps when it spills: at most half its room
    (and at least the marks of the newest order key), cut between two order keys."""
    kept, size = 0, 0
    for mark in reversed(marks):
        if kept and size + mark_bytes(mark) > USER_ITEM_MARKS_BYTES // 2 and mark.order_key != marks[-kept].order_key:
            break
        kept += 1
        size += mark_bytes(mark)
    return kept


def mark_parts_after(parts: tuple[str, ...], before: Sequence[Mark], after: Sequence[Mark]) -> tuple[str, ...]:
    """Where the marks ``after`` are kept, given where the marks ``before`` were (``parts``): an item
    whose marks did not change stays as it is; a part over ``PART_MARKS_BYTES`` is cut into parts of
    at most half that; when the user's item holds more than ``USER_ITEM_MARKS_BYTES``, its oldest
    marks go to new parts and it keeps at most half. Parts are never removed (one left empty costs a
    few bytes), so every part keeps its first order key, its key in the store."""
    old_groups = placed_marks(parts, before)
    new_groups = placed_marks(parts, after)
    lowers = list(parts) or [""]
    result: list[str] = []
    last = len(lowers) - 1
    for index, (lower, old, new) in enumerate(zip(lowers, old_groups, new_groups, strict=True)):
        changed = old != new
        if index < last:
            result.append(lower)
            if changed and _marks_bytes(new) > PART_MARKS_BYTES:
                result.extend(piece[0].order_key for piece in _pieces(new, PART_MARKS_BYTES // 2)[1:])
            continue
        kept = _kept_on_item(new) if changed and _marks_bytes(new) > USER_ITEM_MARKS_BYTES else len(new)
        if kept < len(new):
            spilled = _pieces(new[: len(new) - kept], PART_MARKS_BYTES // 2)
            result.append(lower)  # the first new part takes the user's item's range so far
            result.extend(piece[0].order_key for piece in spilled[1:])
            result.append(new[len(new) - kept].order_key)
        elif parts:
            result.append(lower)
    return tuple(result)


# The most a user's item and a part hold (DynamoDB's sizes: names and values in UTF-8; a number at
# most 21 bytes). The user's item: its keys (ids of at most 545 bytes in a key, ``store.keys``), the
# user id (up to 1,024 bytes stored by earlier versions), its marks, and a month plan's months:
# a plan lasts at most a year, so it touches at most 13 calendar months, each with the order key of
# its earliest login.
MAX_PLAN_MONTHS = 13
_KEY_PART_BYTES = 545
_NUMBER_BYTES = 21
_PARTITION_BYTES = len("pk") + len("PLAN#") + _KEY_PART_BYTES + len("#00")


def item_marks_bytes_bound() -> int:
    """The most the marks on a user's item take: ``USER_ITEM_MARKS_BYTES``, or after a spill half of
    it and the marks of one order key (never cut apart)."""
    return max(USER_ITEM_MARKS_BYTES, USER_ITEM_MARKS_BYTES // 2 + max_marks_of_one_key_bytes())


def part_marks_bytes_bound() -> int:
    """The most the marks of a part take: ``PART_MARKS_BYTES``, or once cut half of it and the marks
    of one order key."""
    return max(PART_MARKS_BYTES, PART_MARKS_BYTES // 2 + max_marks_of_one_key_bytes())


def plan_user_item_bytes_bound() -> int:
    """The most a plan user's item takes (``store.plan_users.PlanUserRecord``)."""
    month = len(json.dumps({"2026-01": "k" * ORDER_KEY_BYTES})) - 2 + len(", ")
    months = 2 + MAX_PLAN_MONTHS * month
    return (
        _PARTITION_BYTES
        + len("sk") + len("USER#") + _KEY_PART_BYTES
        + len("user_id") + STORED_ID_BYTES
        + len("version") + _NUMBER_BYTES
        + len("marks") + item_marks_bytes_bound()
        + len("months") + months
        + len("last_login") + ORDER_KEY_BYTES
        + len("parts") + _NUMBER_BYTES
        + len("marks_from") + ORDER_KEY_BYTES
    )  # fmt: skip


def plan_user_part_bytes_bound() -> int:
    """The most a part of a plan user's marks takes (``store.plan_users.PlanUserPartRecord``)."""
    return (
        _PARTITION_BYTES
        + len("sk") + len("TIMELINE#") + _KEY_PART_BYTES + 1 + ORDER_KEY_BYTES
        + len("user_id") + STORED_ID_BYTES
        + len("first") + ORDER_KEY_BYTES
        + len("marks") + part_marks_bytes_bound()
    )  # fmt: skip


def day_of(order_key: str) -> str:
    return order_key[:10]


def month_of_key(order_key: str) -> str:
    return order_key[:7]


@dataclass(frozen=True)
class Change:
    """What one action changes; ``is_empty`` when nothing needs writing."""

    before: PlanUser
    after: PlanUser
    seats_delta: int = 0  # seats in use now
    steps_added: tuple[SeatStep, ...] = ()
    steps_removed: tuple[SeatStep, ...] = ()
    days: Mapping[str, Tally] = field(default_factory=dict)  # YYYY-MM-DD
    months: Mapping[str, Tally] = field(default_factory=dict)  # YYYY-MM
    denied: Mark | None = None

    @property
    def is_empty(self) -> bool:
        # last_login alone is settled by the rollup: a repeat login writes nothing.
        return replace(self.after, last_login=self.before.last_login) == self.before

    @property
    def takes_seat(self) -> bool:
        return self.seats_delta > 0


@dataclass(frozen=True)
class LaterLoginWindow:
    """The stretch after a release in which the user's earliest login takes the seat again:
    order keys in (``after``, ``before``), ``before`` None for no end."""

    after: str
    before: str | None


@dataclass(frozen=True)
class PlanUser:
    """What one user consumed of one plan. ``version`` counts commits (optimistic concurrency)."""

    plan_id: str
    user_id: str
    version: int = 0
    marks: tuple[Mark, ...] = ()  # seats plans, sorted
    months: Mapping[str, str] = field(default_factory=dict)  # mau, mauc: month → its earliest login
    last_login: str | None = None  # order key; exact once the day's rollup ran
    # Where the store keeps ``marks`` (see ``mark_parts_after``): decisions carry it, never read it.
    mark_parts: tuple[str, ...] = field(default=(), compare=False)

    # ------------------------------------------------------------------ what follows from it

    @cached_property
    def periods(self) -> tuple[SeatPeriod, ...]:
        return seat_periods(self.marks)

    @property
    def holds_seat(self) -> bool:
        periods = self.periods
        return bool(periods) and periods[-1].end is None

    @property
    def seat_reason(self) -> str | None:
        """Why the user holds a seat now: ``login``, ``role`` or ``claim`` (None: no seat)."""
        periods = self.periods
        if not periods or periods[-1].end is not None:
            return None
        return {MarkKind.LOGIN: "login", MarkKind.ROLE_GAIN: "role", MarkKind.CLAIM: "claim"}[periods[-1].start.kind]

    @property
    def first_login(self) -> str | None:
        logins = [
            m.order_key for m in self.marks if m.kind in (MarkKind.LOGIN, MarkKind.FIRST_LOGIN) or _denied_login(m)
        ]
        logins += list(self.months.values())
        return min(logins, default=None)

    def seat_months(self, plan: Plan, now: datetime) -> set[str]:
        """The plan months in which the user held a seat at some instant (users CSV flags);
        a seat still held counts up to ``now``, never in months not yet begun."""
        months: list[PlanMonth] = plan_months(plan.start, plan.end)
        held: set[str] = set()
        for period in self.periods:
            start = period.start.at
            end = period.end.at if period.end else min(plan.end, now)
            held.update(m.month for m in months if m.starts_at <= end and start < m.ends_at and m.starts_at <= now)
        return held

    def consumed_months(self) -> set[str]:
        return set(self.months)

    def consumes_at(self, plan: Plan, at: datetime) -> bool:
        """Holds a seat at ``at`` (seats), or is active in the plan month containing it (mau, mauc)."""
        if plan.type is PlanType.SEATS:
            return any(p.start.at <= at and (p.end is None or at < p.end.at) for p in self.periods)
        return at.strftime("%Y-%m") in self.months

    # ------------------------------------------------------------------ deciding

    def later_login_window(self, plan: Plan, action: Action) -> LaterLoginWindow | None:
        """For a release that ends a seat period begun before it: the stretch in which a login
        the aggregate did not keep would take the seat again (the use case looks it up)."""
        if plan.type is not PlanType.SEATS or plan.assigns_by_role or action.kind is not ActionKind.RELEASE:
            return None  # a plan that assigns by role keeps every event that decides its seats
        if any(m.order_key == action.order_key for m in self.marks):
            return None  # already applied
        releases = [m.order_key for m in self.marks if m.kind is MarkKind.RELEASE]
        index = bisect.bisect_right(releases, action.order_key)
        previous = releases[index - 1] if index else ""
        following = releases[index] if index < len(releases) else None
        started_before = any(
            m.kind in (MarkKind.LOGIN, MarkKind.CLAIM) and previous < m.order_key < action.order_key for m in self.marks
        )
        return LaterLoginWindow(action.order_key, following) if started_before else None

    def apply(self, plan: Plan, action: Action, *, seat_free: bool = True, later_login: str | None = None) -> Change:
        """The change ``action`` makes. ``seat_free``: whether a hard limit still has a seat for a
        claim now (the commit's condition finds out; see ``usecases.consumption``).
        ``later_login``: the earliest login in ``later_login_window``, if any."""
        if plan.type is PlanType.SEATS:
            change = self._apply_seats(plan, action, seat_free, later_login)
        else:
            change = self._apply_months(plan, action)
        if change.after.marks == self.marks:
            return change
        parts = mark_parts_after(self.mark_parts, self.marks, change.after.marks)
        return replace(change, after=replace(change.after, mark_parts=parts))

    def _apply_months(self, plan: Plan, action: Action) -> Change:
        """SPEC §2 mau and mauc: a user counts once per plan month with a login; mauc's credit is
        placed on the day of the month's earliest login (the forecast's rate)."""
        if action.kind is not ActionKind.LOGIN:
            return Change(self, self)
        month = month_of_key(action.order_key)
        earlier = self.months.get(month)
        last = max(filter(None, (self.last_login, action.order_key)))
        if earlier is not None and earlier <= action.order_key:
            return Change(self, replace(self, last_login=last))
        after = replace(self, months={**self.months, month: action.order_key}, last_login=last)
        months: dict[str, Tally] = {}
        days: dict[str, Tally] = {}
        if earlier is None:
            months[month] = Tally(active_users=1)
        if plan.type is PlanType.MAUC:
            days[day_of(action.order_key)] = Tally(credits_used=1)
            if earlier is not None:
                days[day_of(earlier)] = days.get(day_of(earlier), Tally()) + Tally(credits_used=-1)
        days = {day: tally for day, tally in days.items() if not tally.is_zero}
        return Change(self, after, days=days, months=months)

    def _apply_seats(self, plan: Plan, action: Action, seat_free: bool, later_login: str | None) -> Change:
        if any(m.order_key == action.order_key for m in self.marks):
            return Change(self, self)  # applied before: a resend changes nothing
        if plan.assigns_by_role and action.kind is ActionKind.LOGIN:
            # SPEC §2: on such a plan logins take no seat; the earliest is kept (the users list's
            # first_login), the latest settled by the rollup.
            latest = max(filter(None, (self.last_login, action.order_key)))
            first = [m for m in self.marks if m.kind is MarkKind.FIRST_LOGIN]
            if first and first[0].order_key <= action.order_key:
                return Change(self, replace(self, last_login=latest))
            kept = (*(m for m in self.marks if m.kind is not MarkKind.FIRST_LOGIN), action.mark(MarkKind.FIRST_LOGIN))
            return Change(self, replace(self, marks=tuple(sorted(kept, key=_mark_order)), last_login=latest))
        added = [action.mark()]
        if later_login is not None:
            added.append(Mark(later_login, MarkKind.LOGIN))
        marks = _kept_marks(_with(self.marks, added))
        last = self.last_login
        if action.kind is ActionKind.LOGIN:
            last = max(filter(None, (last, action.order_key)))
        after = replace(self, marks=marks, last_login=last)
        delta = int(after.holds_seat) - int(self.holds_seat)
        if delta > 0 and plan.enforcement is Enforcement.HARD and not seat_free:
            denied = action.mark(MarkKind.DENIED)
            refused = _kept_marks(_with(self.marks, [denied]))
            return Change(self, replace(self, marks=refused, last_login=last), denied=denied)
        before_steps, after_steps = _step_keys(self.periods), _step_keys(after.periods)
        steps_added = tuple(sorted(step for key, step in after_steps.items() if key not in before_steps))
        steps_removed = tuple(sorted(step for key, step in before_steps.items() if key not in after_steps))
        days: dict[str, Tally] = {}
        for steps, sign in ((steps_added, 1), (steps_removed, -1)):
            for step in steps:
                tally = (
                    Tally(seats_taken=sign, seat_changes=1)
                    if step.taking
                    else Tally(seats_released=sign, seat_changes=1)
                )
                days[day_of(step.mark.order_key)] = days.get(day_of(step.mark.order_key), Tally()) + tally
        days = {day: tally for day, tally in days.items() if not tally.is_zero}
        return Change(self, after, seats_delta=delta, steps_added=steps_added, steps_removed=steps_removed, days=days)


def _denied_login(mark: Mark) -> bool:
    return mark.kind is MarkKind.DENIED and mark.source == "event"


# ---------------------------------------------------------------------- which plans an event touches


ROLE_EVENT_TYPES = frozenset({"user.created", "user.roles_changed"})


def action_of_event(event_type: str, order_key: str, plan: Plan, roles: tuple[str, ...] | None = None) -> Action | None:
    """SPEC §2: logins consume; deactivations and deletions free seats; on a plan that assigns by
    role, an event giving one of its roles takes a seat and one leaving none of them frees it."""
    if event_type == "user.login":
        return Action(order_key, ActionKind.LOGIN)
    if event_type in RELEASING_EVENT_TYPES:
        return Action(order_key, ActionKind.RELEASE)
    if event_type in ROLE_EVENT_TYPES and plan.assigns_by_role and roles is not None:
        holds_role = bool(set(roles) & set(plan.assign_roles))
        return Action(order_key, ActionKind.ROLE_GAIN if holds_role else ActionKind.ROLE_LOSS)
    return None


def plans_consumed_by(event_type: str, product: str | None, instant: datetime, plans: Iterable[Plan]) -> list[Plan]:
    """SPEC §2: a login consumes from the plans of its product that cover its instant; a
    deactivation or deletion frees the user's seats (in its product's plans when it names one);
    a role event decides the seats of the plans that assign by role (likewise)."""
    if event_type == "user.login":
        return [p for p in plans if p.product == product and p.covers(instant)]
    if event_type in RELEASING_EVENT_TYPES or event_type in ROLE_EVENT_TYPES:
        by_role_only = event_type in ROLE_EVENT_TYPES
        return [
            p
            for p in plans
            if p.type is PlanType.SEATS
            and (p.assigns_by_role or not by_role_only)
            and (product is None or p.product == product)
            and p.covers(instant)
        ]
    return []


def latest_logins(logins: Iterable[tuple[str, str, str | None]], plans: Iterable[Plan]) -> dict[tuple[str, str], str]:
    """(plan_id, user_id) → the latest of these logins (order key, user, product) in each plan
    (the rollup settles ``last_login`` with it)."""
    plans = list(plans)
    latest: dict[tuple[str, str], str] = {}
    for order_key, user_id, product in logins:
        for plan in plans_consumed_by("user.login", product, order_key_instant(order_key), plans):
            key = (plan.plan_id, user_id)
            if latest.get(key, "") < order_key:
                latest[key] = order_key
    return latest


def is_inactive_assignment(user: PlanUser, active_since: str) -> bool:
    """SPEC §2: a seat held by a user with no login in the last 30 days."""
    return user.holds_seat and (user.last_login is None or user.last_login < active_since)


@dataclass(frozen=True)
class CombinedLicenses:
    """SPEC §6 ``license_usage.combined``: users holding or using plans of these products at once."""

    products: tuple[str, ...]
    users: int


def combined_licenses(products_of_user: Mapping[str, set[str]]) -> list[CombinedLicenses]:
    """Per set of two or more products, how many users consume from all of them (and no other)."""
    counts: dict[tuple[str, ...], int] = {}
    for products in products_of_user.values():
        if len(products) >= 2:
            key = tuple(sorted(products))
            counts[key] = counts.get(key, 0) + 1
    return [CombinedLicenses(products, users) for products, users in sorted(counts.items())]


def role_plan_actions(plan: Plan, history: Iterable[DirectoryChange]) -> list[Action]:
    """What a user's lifecycle history means for a plan that assigns by role, however long before
    the plan was created it happened: a user holding one of its roles (and active) when the plan
    starts takes a seat at its start; the history's role events and releases inside the plan
    follow (SPEC §2: seats follow roles)."""
    history = list(history)
    start_key = format_utc(plan.start)
    end_key = format_utc(plan.end)
    actions = []
    before = state_before(history, start_key)
    if before.status == "active" and set(before.roles) & set(plan.assign_roles):
        actions.append(Action(f"{start_key}#plan-start.{plan.plan_id}", ActionKind.ROLE_GAIN))
    for change in history:
        if not start_key <= change.order_key < end_key:
            continue
        if change.status in ("deactivated", "deleted"):
            actions.append(Action(change.order_key, ActionKind.RELEASE))
        elif change.roles is not None:
            gains = bool(set(change.roles) & set(plan.assign_roles))
            actions.append(Action(change.order_key, ActionKind.ROLE_GAIN if gains else ActionKind.ROLE_LOSS))
    return sorted(actions)
