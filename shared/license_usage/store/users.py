"""The users directory: each user's lifecycle history, from which status, roles and group follow
(``domain.directory``). The daily rollup writes it from the lifecycle events of the days it rolls
up (``by_day``'s directory partitions), and settles each user's latest group from every event of
those days; readers add the lifecycle entries of days still waiting for it.

A user has one item (``store.keys.directory_user_key``) whose map holds each lifecycle event's
entry under the event's order key, up to ``MAX_ENTRIES_IN_USER_ITEM`` entries: so an item stays
below DynamoDB's 400 KB whatever a user's events say (``domain.directory.user_item_bytes_bound``).
An entry its item has no room for is an item of its own (``directory_entry_key``: the user's
prefix, then the order key), and the user's item says so (``spilled``), so readers of a user who
has none read one item. Writing an entry is idempotent (the same event sets the same key, or puts
the same item), costs one or two writes whatever the event says, and needs no ordering condition:
the latest entry by (timestamp, id) decides each aspect when read, wherever it is kept."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.attributes import BooleanAttribute, MapAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from license_usage.domain.directory import (
    MAX_ENTRIES_IN_USER_ITEM,
    DirectoryChange,
    LatestGroup,
    UserState,
    state_before,
)
from license_usage.store.keys import (
    DIRECTORY_ENTRY_PREFIX,
    USER_PREFIX,
    directory_entries_prefix,
    directory_entry_key,
    directory_user_key,
    org_partition,
)
from license_usage.store.tables import LicensingItem, condition_failed, transaction_connection


class UserRecord(LicensingItem):
    user_id = UnicodeAttribute()
    history = MapAttribute[str, Any](null=True)  # order key → {"status", "roles", "group"}
    group = UnicodeAttribute(null=True)  # the group on the latest event carrying one (rollup)
    group_at = UnicodeAttribute(null=True)  # that event's order key
    spilled = BooleanAttribute(null=True)  # some entries are items of their own


class DirectoryEntryRecord(LicensingItem):
    """``ORG#<org_id>`` / ``USERH#<user_id>#<order key>``: an entry its user's item had no room for."""

    user_id = UnicodeAttribute()
    at = UnicodeAttribute()  # the order key
    entry = MapAttribute[str, Any]()  # {"status", "roles", "group"}


def _entry(change: DirectoryChange) -> dict[str, Any]:
    return {
        "status": change.status,
        "roles": list(change.roles) if change.roles is not None else None,
        "group": change.group,
    }


def apply_directory_change(org_id: str, change: DirectoryChange, item_full: bool = False) -> bool:
    """Add the event's entry to the user's history: into the user's item while it has room (the
    first entry creates the item's map), else (or when the caller knows the item is full and
    marked so) as an item of its own. Whether it went to an item of its own."""
    if not item_full and _into_user_item(org_id, change):
        return False
    # The item's map is full (or another writer created it meanwhile: an entry may be kept in
    # either place). The entry first, then the mark that readers look for it by.
    DirectoryEntryRecord(
        *directory_entry_key(org_id, change.user_id, change.order_key),
        user_id=change.user_id,
        at=change.order_key,
        entry=_entry(change),
    ).save()
    if not item_full:
        UserRecord(*directory_user_key(org_id, change.user_id)).update(actions=[UserRecord.spilled.set(True)])
    return True


def apply_directory_changes(org_id: str, changes: Iterable[DirectoryChange]) -> None:
    """``apply_directory_change`` for each; once a user's item is found full, their next entries go
    to items of their own straight away (a full item is written once more per call, not per entry:
    a write costs the whole item's size)."""
    full: set[str] = set()
    for change in changes:
        if apply_directory_change(org_id, change, item_full=change.user_id in full):
            full.add(change.user_id)


def _into_user_item(org_id: str, change: DirectoryChange) -> bool:
    """Set the entry in the user's map if it has room or holds it already, or create the map."""
    record = UserRecord(*directory_user_key(org_id, change.user_id))
    entry = _entry(change)
    try:
        record.update(
            actions=[UserRecord.history[change.order_key].set(entry)],
            condition=UserRecord.history.exists()
            & ((size(UserRecord.history) < MAX_ENTRIES_IN_USER_ITEM) | UserRecord.history[change.order_key].exists()),
        )
        return True
    except UpdateError as error:
        if not condition_failed(error):
            raise
    try:
        record.update(
            actions=[UserRecord.user_id.set(change.user_id), UserRecord.history.set({change.order_key: entry})],
            condition=UserRecord.history.does_not_exist(),
        )
        return True
    except UpdateError as error:
        if not condition_failed(error):
            raise
    return False


def settle_group(org_id: str, user_id: str, latest: LatestGroup) -> bool:
    """Keep the group of the user's latest event that carries one (a later one wins). False when
    the stored one is as late."""
    pk, sk = directory_user_key(org_id, user_id)
    try:
        transaction_connection().client.update_item(
            TableName=LicensingItem.Meta.table_name,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            UpdateExpression="SET user_id = :uid, #group = :group, group_at = :at",
            ConditionExpression="attribute_not_exists(group_at) OR group_at < :at",
            ExpressionAttributeNames={"#group": "group"},
            ExpressionAttributeValues={
                ":uid": {"S": user_id},
                ":group": {"S": latest.group},
                ":at": {"S": latest.order_key},
            },
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _change(user_id: str, order_key: str, value: dict[str, Any]) -> DirectoryChange:
    return DirectoryChange(
        user_id=user_id,
        order_key=order_key,
        status=value.get("status"),
        roles=tuple(value["roles"]) if value.get("roles") is not None else None,
        group=value.get("group"),
    )


def _history(record: UserRecord) -> list[DirectoryChange]:
    raw = record.history.as_dict() if record.history is not None else {}
    return [_change(record.user_id, key, value) for key, value in raw.items()]


def _kept_apart(org_id: str, user_id: str) -> list[DirectoryChange]:
    """The user's entries kept as items of their own (another user's that share the prefix left out)."""
    records = DirectoryEntryRecord.query(
        org_partition(org_id), DirectoryEntryRecord.sk.startswith(directory_entries_prefix(user_id))
    )
    return [
        _change(record.user_id, record.at, record.entry.as_dict()) for record in records if record.user_id == user_id
    ]


def _settled_group(record: UserRecord) -> LatestGroup | None:
    return LatestGroup(record.group_at, record.group) if record.group and record.group_at else None


def users_by_id(org_id: str, user_ids: Iterable[str], pending: Iterable[DirectoryChange] = ()) -> dict[str, UserState]:
    """Current status, roles and group of these users (users the directory never saw are absent).
    ``pending``: lifecycle changes the directory may not hold yet (of days waiting for a rollup).
    One batch of items; a query more for each user with entries kept apart."""
    wanted = set(user_ids)
    histories: dict[str, dict[str, DirectoryChange]] = {}
    groups: dict[str, LatestGroup | None] = {}
    keys = [directory_user_key(org_id, user_id) for user_id in wanted]
    for record in UserRecord.batch_get(keys) if keys else []:
        if record.user_id not in wanted:
            continue
        entries = _history(record) + (_kept_apart(org_id, record.user_id) if record.spilled else [])
        histories[record.user_id] = {entry.order_key: entry for entry in entries}
        groups[record.user_id] = _settled_group(record)
    for change in pending:
        if change.user_id in wanted:
            histories.setdefault(change.user_id, {}).setdefault(change.order_key, change)
    return {
        user_id: state_before(list(history.values()), settled_group=groups.get(user_id))
        for user_id, history in histories.items()
    }


def user_histories(org_id: str) -> dict[str, list[DirectoryChange]]:
    """Every user's lifecycle history (the directory, not raw events): the users' items, and the
    entries kept apart (one query more, that reads nothing when there are none)."""
    partition = org_partition(org_id)
    histories: dict[str, dict[str, DirectoryChange]] = defaultdict(dict)
    for record in UserRecord.query(partition, UserRecord.sk.startswith(USER_PREFIX), consistent_read=True):
        histories[record.user_id].update((entry.order_key, entry) for entry in _history(record))
    apart = DirectoryEntryRecord.query(
        partition, DirectoryEntryRecord.sk.startswith(DIRECTORY_ENTRY_PREFIX), consistent_read=True
    )
    for entry_record in apart:
        change = _change(entry_record.user_id, entry_record.at, entry_record.entry.as_dict())
        histories[change.user_id].setdefault(change.order_key, change)
    return {user_id: list(history.values()) for user_id, history in histories.items()}
