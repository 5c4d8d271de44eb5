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


# ---------------------------------------------------------------- how big a stored user gets

DYNAMODB_ITEM_BYTES = 400 * 1024  # DynamoDB's largest item (names and values, UTF-8)
# The most a stored lifecycle event holds: every version of the API refused more than 256
# characters for a user id or a group, and more than 50 roles of 64 characters (a character is at
# most 4 bytes in UTF-8; the API now also limits bytes, which only makes entries smaller).
STORED_ID_BYTES = 256 * 4
STORED_ROLES = 50
STORED_ROLE_BYTES = 64 * 4
ORDER_KEY_BYTES = len("2026-01-01T00:00:00.000000Z#") + 128  # an event id: 128 ASCII characters
_STATUS_BYTES = max(len(status) for status in STATUS_AFTER_EVENT.values())
# DynamoDB's sizes: a list or a map is 3 bytes plus 1 per element plus its elements (a map's keys
# counted too); a null is 1 byte.
_LIST_OVERHEAD, _ELEMENT_OVERHEAD = 3, 1


def entry_bytes_bound() -> int:
    """The most one lifecycle entry takes as a map entry: its order key and ``{"status", "roles",
    "group"}``, each at its longest."""
    roles = _LIST_OVERHEAD + STORED_ROLES * (_ELEMENT_OVERHEAD + STORED_ROLE_BYTES)
    value = _LIST_OVERHEAD + 3 * _ELEMENT_OVERHEAD
    value += len("status") + _STATUS_BYTES + len("roles") + roles + len("group") + STORED_ID_BYTES
    return _ELEMENT_OVERHEAD + ORDER_KEY_BYTES + value


# A user's item keeps at most this many entries in its map; the others are items of their own
# (``store.users``). 24 entries at their longest, and the item's other attributes (keys of at most
# 545 bytes of id, the user id, the settled group and its order key), stay below 400 KB.
MAX_ENTRIES_IN_USER_ITEM = 24
_KEY_PART_BYTES = 545  # ``store.keys.key_part``'s longest
_USER_ITEM_OTHER_BYTES = (
    len("pk") + len("ORG#") + _KEY_PART_BYTES
    + len("sk") + len("USER#") + _KEY_PART_BYTES
    + len("user_id") + STORED_ID_BYTES
    + len("group") + STORED_ID_BYTES
    + len("group_at") + ORDER_KEY_BYTES
    + len("spilled") + 1
    + len("history") + _LIST_OVERHEAD
)  # fmt: skip


def user_item_bytes_bound() -> int:
    """The most a user's item in the directory takes."""
    return MAX_ENTRIES_IN_USER_ITEM * entry_bytes_bound() + _USER_ITEM_OTHER_BYTES


def entry_item_bytes_bound() -> int:
    """The most an entry kept as an item of its own takes: its keys (the sort key ends with the order
    key), the user id, the order key and the entry."""
    keys = len("pk") + len("ORG#") + _KEY_PART_BYTES + len("sk") + len("USERH#") + _KEY_PART_BYTES + 1 + ORDER_KEY_BYTES
    return keys + len("user_id") + STORED_ID_BYTES + len("at") + ORDER_KEY_BYTES + len("entry") + entry_bytes_bound()
