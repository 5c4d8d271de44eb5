"""The users directory: each user's status, roles and group, kept from lifecycle events."""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError

from license_usage.domain.events import DirectoryChange
from license_usage.domain.rollups import LifecycleEntry
from license_usage.store.tables import LicensingItem


class UserRecord(LicensingItem):
    """pk = ``ORG#<org_id>``, sk = ``USER#<user_id>``. Each aspect carries the order key of the
    event that set it, and only a later event may overwrite it."""

    user_id = UnicodeAttribute()
    status = UnicodeAttribute(null=True)
    status_at = UnicodeAttribute(null=True)
    roles = ListAttribute(of=UnicodeAttribute, null=True)
    roles_at = UnicodeAttribute(null=True)
    group = UnicodeAttribute(null=True)
    group_at = UnicodeAttribute(null=True)
    # Every lifecycle event's [order key, status, roles]: the rollup works out who was active,
    # with which roles, at the end of any day.
    history = ListAttribute(null=True)  # type: ignore[var-annotated]


def user_key(org_id: str, user_id: str) -> tuple[str, str]:
    return f"ORG#{org_id}", f"USER#{user_id}"


def _set_if_later(
    record: UserRecord, value_attr: object, at_attr: UnicodeAttribute, value: object, order_key: str
) -> None:
    try:
        record.update(
            actions=[
                UserRecord.user_id.set(record.sk.removeprefix("USER#")),
                value_attr.set(value),  # type: ignore[attr-defined]
                at_attr.set(order_key),
            ],
            condition=at_attr.does_not_exist() | (at_attr < order_key),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        # A later event already set this aspect: the older one changes nothing.


def apply_directory_change(org_id: str, change: DirectoryChange) -> None:
    record = UserRecord(*user_key(org_id, change.user_id))
    if change.status is not None or change.roles is not None:
        entry = [change.order_key, change.status, list(change.roles) if change.roles is not None else None]
        record.update(
            actions=[
                UserRecord.user_id.set(change.user_id),
                UserRecord.history.set((UserRecord.history | []).append([entry])),
            ]
        )
    if change.status is not None:
        _set_if_later(record, UserRecord.status, UserRecord.status_at, change.status, change.order_key)
    if change.roles is not None:
        _set_if_later(record, UserRecord.roles, UserRecord.roles_at, list(change.roles), change.order_key)
    if change.group is not None:
        _set_if_later(record, UserRecord.group, UserRecord.group_at, change.group, change.order_key)


def get_user(org_id: str, user_id: str) -> UserRecord | None:
    try:
        return UserRecord.get(*user_key(org_id, user_id), consistent_read=True)
    except UserRecord.DoesNotExist:
        return None


def users_by_id(org_id: str, user_ids: list[str]) -> dict[str, UserRecord]:
    if not user_ids:
        return {}
    return {record.user_id: record for record in UserRecord.batch_get([user_key(org_id, u) for u in set(user_ids)])}


def lifecycle_histories(org_id: str) -> list[list[LifecycleEntry]]:
    """Every user's lifecycle history (the directory, not raw events)."""
    histories = []
    for record in UserRecord.query(f"ORG#{org_id}", UserRecord.sk.startswith("USER#")):
        entries = [
            LifecycleEntry(str(key), status, tuple(roles) if roles is not None else None)
            for key, status, roles in (record.history or [])
        ]
        histories.append(entries)
    return histories
