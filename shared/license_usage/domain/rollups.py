"""What the rollups precompute from one organization's day of events, and how a report adds
days up (SPEC §3, §6, §7). Pure: the store reads and writes these figures."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from license_usage.domain.consumption import SeatSwing
from license_usage.domain.events import counted_quantity
from license_usage.domain.timeframes import Window, iso_week_start

UNASSIGNED_GROUP = "unassigned"
LIFECYCLE_COUNTS = {
    "user.created": "added",
    "user.invited": "invited",
    "user.deactivated": "deactivated",
    "user.deleted": "deleted",
}
SEAT_CHANGES = {"seat.claimed": 1, "seat.released": -1}


@dataclass(frozen=True)
class DayEvent:
    """The parts of a stored event (or seat activity entry) the rollups use."""

    order_key: str
    type: str
    user_id: str | None = None
    goal_id: str | None = None
    quantity: int | None = None
    group: str | None = None
    plan_id: str | None = None  # seat activity only
    roles: tuple[str, ...] | None = None
    product: str | None = None
    instance_id: str | None = None
    session_id: str | None = None


@dataclass
class AiFigures:
    """SPEC §3: distinct goals evaluated, distinct goals with alignment suggestions, suggestions."""

    quality_check: set[str] = field(default_factory=set)
    suggest_alignment: set[str] = field(default_factory=set)
    suggest_goal: int = 0

    def add(self, other: AiFigures) -> None:
        self.quality_check |= other.quality_check
        self.suggest_alignment |= other.suggest_alignment
        self.suggest_goal += other.suggest_goal

    def by_type(self) -> dict[str, int]:
        return {
            "quality_check": len(self.quality_check),
            "suggest_alignment": len(self.suggest_alignment),
            "suggest_goal": self.suggest_goal,
        }

    @property
    def total(self) -> int:
        return sum(self.by_type().values())


@dataclass
class GroupFigures:
    active_users: set[str] = field(default_factory=set)
    ai: AiFigures = field(default_factory=AiFigures)
    session_ids: set[str] = field(default_factory=set)  # logins' session_id (one session each)
    loose_logins: int = 0  # logins without a session_id (a session each)
    instance_ids: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class DayDenials:
    """A plan's logins and claims refused by its hard limit on one UTC day (``seat.denied``
    entries): how many, which users (at most ``MAX_DENIED_USERS_KEPT``, the first in sorted order),
    and the order key of the latest."""

    denials: int
    user_ids: frozenset[str]
    last_order_key: str
    distinct_users: int  # all of the day's distinct users, even past the ids kept


MAX_DENIED_USERS_KEPT = 1000  # a day's denied user ids kept, the first in sorted order ...
MAX_DENIED_ID_BYTES = 100_000  # ... and at most this many bytes of them (an item holds 400 KB)


@dataclass(frozen=True)
class RecentDenials:
    """A hard-limited plan's logins and claims refused over the last 30 days, as of the last daily
    rollup (SPEC §11 hard_limit.denials): how many, by how many users, and the latest's order key."""

    denials: int = 0
    distinct_users: int = 0
    last_order_key: str | None = None


@dataclass(frozen=True)
class SeatFigures:
    """What the daily rollup keeps of a seats plan for the insights, beside its counter (whose
    item every claim writes, so it stays small): the first idle holders, and the recent refusals."""

    idle_user_ids: tuple[str, ...] = ()  # ``inactive_assignments(...).user_ids``
    recent_denials: RecentDenials = RecentDenials()


@dataclass
class DayFigures:
    ai: AiFigures = field(default_factory=AiFigures)
    lifecycle: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LIFECYCLE_COUNTS.values(), 0))
    groups: dict[str, GroupFigures] = field(default_factory=dict)
    seat_swings: dict[str, SeatSwing] = field(default_factory=dict)
    seat_denials: dict[str, DayDenials] = field(default_factory=dict)


def _count_ai(figures: AiFigures, event: DayEvent) -> None:
    if event.type == "ai.quality_check" and event.goal_id:
        figures.quality_check.add(event.goal_id)
    elif event.type == "ai.suggest_alignment" and event.goal_id:
        figures.suggest_alignment.add(event.goal_id)
    elif event.type == "ai.suggest_goal":
        figures.suggest_goal += counted_quantity(event.type, event.quantity) or 0


def _kept_ids(user_ids: Sequence[str]) -> list[str]:
    """The first ids, at most ``MAX_DENIED_USERS_KEPT`` and ``MAX_DENIED_ID_BYTES`` (UTF-8) of them."""
    kept: list[str] = []
    size = 0
    for user_id in user_ids[:MAX_DENIED_USERS_KEPT]:
        size += len(user_id.encode())
        if size > MAX_DENIED_ID_BYTES:
            break
        kept.append(user_id)
    return kept


def day_figures(events: Iterable[DayEvent], group_of_user: Mapping[str, str]) -> DayFigures:
    """One day of one organization, from its events in any order. An event's group is its own
    ``group``, else its user's group in the directory, else ``unassigned``."""
    figures = DayFigures()
    seat_steps: dict[str, list[tuple[str, int]]] = defaultdict(list)
    denied: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for event in events:
        group = event.group or (group_of_user.get(event.user_id) if event.user_id else None) or UNASSIGNED_GROUP
        if event.instance_id:
            figures.groups.setdefault(group, GroupFigures()).instance_ids.add(event.instance_id)
        if event.type == "user.login" and event.user_id:
            group_figures = figures.groups.setdefault(group, GroupFigures())
            if event.session_id:
                group_figures.session_ids.add(event.session_id)
            else:
                group_figures.loose_logins += 1
        if event.type.startswith("ai."):
            _count_ai(figures.ai, event)
            _count_ai(figures.groups.setdefault(group, GroupFigures()).ai, event)
        elif event.type == "user.login" and event.user_id:
            figures.groups.setdefault(group, GroupFigures()).active_users.add(event.user_id)
        elif event.type in SEAT_CHANGES and event.plan_id:
            seat_steps[event.plan_id].append((event.order_key, SEAT_CHANGES[event.type]))
        elif event.type == "seat.denied" and event.plan_id and event.user_id:
            denied[event.plan_id].append((event.order_key, event.user_id))
        if event.type in LIFECYCLE_COUNTS:
            figures.lifecycle[LIFECYCLE_COUNTS[event.type]] += 1
    for plan_id, steps in seat_steps.items():
        level = low = high = 0
        for _, step in sorted(steps):
            level += step
            low, high = min(low, level), max(high, level)
        figures.seat_swings[plan_id] = SeatSwing(low=low, high=high, net=level)
    for plan_id, refusals in denied.items():
        users = sorted({user_id for _, user_id in refusals})
        figures.seat_denials[plan_id] = DayDenials(
            denials=len(refusals),
            user_ids=frozenset(_kept_ids(users)),
            last_order_key=max(order_key for order_key, _ in refusals),
            distinct_users=len(users),
        )
    return figures


# ---------------------------------------------------------------- reports: adding days up


@dataclass(frozen=True)
class StoredDay:
    """A day's figures as the report reads them back (organization-wide, or one group's)."""

    day: date
    ai: AiFigures
    lifecycle: Mapping[str, int]
    active_users: frozenset[str] = frozenset()
    session_ids: frozenset[str] = frozenset()
    loose_logins: int = 0
    instance_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AiCounts:
    quality_check: int
    suggest_alignment: int
    suggest_goal: int


@dataclass(frozen=True, kw_only=True)
class AiWeek(AiCounts):
    week_start: str  # YYYY-MM-DD, a Monday
    total: int


@dataclass(frozen=True)
class AiActions:
    total: int
    by_type: AiCounts
    weekly: list[AiWeek]


@dataclass(frozen=True)
class LifecycleCounts:
    """SPEC §6 user activity: lifecycle events counted, and the distinct activity."""

    added: int = 0
    invited: int = 0
    deactivated: int = 0
    deleted: int = 0
    active_users: int = 0  # distinct users with a login
    sessions: int = 0  # logins, those of one session_id counted once
    instances: int = 0  # distinct instance_ids seen


@dataclass(frozen=True, kw_only=True)
class LifecycleWeek(LifecycleCounts):
    week_start: str


@dataclass(frozen=True)
class UserActivity:
    totals: LifecycleCounts
    weekly: list[LifecycleWeek]


@dataclass(frozen=True)
class GroupConsumption:
    group: str
    active_users: int
    ai_actions: int


@dataclass(frozen=True)
class ActivitySections:
    """The report's sections that add days up (SPEC §6), as the rollup precomputes them."""

    user_activity: UserActivity
    consumption_by_group: list[GroupConsumption]
    ai_actions: AiActions

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ActivitySections:
        activity, ai = raw["user_activity"], raw["ai_actions"]
        return cls(
            user_activity=UserActivity(
                totals=LifecycleCounts(**activity["totals"]),
                weekly=[LifecycleWeek(**week) for week in activity["weekly"]],
            ),
            consumption_by_group=[GroupConsumption(**row) for row in raw["consumption_by_group"]],
            ai_actions=AiActions(
                total=ai["total"], by_type=AiCounts(**ai["by_type"]), weekly=[AiWeek(**week) for week in ai["weekly"]]
            ),
        )


def _ai_counts(figures: AiFigures) -> AiCounts:
    return AiCounts(**figures.by_type())


def ai_actions(days: Sequence[StoredDay], window: Window) -> AiActions:
    """SPEC §3 over the window and per ISO week: distinct within each, so weeks need not add up."""
    total = AiFigures()
    weeks: dict[date, AiFigures] = {}
    for stored in days:
        total.add(stored.ai)
        weeks.setdefault(iso_week_start(stored.day), AiFigures()).add(stored.ai)
    weekly = []
    for week in window_weeks(window):
        figures = weeks.get(week, AiFigures())
        weekly.append(AiWeek(week_start=week.isoformat(), **figures.by_type(), total=figures.total))
    return AiActions(total=total.total, by_type=_ai_counts(total), weekly=weekly)


@dataclass
class _Distinct:
    users: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    loose_logins: int = 0
    instances: set[str] = field(default_factory=set)

    def add(self, stored: StoredDay) -> None:
        self.users |= stored.active_users
        self.sessions |= stored.session_ids
        self.loose_logins += stored.loose_logins
        self.instances |= stored.instance_ids

    def counts(self) -> dict[str, int]:
        return {
            "active_users": len(self.users),
            "sessions": len(self.sessions) + self.loose_logins,
            "instances": len(self.instances),
        }


def user_activity(
    days: Sequence[StoredDay], window: Window, group_days: Mapping[str, Sequence[StoredDay]] | None = None
) -> UserActivity:
    """SPEC §6: lifecycle events counted in the window and per ISO week, and the distinct active
    users, sessions and instances of each (from the days' per-group figures: distinct within the
    window and within each week, so weeks need not add up)."""
    names = tuple(LIFECYCLE_COUNTS.values())
    totals = dict.fromkeys(names, 0)
    weeks: dict[date, dict[str, int]] = {}
    for stored in days:
        week = weeks.setdefault(iso_week_start(stored.day), dict.fromkeys(names, 0))
        for name in names:
            totals[name] += stored.lifecycle.get(name, 0)
            week[name] += stored.lifecycle.get(name, 0)
    overall = _Distinct()
    weekly_distinct: dict[date, _Distinct] = defaultdict(_Distinct)
    for stored_days in (group_days or {}).values():
        for stored in stored_days:
            overall.add(stored)
            weekly_distinct[iso_week_start(stored.day)].add(stored)
    weekly = [
        LifecycleWeek(
            week_start=w.isoformat(),
            **weeks.get(w, dict.fromkeys(names, 0)),
            **weekly_distinct.get(w, _Distinct()).counts(),
        )
        for w in window_weeks(window)
    ]
    return UserActivity(totals=LifecycleCounts(**totals, **overall.counts()), weekly=weekly)


def consumption_by_group(group_days: Mapping[str, Sequence[StoredDay]]) -> list[GroupConsumption]:
    """Per group: distinct users who logged in during the window, and AI actions (SPEC §3 rules)."""
    rows = []
    for group in sorted(group_days):
        users: set[str] = set()
        ai = AiFigures()
        for stored in group_days[group]:
            users |= stored.active_users
            ai.add(stored.ai)
        rows.append(GroupConsumption(group=group, active_users=len(users), ai_actions=ai.total))
    return rows


def window_weeks(window: Window) -> list[date]:
    """The ISO weeks the window touches, by their Monday (the first may start before the window)."""
    weeks = []
    week = iso_week_start(window.first)
    while week <= window.last:
        weeks.append(week)
        if week > date.max - timedelta(days=7):
            break  # the last week of 9999
        week += timedelta(days=7)
    return weeks


def rollup_lag_seconds(now: datetime, marked_at: Iterable[datetime]) -> float | None:
    """How late a daily rollup settled the marks it settled: a day marked at some instant is due
    at the first midnight UTC after it (the daily rollup runs just after midnight), so a run at
    00:15 is 900 s late for every mark of the day before, and a mark older than a day is a day
    late more. The oldest mark decides; None when there were none; a run replayed before its
    marks were due is not late (0)."""
    marks = list(marked_at)
    if not marks:
        return None
    oldest = min(marks).astimezone(UTC)
    due = datetime.combine(oldest.date() + timedelta(days=1), time(0), tzinfo=UTC)
    return max(0.0, (now - due).total_seconds())


# ---------------------------------------------------------------- items bounded in bytes

DYNAMODB_ITEM_BYTES = 400 * 1024  # DynamoDB's largest item (attribute names and values, UTF-8)
# What grows with users, groups or events (a day's distinct ids, a day's roles, a timeframe's
# groups) is kept in parts of at most this many bytes, each an item with a few bounded attributes.
PART_BYTES = 300_000
STORED_TEXT_BYTES = 256 * 4  # a group, user id or goal id: every API version refused > 256 characters
_NUMBER_BYTES = 21  # DynamoDB's largest number
_KEY_PART_BYTES = 545  # ``store.keys.key_part``'s longest
_KEYS_BYTES = 2 * (len("pk") + len("ROLES#") + 2 * _KEY_PART_BYTES + 32)  # any rollup item's keys, generously
_DAY_NUMBERS = ("suggest_goal", "added", "invited", "deactivated", "deleted", "loose_logins")
MAX_WEEKS_IN_TIMEFRAME = 54  # the longest named timeframe is a year: at most 54 ISO weeks touched

T = TypeVar("T")


def json_bytes(value: object) -> int:
    """The bytes of ``value`` as a JSON attribute stores it (``json.dumps``' defaults)."""
    return len(json.dumps(value).encode())


def split_by_bytes(items: Iterable[T], cost: Callable[[T], int], budget: int = PART_BYTES) -> list[list[T]]:
    """``items`` in order, cut into parts whose costs add up to at most ``budget`` each (an item
    costing more than ``budget`` alone is a part of its own); no part when there are no items."""
    parts: list[list[T]] = []
    size = 0
    for item in items:
        item_cost = cost(item)
        if not parts or (size + item_cost > budget and size):
            parts.append([])
            size = 0
        parts[-1].append(item)
        size += item_cost
    return parts


def day_item_bytes_bound() -> int:
    """The most a ``DAILY#`` item takes: ``PART_BYTES`` of ids (each counted 3 bytes more than its
    UTF-8), its numbers, its group's name and its keys."""
    numbers = sum(len(name) + _NUMBER_BYTES for name in _DAY_NUMBERS)
    return PART_BYTES + numbers + len("group_name") + STORED_TEXT_BYTES + _KEYS_BYTES


def roles_item_bytes_bound() -> int:
    """The most a ``ROLES#`` item takes: ``PART_BYTES`` of counts as JSON, and its keys."""
    return len("counts") + PART_BYTES + _KEYS_BYTES


def report_item_bytes_bound() -> int:
    """The most a ``REPORT#`` item takes: ``PART_BYTES`` of group rows as JSON, the user activity's
    and AI actions' totals and weekly rows (each at its largest numbers), and its keys."""
    number = len(str(2**63))
    lifecycle = _json_object_bound(LifecycleWeek, number) + 2
    ai = _json_object_bound(AiWeek, number) + 2
    fixed = 2 * (lifecycle + ai) + MAX_WEEKS_IN_TIMEFRAME * (lifecycle + ai) + 256  # totals, weeks, names
    return len("sections") + PART_BYTES + fixed + len("first") + len("last") + 20 + len("parts") + _KEYS_BYTES


def _json_object_bound(kind: type, number_chars: int) -> int:
    """The longest JSON object of a figures dataclass: each field's name, a 10-character text
    (a week's date) or a number of ``number_chars`` digits."""
    names = list(getattr(kind, "__dataclass_fields__", {}))
    return 2 + sum(len(json.dumps(name)) + 2 + max(12, number_chars) + 2 for name in names)


def denials_item_bytes_bound() -> int:
    """The most a ``SEATDENIED#`` item takes: ``MAX_DENIED_ID_BYTES`` of ids, its numbers, the
    latest order key (a timestamp and an event id of at most 128 characters), its keys."""
    order_key = len("2026-01-01T00:00:00.000000Z#") + 128
    numbers = len("denials") + len("distinct_users") + 2 * _NUMBER_BYTES
    return MAX_DENIED_ID_BYTES + MAX_DENIED_USERS_KEPT * 3 + numbers + len("last_order_key") + order_key + _KEYS_BYTES


# ---------------------------------------------------------------- quarantine

ORGANIZATION_SCOPE = "organization"  # an organization's steps across its days (directory, roles…)
SETTLE_SCOPE_PREFIX = "settle:"  # ``settle:<step>``: one of what the daily run settles after the days
MAX_REASON_CHARS = 1000


@dataclass(frozen=True)
class Quarantine:
    """A day, or a step of an organization, that the rollup could not do (and will try again on
    every run until it can): why, since when, how often it was tried."""

    org_id: str
    scope: str  # a day (YYYY-MM-DD), ``organization`` or ``settle:<step>``
    reason: str
    first_at: str
    last_at: str
    attempts: int

    @property
    def label(self) -> str:
        return f"{self.org_id}/{self.scope}"


def quarantine_reason(step: str, error: BaseException) -> str:
    """What failed and how, in at most ``MAX_REASON_CHARS`` characters (the error's own text may
    hold what the organization sent: it is cut, never left out, so the runbook can find it)."""
    text = f"{step}: {type(error).__name__}: {error}"
    return text if len(text) <= MAX_REASON_CHARS else f"{text[: MAX_REASON_CHARS - 1]}…"
