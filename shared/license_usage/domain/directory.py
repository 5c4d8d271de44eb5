"""The users directory (SPEC §4, §6): what lifecycle events say about a user (status, roles,
group), and a user's state at any instant, read from their history as the latest entry per aspect,
so events arriving late or out of order settle the same way as events arriving in order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from license_usage.domain.events import TYPES_WITH_ROLES, USER_LIFECYCLE_TYPES, UsageEvent

# SPEC §6: a user's status follows their lifecycle events.
STATUS_AFTER_EVENT = {
    "user.invited": "invited",
    "user.created": "active",
    "user.activated": "active",
    "user.reactivated": "active",
    "user.deactivated": "deactivated",
    "user.deleted": "deleted",
}


@dataclass(frozen=True)
class DirectoryChange:
    """One entry of a user's lifecycle history: what one event set (None: says nothing about
    that aspect)."""

    user_id: str
    order_key: str
    status: str | None
    roles: tuple[str, ...] | None
    group: str | None


def directory_change(event: UsageEvent) -> DirectoryChange | None:
    """The users-directory change a lifecycle event makes; logins and other events make none."""
    return lifecycle_change(event.type, event.user_id, event.order_key, event.roles, event.group)


def lifecycle_change(
    event_type: str, user_id: str | None, order_key: str, roles: tuple[str, ...] | None, group: str | None
) -> DirectoryChange | None:
    if user_id is None or event_type == "user.login" or event_type not in USER_LIFECYCLE_TYPES:
        return None
    change = DirectoryChange(
        user_id=user_id,
        order_key=order_key,
        status=STATUS_AFTER_EVENT.get(event_type),
        roles=roles if event_type in TYPES_WITH_ROLES else None,
        group=group,
    )
    if change.status is None and change.roles is None and change.group is None:
        return None
    return change


@dataclass(frozen=True)
class UserState:
    status: str | None = None
    roles: tuple[str, ...] = ()
    group: str | None = None


@dataclass(frozen=True)
class LatestGroup:
    """The group on the user's latest event that carries one (SPEC §4), as the rollup settled it."""

    order_key: str
    group: str


def state_before(
    history: Iterable[DirectoryChange], end_key: str = "~", settled_group: LatestGroup | None = None
) -> UserState:
    """A user's status, roles and group as the latest events before ``end_key`` left them
    (SPEC §6), whatever order the events arrived in. SPEC §4: a user's group is the one on their
    latest event that carries one: ``settled_group`` brings in the events that are not lifecycle
    events (logins, AI actions), which the rollup reads."""
    latest: dict[str, tuple[str, object]] = {}
    if settled_group is not None and settled_group.order_key < end_key:
        latest["group"] = (settled_group.order_key, settled_group.group)
    for entry in history:
        if entry.order_key >= end_key:
            continue
        for aspect, value in (("status", entry.status), ("roles", entry.roles), ("group", entry.group)):
            if value is not None and entry.order_key > latest.get(aspect, ("", None))[0]:
                latest[aspect] = (entry.order_key, value)
    status, roles, group = (latest.get(aspect, ("", None))[1] for aspect in ("status", "roles", "group"))
    return UserState(
        status=status if isinstance(status, str) else None,
        roles=roles if isinstance(roles, tuple) else (),
        group=group if isinstance(group, str) else None,
    )


def latest_groups(events: Iterable[tuple[str, str | None, str | None]]) -> dict[str, LatestGroup]:
    """user → the latest of these (order key, user, group) events that carries a group."""
    latest: dict[str, LatestGroup] = {}
    for order_key, user_id, group in events:
        if user_id and group and (user_id not in latest or latest[user_id].order_key < order_key):
            latest[user_id] = LatestGroup(order_key, group)
    return latest


def roles_distribution(histories: Iterable[Sequence[DirectoryChange]], end_key: str) -> dict[str, int]:
    """SPEC §6: per role, the users holding it whose status is active at the end of the window."""
    counts: dict[str, int] = defaultdict(int)
    for history in histories:
        state = state_before(history, end_key)
        if state.status == "active":
            for role in set(state.roles):
                counts[role] += 1
    return dict(sorted(counts.items()))


def end_of_day_key(day: date) -> str:
    """The order key of the instant a UTC day ends (events before it belong to the day or earlier)."""
    return f"{(day + timedelta(days=1)).isoformat()}T00:00:00.000000Z"
