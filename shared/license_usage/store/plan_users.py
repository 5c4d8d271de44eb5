"""What each user consumed of a plan (``domain.plan_user.PlanUser``), and the one commit that
writes a change to it.

``commit`` turns a ``Change`` into a single ``TransactWriteItems``: the user's item (conditioned
on the version that was read), seats in use (conditioned on the hard limit when the change takes
a seat on a hard-enforced plan), the day and month tallies, the seat activity entries (put or
deleted: their ids follow from the mark, so writing one twice is harmless) and, for API calls,
the audit entry. It decides nothing: it reports which condition failed.

A user's item keeps their newest marks; older ones are kept in parts,
``PLAN#<plan_id>#<shard>`` / ``TIMELINE#<user_id>#<first order key>``, as ``PlanUser.mark_parts``
says (``domain.plan_user.mark_parts_after`` decides where; every item stays far below 400 KB
whatever the user does). The user's item says how many parts there are (``parts``) and where its
own marks begin (``marks_from``); a load reads the parts only when there are some, consistently and
after the item, so a commit conditioned on the item's version never decides on parts of another
version (the version changes with every commit, and every commit that writes parts writes the
item). A commit writes the parts whose marks changed, in the same transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from heapq import merge
from operator import attrgetter
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute

from license_usage.domain.errors import InvalidCursor
from license_usage.domain.events import RAW_EVENT_RETENTION
from license_usage.domain.plan_user import Change, Mark, MarkKind, PlanUser, SeatStep, Tally, placed_marks
from license_usage.domain.plans import Enforcement, Plan
from license_usage.domain.timestamps import format_utc, utc_day
from license_usage.store.keys import (
    PLAN_SHARDS,
    USER_PREFIX,
    counter_key,
    day_key,
    day_partition,
    day_partitions,
    event_key,
    month_key,
    plan_of_shard_partition,
    plan_shard_partitions,
    plan_user_key,
    plan_user_part_key,
    plan_user_parts_prefix,
    shard_counter_key,
    user_shard,
)
from license_usage.store.pages import Page, decode_state, encode_state
from license_usage.store.plans import PlanCounterRecord
from license_usage.store.tables import (
    EventRecord,
    LicensingItem,
    cancellation_reasons,
    request_token,
    transaction_connection,
)


class PlanUserRecord(LicensingItem):
    """pk = ``PLAN#<plan_id>``, sk = ``USER#<user_id>``."""

    user_id = UnicodeAttribute()
    version = NumberAttribute(default=0)
    marks = JSONAttribute(null=True)  # [[order key, kind, source], ...]
    months = JSONAttribute(null=True)  # {month: order key of its earliest login}
    last_login = UnicodeAttribute(null=True)
    parts = NumberAttribute(null=True)  # how many parts keep older marks (none: absent)
    marks_from = UnicodeAttribute(null=True)  # with parts: the first order key this item keeps


class PlanUserPartRecord(LicensingItem):
    """pk = ``PLAN#<plan_id>#<shard>``, sk = ``TIMELINE#<user_id>#<first>``: older marks of one user."""

    user_id = UnicodeAttribute()
    first = UnicodeAttribute()  # the order key the part begins at ("" for the first part)
    marks = JSONAttribute(null=True)  # [[order key, kind, source], ...]


class CommitOutcome(StrEnum):
    COMMITTED = "committed"
    VERSION_CHANGED = "version_changed"  # another writer changed the user since it was read
    SEAT_LIMIT = "seat_limit"  # the hard limit's condition on seats in use failed


_MARK_ORDER = attrgetter("order_key", "kind", "source")  # ``Mark``'s own order, compared faster


def _marks(stored: Any) -> list[Mark]:
    return [Mark(str(key), MarkKind(kind), str(source)) for key, kind, source in (stored or [])]


def _parts_of(plan_id: str, user_id: str) -> list[PlanUserPartRecord]:
    """The parts of a user's marks, first first, read consistently (after the user's item)."""
    partition, _ = plan_user_key(plan_id, user_id)
    condition = PlanUserPartRecord.sk.startswith(plan_user_parts_prefix(user_id))
    records = PlanUserPartRecord.query(partition, condition, consistent_read=True)
    return sorted((record for record in records if record.user_id == user_id), key=lambda record: record.first)


def _plan_user(plan_id: str, user_id: str, record: PlanUserRecord | None) -> PlanUser:
    if record is None:
        return PlanUser(plan_id, user_id)
    marks = _marks(record.marks)
    mark_parts: tuple[str, ...] = ()
    if record.parts:
        parts = _parts_of(plan_id, user_id)
        for part in parts:
            marks.extend(_marks(part.marks))
        mark_parts = (*(part.first for part in parts), str(record.marks_from or ""))
    months = {str(month): str(key) for month, key in (record.months or {}).items()}
    version = int(record.version or 0)
    kept = tuple(sorted(set(marks), key=_MARK_ORDER))
    return PlanUser(plan_id, user_id, version, kept, months, record.last_login, mark_parts)


def load_plan_users(keys: Iterable[tuple[str, str]], consistent: bool = False) -> dict[tuple[str, str], PlanUser]:
    """(plan_id, user_id) → state, read in batches of 100 (and the parts of those who have some).
    An eventually consistent read is enough: the commit is conditioned on the version read, so a
    stale read costs a retry."""
    wanted = set(keys)
    found = {
        (plan_of_shard_partition(record.pk), record.user_id): record
        for record in PlanUserRecord.batch_get([plan_user_key(p, u) for p, u in wanted], consistent_read=consistent)
    }
    return {key: _plan_user(key[0], key[1], found.get(key)) for key in wanted}


def load_plan_user(plan_id: str, user_id: str) -> PlanUser:
    """One user's state, read consistently (after a conflict, or for an API call)."""
    try:
        record = PlanUserRecord.get(*plan_user_key(plan_id, user_id), consistent_read=True)
    except PlanUserRecord.DoesNotExist:
        record = None
    return _plan_user(plan_id, user_id, record)


# ---------------------------------------------------------------------- the commit


def _activity_id(plan_id: str, user_id: str, kind: str, mark: Mark) -> str:
    digest = hashlib.sha256(f"{plan_id}\n{user_id}\n{mark.order_key}".encode()).hexdigest()[:32]
    return f"sys.{kind}.{digest}"


def _details(mark: Mark) -> dict[str, str]:
    if mark.source == "event":
        return {"event_id": mark.event_id, "by": "event"}
    role, _, actor = mark.source.partition(":")
    return {"by": role, "actor": actor}


def seat_activity(
    plan: Plan, user_id: str, kind: str, mark: Mark, now: datetime, extra: Mapping[str, str] | None = None
) -> EventRecord:
    """An entry of the entitlement activity log (SPEC §5), kept beside the raw events so the log
    and the rollups read one day of one organization in one query. Its id follows from the mark."""
    activity_id = _activity_id(plan.plan_id, user_id, kind, mark)
    at = mark.at
    return EventRecord(
        event_key(plan.org_id, activity_id),
        day=day_partition(plan.org_id, utc_day(at).isoformat(), activity_id),
        # Sorted as the events that caused them (instant, then event id), unique by the entry's id.
        at=f"{format_utc(at)}#{mark.event_id}#{activity_id}",
        org_id=plan.org_id,
        event_id=activity_id,
        type=kind,
        timestamp=format_utc(at),
        received_at=format_utc(now),
        user_id=user_id,
        product=plan.product,
        properties={"plan_id": plan.plan_id, **_details(mark), **(extra or {})},
        expires_at=at + RAW_EVENT_RETENTION,
    )


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _marks_json(marks: Iterable[Mark]) -> str:
    return json.dumps([[m.order_key, m.kind.value, m.source] for m in marks])


def _user_update(change: Change, table: str) -> dict[str, Any]:
    after = change.after
    values: dict[str, Any] = {
        ":uid": {"S": after.user_id},
        ":next": {"N": str(change.before.version + 1)},
        ":marks": {"S": _marks_json(placed_marks(after.mark_parts, after.marks)[-1])},
        ":months": {"S": json.dumps(dict(sorted(after.months.items())))},
    }
    sets = "user_id = :uid, version = :next, marks = :marks, months = :months"
    if after.last_login is not None:
        values[":last"] = {"S": after.last_login}
        sets += ", last_login = :last"
    if after.mark_parts:
        values[":parts"] = {"N": str(len(after.mark_parts) - 1)}
        values[":from"] = {"S": after.mark_parts[-1]}
        sets += ", parts = :parts, marks_from = :from"
    if change.before.version == 0:
        condition = "attribute_not_exists(version)"
    else:
        condition = "version = :read"
        values[":read"] = {"N": str(change.before.version)}
    pk, sk = plan_user_key(after.plan_id, after.user_id)
    return {
        "Update": {
            "TableName": table,
            "Key": _key(pk, sk),
            "UpdateExpression": f"SET {sets}",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
    }


def _part_writes(change: Change, table: str) -> list[dict[str, Any]]:
    """Puts of the parts whose marks the change changed (new parts included)."""
    before, after = change.before, change.after
    old = dict(zip(before.mark_parts[:-1], placed_marks(before.mark_parts, before.marks)[:-1], strict=True))
    new = zip(after.mark_parts[:-1], placed_marks(after.mark_parts, after.marks)[:-1], strict=True)
    writes = []
    for first, marks in new:
        if first in old and old[first] == marks:
            continue
        part = PlanUserPartRecord(
            *plan_user_part_key(after.plan_id, after.user_id, first), user_id=after.user_id, first=first
        )
        part.marks = [[m.order_key, m.kind.value, m.source] for m in marks]
        writes.append({"Put": {"TableName": table, "Item": part.serialize()}})
    return writes


def _hard_limited(plan: Plan) -> bool:
    return plan.enforcement is Enforcement.HARD


def _counter_update(plan: Plan, change: Change, table: str) -> dict[str, Any]:
    # Under a hard limit one item counts every seat, so its condition holds under any concurrency;
    # otherwise each shard counts its users' seats (no one item takes every seat change).
    key = (
        counter_key(plan.plan_id)
        if _hard_limited(plan)
        else shard_counter_key(plan.plan_id, user_shard(change.after.user_id))
    )
    update: dict[str, Any] = {
        "TableName": table,
        "Key": _key(*key),
        "UpdateExpression": "ADD seats_in_use :delta",
        "ExpressionAttributeValues": {":delta": {"N": str(change.seats_delta)}},
    }
    if change.takes_seat and _hard_limited(plan):
        update["ConditionExpression"] = "attribute_not_exists(seats_in_use) OR seats_in_use < :limit"
        update["ExpressionAttributeValues"][":limit"] = {"N": str(plan.hard_limit)}
    return {"Update": update}


_TALLY_FIELDS = ("active_users", "credits_used", "seats_taken", "seats_released", "seat_changes")


def _tally_update(key: tuple[str, str], tally: Tally, table: str) -> dict[str, Any]:
    adds = [(name, getattr(tally, name)) for name in _TALLY_FIELDS if getattr(tally, name)]
    return {
        "Update": {
            "TableName": table,
            "Key": _key(*key),
            "UpdateExpression": "ADD " + ", ".join(f"{name} :{name}" for name, _ in adds),
            "ExpressionAttributeValues": {f":{name}": {"N": str(value)} for name, value in adds},
        }
    }


def _step_entry(plan: Plan, user_id: str, step: SeatStep, now: datetime) -> EventRecord:
    return seat_activity(plan, user_id, step.activity_type, step.mark, now)


def commit(plan: Plan, change: Change, now: datetime, audit: LicensingItem | None = None) -> CommitOutcome:
    """Write ``change`` in one transaction, or nothing (see the module's docstring)."""
    licensing = LicensingItem.Meta.table_name
    events = EventRecord.Meta.table_name
    user_id = change.after.user_id
    items: list[dict[str, Any]] = [_user_update(change, licensing)]
    if change.seats_delta:
        items.append(_counter_update(plan, change, licensing))
    shard = user_shard(user_id)
    for day, tally in sorted(change.days.items()):
        items.append(_tally_update(day_key(plan.plan_id, day, shard), tally, licensing))
    for month, tally in sorted(change.months.items()):
        items.append(_tally_update(month_key(plan.plan_id, month, shard), tally, licensing))
    for step in change.steps_added:
        items.append({"Put": {"TableName": events, "Item": _step_entry(plan, user_id, step, now).serialize()}})
    for step in change.steps_removed:
        pk = event_key(plan.org_id, _activity_id(plan.plan_id, user_id, step.activity_type, step.mark))
        items.append({"Delete": {"TableName": events, "Key": {"pk": {"S": pk}}}})
    if change.denied is not None:
        entry = seat_activity(plan, user_id, "seat.denied", change.denied, now, {"reason": "hard_limit"})
        items.append({"Put": {"TableName": events, "Item": entry.serialize()}})
    if audit is not None:
        items.append({"Put": {"TableName": licensing, "Item": audit.serialize()}})
    items.extend(_part_writes(change, licensing))
    try:
        transaction_connection().client.transact_write_items(TransactItems=items, ClientRequestToken=request_token())
    except ClientError as error:
        reasons = cancellation_reasons(error)
        if reasons is None:
            raise
        if reasons and reasons[0] == "ConditionalCheckFailed":
            return CommitOutcome.VERSION_CHANGED
        if "TransactionConflict" in reasons:
            # Another transaction was writing one of these items (a tally or the seat counter):
            # nothing was written; read again and decide again, as for a changed version.
            return CommitOutcome.VERSION_CHANGED
        if len(reasons) > 1 and change.seats_delta and reasons[1] == "ConditionalCheckFailed":
            return CommitOutcome.SEAT_LIMIT
        raise
    return CommitOutcome.COMMITTED


@dataclass(frozen=True)
class GroupOutcome:
    """What ``commit_group`` did: all of it, or nothing and why."""

    committed: bool
    stale: tuple[str, ...] = ()  # users whose version changed since they were read
    conflict: bool = False  # another transaction was writing one of the items: nothing was written


GROUP_ITEMS = 100  # TransactWriteItems' limit
GROUP_BYTES = 3_000_000  # under its 4 MB, with room for the request's own overhead


def group_items(change: Change) -> int:
    """How many of a transaction's items a change takes in a group (the tallies and seats apart)."""
    parts = max(len(change.after.mark_parts) - 1, 0)
    return 1 + len(change.steps_added) + len(change.steps_removed) + parts


def _summed(tallies: Iterable[Tally]) -> Tally:
    fields = {name: 0 for name in _TALLY_FIELDS}
    for tally in tallies:
        for name in _TALLY_FIELDS:
            fields[name] += getattr(tally, name)
    return Tally(**fields)


def commit_group(plan: Plan, changes: Sequence[Change], now: datetime) -> GroupOutcome:
    """Write the changes of several users of one plan without a hard limit (each user once, each
    change conditioned on the version it was decided on) in one transaction, their tallies and
    seats in use added up once, on the shard of the group's first user (readers add up every
    shard). All or nothing: a failed condition says which users were stale."""
    if plan.enforcement is Enforcement.HARD:
        raise ValueError("a hard limit's seats are committed one change at a time")
    licensing = LicensingItem.Meta.table_name
    events = EventRecord.Meta.table_name
    items: list[dict[str, Any]] = []
    owners: list[str | None] = []  # the user whose condition an item carries, by index
    days: dict[str, list[Tally]] = {}
    months: dict[str, list[Tally]] = {}
    for change in changes:
        user_id = change.after.user_id
        items.append(_user_update(change, licensing))
        owners.append(user_id)
        for step in change.steps_added:
            items.append({"Put": {"TableName": events, "Item": _step_entry(plan, user_id, step, now).serialize()}})
        for step in change.steps_removed:
            pk = event_key(plan.org_id, _activity_id(plan.plan_id, user_id, step.activity_type, step.mark))
            items.append({"Delete": {"TableName": events, "Key": {"pk": {"S": pk}}}})
        items.extend(_part_writes(change, licensing))
        owners.extend([None] * (len(items) - len(owners)))
        for day, tally in change.days.items():
            days.setdefault(day, []).append(tally)
        for month, tally in change.months.items():
            months.setdefault(month, []).append(tally)
    shard = user_shard(changes[0].after.user_id)
    seats = sum(change.seats_delta for change in changes)
    if seats:
        items.append(
            {
                "Update": {
                    "TableName": licensing,
                    "Key": _key(*shard_counter_key(plan.plan_id, shard)),
                    "UpdateExpression": "ADD seats_in_use :delta",
                    "ExpressionAttributeValues": {":delta": {"N": str(seats)}},
                }
            }
        )
    tally_keys = [(day_key(plan.plan_id, day, shard), tallies) for day, tallies in sorted(days.items())]
    tally_keys += [(month_key(plan.plan_id, month, shard), tallies) for month, tallies in sorted(months.items())]
    for key, tallies in tally_keys:
        total = _summed(tallies)
        if not total.is_zero:
            items.append(_tally_update(key, total, licensing))
    try:
        transaction_connection().client.transact_write_items(TransactItems=items, ClientRequestToken=request_token())
    except ClientError as error:
        reasons = cancellation_reasons(error)
        if reasons is None:
            raise
        stale = tuple(
            owner
            for owner, reason in zip(owners, reasons, strict=False)
            if owner is not None and reason == "ConditionalCheckFailed"
        )
        if stale:
            return GroupOutcome(False, stale=stale)
        if "TransactionConflict" in reasons:
            return GroupOutcome(False, conflict=True)
        raise
    return GroupOutcome(True)


# ---------------------------------------------------------------------- what the rollup settles


def settle_last_login(plan_id: str, user_id: str, order_key: str) -> bool:
    """Move the user's ``last_login`` forward to ``order_key`` (a repeat login writes nothing at
    ingest; the rollup settles it from the day's events). Bumps the version, so a concurrent
    commit that read the older state retries. False when it was already as late."""
    connection = transaction_connection()
    try:
        connection.client.update_item(
            TableName=LicensingItem.Meta.table_name,
            Key=_key(*plan_user_key(plan_id, user_id)),
            UpdateExpression="SET last_login = :last ADD version :one",
            ConditionExpression=(
                "attribute_exists(version) AND (attribute_not_exists(last_login) OR last_login < :last)"
            ),
            ExpressionAttributeValues={":last": {"S": order_key}, ":one": {"N": "1"}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


# ---------------------------------------------------------------------- reads


def earliest_login(
    org_id: str, user_id: str, product: str, after: str, before: str | None, days: Iterable[str]
) -> str | None:
    """The order key of the user's earliest login of ``product`` in (``after``, ``before``),
    looked for in the raw events of ``days`` (in order; the first day with one ends the search,
    the earliest of its shards' first)."""
    for day in sorted(days):
        low = max(after, f"{day}T")
        high = min(before or "~", f"{day}T~")
        condition = (EventRecord.type == "user.login") & (EventRecord.user_id == user_id)
        condition &= EventRecord.product == product
        found = []
        for partition in day_partitions(org_id, day):
            for record in EventRecord.by_day.query(
                partition,
                EventRecord.at.between(low, high),
                filter_condition=condition,
                attributes_to_get=["at"],
            ):
                if after < record.at and (before is None or record.at < before):
                    found.append(str(record.at))
                    break
        if found:
            return min(found)
    return None


def seats_in_use(plan_id: str) -> int:
    """The plan's seats in use: its one counter plus its shards' (only one of them counts)."""
    keys = [counter_key(plan_id), *(shard_counter_key(plan_id, shard) for shard in range(PLAN_SHARDS))]
    return sum(int(record.seats_in_use or 0) for record in PlanCounterRecord.batch_get(keys, consistent_read=True))


def _users_after(plan_id: str, after: str | None, page_size: int | None) -> Iterator[PlanUserRecord]:
    """The plan's users in user id order, from its shards merged, after ``after`` (a sort key)."""
    condition = PlanUserRecord.sk > after if after else PlanUserRecord.sk.startswith(USER_PREFIX)
    shards = [
        PlanUserRecord.query(partition, condition, page_size=page_size) for partition in plan_shard_partitions(plan_id)
    ]
    for record in merge(*shards, key=lambda r: r.sk):
        if not record.sk.startswith(USER_PREFIX):
            return  # past the users (sort keys after ``USER#…``)
        yield record


def list_plan_users(plan_id: str, limit: int, cursor: str | None) -> Page[PlanUser]:
    """A page of the plan's users in user id order; the cursor is the page's last user."""
    scope = f"users/PLAN#{plan_id}"
    after = decode_state(cursor, scope).get("after") if cursor else None
    if after is not None and not (isinstance(after, str) and after.startswith(USER_PREFIX)):
        raise InvalidCursor("cursor is not one this list returned.")  # e.g. one from before the shards
    users: list[PlanUser] = []
    # Users spread evenly over the shards: each gives about its share of a page per query.
    for record in _users_after(plan_id, after, limit // PLAN_SHARDS + 8):
        users.append(_plan_user(plan_id, record.user_id, record))
        if len(users) == limit:
            return Page(users, encode_state({"after": record.sk}, scope))
    return Page(users, None)


def all_plan_users(plan_id: str) -> Iterator[PlanUser]:
    for record in _users_after(plan_id, None, None):
        yield _plan_user(plan_id, record.user_id, record)
