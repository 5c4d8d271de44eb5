"""Usage events (SPEC §4): their types, the rules every event obeys, and what they mean for a
user's status (SPEC §6)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from license_usage.domain import identifiers
from license_usage.domain.timestamps import format_utc, utc_day

USER_LIFECYCLE_TYPES = frozenset(
    {
        "user.login",
        "user.invited",
        "user.created",
        "user.activated",
        "user.deactivated",
        "user.reactivated",
        "user.deleted",
        "user.roles_changed",
    }
)
# The lifecycle events that say something about the user in the directory (SPEC §6).
DIRECTORY_EVENT_TYPES = USER_LIFECYCLE_TYPES - {"user.login"}
AI_ACTION_TYPES = frozenset({"ai.quality_check", "ai.suggest_alignment", "ai.suggest_goal"})
EVENT_TYPES = USER_LIFECYCLE_TYPES | AI_ACTION_TYPES | {"feature.used", "license.refresh"}

# SPEC §4: types that name a user, and the AI actions that name a goal.
TYPES_NEEDING_USER = frozenset(t for t in EVENT_TYPES if t.startswith("user.")) | {"license.refresh"}
TYPES_NEEDING_GOAL = frozenset({"ai.quality_check", "ai.suggest_alignment"})
TYPES_WITH_ROLES = frozenset({"user.created", "user.roles_changed"})

# SPEC §5: what the entitlement activity log lists (raw events and the seat entries of consumption).
ACTIVITY_TYPES = frozenset(
    {
        "user.login",
        "seat.claimed",
        "seat.released",
        "seat.denied",
        "user.deactivated",
        "user.deleted",
        "license.refresh",
        "feature.used",
    }
)

MAX_EVENTS_PER_BATCH = 1000
MAX_BODY_BYTES = 1024 * 1024
MAX_PROPERTIES_BYTES = 4 * 1024
MAX_PROPERTIES_DEPTH = 32  # SPEC §4: nested at most 32 levels (the object itself is level 1)
MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_EVENT_AGE = timedelta(days=400)
# Raw events are kept past the latest possible late arrival, so a late event's whole day can
# always be recomputed exactly; after that only the rollups remain.
RAW_EVENT_RETENTION = MAX_EVENT_AGE + timedelta(days=25)

# What an event's item in the events table can take beyond its fields' own texts: every
# attribute's name, the timestamps, the numbers and the keys' fixed parts (about 400 bytes).
STORED_EVENT_OVERHEAD_BYTES = 1024
# Properties are stored as json.dumps writes them: a space after each ',' and ':' at most doubles
# the compact text that MAX_PROPERTIES_BYTES bounds (which already escapes non-ASCII).
_STORED_PROPERTIES_BYTES = 2 * MAX_PROPERTIES_BYTES
# The largest item a valid event can be, from its fields' limits (domain/identifiers.py): the
# organization and event ids appear in pk, day, at, org_id and event_id; source is a key id.
MAX_STORED_EVENT_BYTES = (
    STORED_EVENT_OVERHEAD_BYTES
    + 5 * (identifiers.MAX_ORG_ID_BYTES + identifiers.MAX_EVENT_ID_BYTES)
    + identifiers.USER_ID.max_bytes
    + identifiers.MAX_PRODUCT_BYTES
    + identifiers.MAX_ROLES * (identifiers.ROLE.max_bytes + 1)
    + identifiers.GOAL_ID.max_bytes
    + identifiers.FEATURE.max_bytes
    + identifiers.MAX_IP_BYTES
    + identifiers.GROUP.max_bytes
    + identifiers.INSTANCE_ID.max_bytes
    + identifiers.SESSION_ID.max_bytes
    + _STORED_PROPERTIES_BYTES
    + identifiers.MAX_KEY_ID_BYTES
)


@dataclass(frozen=True)
class UsageEvent:
    """One accepted event, its timestamp converted to UTC."""

    org_id: str
    id: str
    type: str
    timestamp: datetime
    received_at: datetime
    user_id: str | None = None
    product: str | None = None
    roles: tuple[str, ...] | None = None
    goal_id: str | None = None
    quantity: int | None = None
    feature: str | None = None
    ip: str | None = None
    group: str | None = None
    instance_id: str | None = None  # the device, machine or agent instance (SPEC §4)
    session_id: str | None = None  # logins with one session_id are one session (SPEC §6)
    properties: dict[str, Any] | None = field(default=None, hash=False)
    source: str | None = None  # the API key that sent it

    @property
    def order_key(self) -> str:
        """Orders events by instant, then id: late and out-of-order arrivals settle the same way."""
        return f"{format_utc(self.timestamp)}#{self.id}"

    @property
    def day(self) -> str:
        return utc_day(self.timestamp).isoformat()

    @property
    def expires_at(self) -> datetime:
        return self.timestamp + RAW_EVENT_RETENTION


def counted_quantity(event_type: str, quantity: int | None) -> int | None:
    """SPEC §3: ``ai.suggest_goal`` counts ``quantity`` goal suggestions, 1 when not given."""
    if event_type == "ai.suggest_goal" and quantity is None:
        return 1
    return quantity


def missing_fields(event_type: str, present: set[str]) -> list[str]:
    """The fields SPEC §3 and §4 require for this type of event that the event lacks."""
    required = set()
    if event_type in TYPES_NEEDING_USER:
        required.add("user_id")
    if event_type in TYPES_NEEDING_GOAL:
        required.add("goal_id")
    if event_type == "feature.used":
        required.add("feature")
    if event_type == "user.roles_changed":
        required.add("roles")
    return sorted(required - present)


def timestamp_problem(timestamp: datetime, now: datetime) -> str | None:
    """SPEC §4: not more than 5 minutes in the future, not older than 400 days."""
    if timestamp > now + MAX_FUTURE_SKEW:
        return "is more than 5 minutes in the future"
    if timestamp < now - MAX_EVENT_AGE:
        return "is older than 400 days"
    return None


def nesting_depth(value: object) -> int:
    """How deeply a JSON value nests objects and arrays (a scalar is 0, ``{}`` 1), without
    recursion, so that no stored value can exhaust the stack of whoever reads it."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: list[object] = list(node.values())
        elif isinstance(node, list):
            children = list(node)
        else:
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def stored_event_bytes(event: UsageEvent) -> int:
    """An upper bound of ``event``'s item in the events table, measured the way
    MAX_STORED_EVENT_BYTES is: what ingest checks before its first write, so that no batch can
    fail halfway on an item DynamoDB refuses (400 KB)."""
    texts = [
        event.user_id,
        event.product,
        event.goal_id,
        event.feature,
        event.ip,
        event.group,
        event.instance_id,
        event.session_id,
        event.source,
        *(event.roles or ()),
    ]
    ids = 5 * (identifiers.utf8_bytes(event.org_id) + identifiers.utf8_bytes(event.id))
    properties = len(json.dumps(event.properties)) if event.properties is not None else 0
    roles = len(event.roles or ())
    return (
        STORED_EVENT_OVERHEAD_BYTES
        + ids
        + roles
        + properties
        + sum(identifiers.utf8_bytes(text) for text in texts if text is not None)
    )
