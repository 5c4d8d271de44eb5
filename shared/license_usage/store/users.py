"""The users directory: each user's lifecycle history, from which status, roles and group follow.
The daily rollup writes it from the lifecycle events of the days it rolls up (``by_day``'s
directory partitions); readers add the entries of days still waiting for it.

One item per user (pk = ``ORG#<org_id>``, sk = ``USER#<user_id>``) holds a map from each
lifecycle event's order key to what it set. Writing an entry is idempotent (the same event sets
the same key), costs one write whatever the event says, and needs no ordering condition: the
latest entry by (timestamp, id) decides each aspect when read (``domain.rollups.state_before``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.attributes import MapAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError

from license_usage.domain.events import DirectoryChange
from license_usage.domain.rollups import LifecycleEntry, UserState, lifecycle_entry, state_before
from license_usage.store.tables import LicensingItem

ATTEMPTS = 3


class UserRecord(LicensingItem):
    user_id = UnicodeAttribute()
    history = MapAttribute[str, Any](null=True)  # order key → {"status", "roles", "group"}


def user_key(org_id: str, user_id: str) -> tuple[str, str]:
    return f"ORG#{org_id}", f"USER#{user_id}"


def _entry(change: DirectoryChange) -> dict[str, Any]:
    return {
        "status": change.status,
        "roles": list(change.roles) if change.roles is not None else None,
        "group": change.group,
    }


def apply_directory_change(org_id: str, change: DirectoryChange) -> None:
    """Add the event's entry to the user's history (the first entry creates the map)."""
    record = UserRecord(*user_key(org_id, change.user_id))
    entry = _entry(change)
    for _ in range(ATTEMPTS):
        try:
            record.update(
                actions=[UserRecord.history[change.order_key].set(entry)],
                condition=UserRecord.history.exists(),
            )
            return
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
        try:
            record.update(
                actions=[UserRecord.user_id.set(change.user_id), UserRecord.history.set({change.order_key: entry})],
                condition=UserRecord.history.does_not_exist(),
            )
            return
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            # Another event created the map meanwhile: add to it.


def _history(record: UserRecord) -> list[LifecycleEntry]:
    raw = record.history.as_dict() if record.history is not None else {}
    return [
        LifecycleEntry(
            order_key=key,
            status=value.get("status"),
            roles=tuple(value["roles"]) if value.get("roles") is not None else None,
            group=value.get("group"),
        )
        for key, value in raw.items()
    ]


def users_by_id(org_id: str, user_ids: Iterable[str], pending: Iterable[DirectoryChange] = ()) -> dict[str, UserState]:
    """Current status, roles and group of these users (users without lifecycle events are absent).
    ``pending``: lifecycle changes the directory may not hold yet (of days waiting for a rollup)."""
    wanted = set(user_ids)
    histories: dict[str, dict[str, LifecycleEntry]] = {}
    keys = [user_key(org_id, user_id) for user_id in wanted]
    for record in UserRecord.batch_get(keys) if keys else []:
        histories[record.user_id] = {entry.order_key: entry for entry in _history(record)}
    for change in pending:
        if change.user_id in wanted:
            histories.setdefault(change.user_id, {}).setdefault(change.order_key, lifecycle_entry(change))
    return {user_id: state_before(list(history.values())) for user_id, history in histories.items()}


def user_histories(org_id: str) -> dict[str, list[LifecycleEntry]]:
    """Every user's lifecycle history (the directory, not raw events)."""
    records = UserRecord.query(f"ORG#{org_id}", UserRecord.sk.startswith("USER#"), consistent_read=True)
    return {record.user_id: _history(record) for record in records}
