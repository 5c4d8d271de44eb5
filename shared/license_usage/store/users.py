"""The users directory: each user's lifecycle history, from which status, roles and group follow
(``domain.directory``). The daily rollup writes it from the lifecycle events of the days it rolls
up (``by_day``'s directory partitions), and settles each user's latest group from every event of
those days; readers add the lifecycle entries of days still waiting for it.

One item per user (``store.keys.directory_user_key``) holds a map from each lifecycle event's order
key to what it set. Writing an entry is idempotent (the same event sets the same key), costs one
write whatever the event says, and needs no ordering condition: the latest entry by
(timestamp, id) decides each aspect when read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.attributes import MapAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError

from license_usage.domain.directory import DirectoryChange, LatestGroup, UserState, state_before
from license_usage.store.keys import USER_PREFIX, directory_user_key, org_partition
from license_usage.store.tables import LicensingItem, condition_failed, transaction_connection

ATTEMPTS = 3


class UserRecord(LicensingItem):
    user_id = UnicodeAttribute()
    history = MapAttribute[str, Any](null=True)  # order key → {"status", "roles", "group"}
    group = UnicodeAttribute(null=True)  # the group on the latest event carrying one (rollup)
    group_at = UnicodeAttribute(null=True)  # that event's order key


def _entry(change: DirectoryChange) -> dict[str, Any]:
    return {
        "status": change.status,
        "roles": list(change.roles) if change.roles is not None else None,
        "group": change.group,
    }


def apply_directory_change(org_id: str, change: DirectoryChange) -> None:
    """Add the event's entry to the user's history (the first entry creates the map)."""
    record = UserRecord(*directory_user_key(org_id, change.user_id))
    entry = _entry(change)
    for _ in range(ATTEMPTS):
        try:
            record.update(
                actions=[UserRecord.history[change.order_key].set(entry)],
                condition=UserRecord.history.exists(),
            )
            return
        except UpdateError as error:
            if not condition_failed(error):
                raise
        try:
            record.update(
                actions=[UserRecord.user_id.set(change.user_id), UserRecord.history.set({change.order_key: entry})],
                condition=UserRecord.history.does_not_exist(),
            )
            return
        except UpdateError as error:
            if not condition_failed(error):
                raise
            # Another event created the map meanwhile: add to it.


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


def _history(record: UserRecord) -> list[DirectoryChange]:
    raw = record.history.as_dict() if record.history is not None else {}
    return [
        DirectoryChange(
            user_id=record.user_id,
            order_key=key,
            status=value.get("status"),
            roles=tuple(value["roles"]) if value.get("roles") is not None else None,
            group=value.get("group"),
        )
        for key, value in raw.items()
    ]


def _settled_group(record: UserRecord) -> LatestGroup | None:
    return LatestGroup(record.group_at, record.group) if record.group and record.group_at else None


def users_by_id(org_id: str, user_ids: Iterable[str], pending: Iterable[DirectoryChange] = ()) -> dict[str, UserState]:
    """Current status, roles and group of these users (users the directory never saw are absent).
    ``pending``: lifecycle changes the directory may not hold yet (of days waiting for a rollup)."""
    wanted = set(user_ids)
    histories: dict[str, dict[str, DirectoryChange]] = {}
    groups: dict[str, LatestGroup | None] = {}
    keys = [directory_user_key(org_id, user_id) for user_id in wanted]
    for record in UserRecord.batch_get(keys) if keys else []:
        histories[record.user_id] = {entry.order_key: entry for entry in _history(record)}
        groups[record.user_id] = _settled_group(record)
    for change in pending:
        if change.user_id in wanted:
            histories.setdefault(change.user_id, {}).setdefault(change.order_key, change)
    return {
        user_id: state_before(list(history.values()), settled_group=groups.get(user_id))
        for user_id, history in histories.items()
    }


def user_histories(org_id: str) -> dict[str, list[DirectoryChange]]:
    """Every user's lifecycle history (the directory, not raw events)."""
    records = UserRecord.query(org_partition(org_id), UserRecord.sk.startswith(USER_PREFIX), consistent_read=True)
    return {record.user_id: _history(record) for record in records}
