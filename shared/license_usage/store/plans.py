"""Plans and their counters in ``LicensingTable``.

Items of a plan: ``PLAN#<plan_id>`` / ``COUNTER`` (seats in use under a hard limit; in the sparse
``overdrafts`` index while the plan uses more than its amount), and in each of its shards
``PLAN#<plan_id>#<shard>``: ``MONTH#<YYYY-MM>`` and ``DAY#<YYYY-MM-DD>`` tallies, ``SEATS`` (seats in
use without a hard limit) and ``USER#<user_id>`` (what one user consumed); see ``store.keys``. The
plan itself is ``ORG#<org_id>`` / ``PLAN#<plan_id>``, so an organization's plans are one query."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from license_usage.domain.access import Principal
from license_usage.domain.consumption import DayCounts, MonthCounts, PlanCounters
from license_usage.domain.errors import Conflict, NotFound
from license_usage.domain.plans import DEFAULT_NOTIFY_AT, Enforcement, Plan, PlanType, plan_months
from license_usage.domain.timestamps import format_utc, format_utc_seconds, parse_rfc3339
from license_usage.store.audit import audit_record
from license_usage.store.keys import (
    DAY_PREFIX,
    MONTH_PREFIX,
    OVERDRAFT_PARTITION,
    PLAN_PREFIX,
    PLAN_SHARDS,
    SHARD_COUNTER_SK,
    counter_key,
    day_key,
    org_partition,
    plan_guard_key,
    plan_key,
    plan_shard_partitions,
)
from license_usage.store.orgs import org_registration
from license_usage.store.pages import Page, decode_cursor, encode_cursor
from license_usage.store.tables import LicensingItem, cancelled_by_condition, idempotent_transaction

logger = Logger(child=True)


class PlanRecord(LicensingItem):
    plan_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    type = UnicodeAttribute()
    product = UnicodeAttribute()
    amount = NumberAttribute()
    start = UnicodeAttribute()
    end = UnicodeAttribute()
    overdraft = NumberAttribute()
    enforcement = UnicodeAttribute()
    grace_days = NumberAttribute()
    created_at = UnicodeAttribute()
    renewed_from = UnicodeAttribute(null=True)
    assign_roles = ListAttribute(of=UnicodeAttribute, null=True)
    notify_at = ListAttribute(of=NumberAttribute, null=True)  # None: stored before it existed (the default)
    notices_sent = UnicodeSetAttribute(null=True)  # once keys of the plan's notices (store.notifications)
    unit_price = UnicodeAttribute(null=True)  # decimal text as given (SPEC §5)
    currency = UnicodeAttribute(null=True)


class PlanGuard(LicensingItem):
    """pk = ``ORG#<org_id>``, sk = ``PLANGUARD#<product>#<type>``: its version changes with every
    plan of that product and type, so two overlapping plans cannot both be created."""

    version = NumberAttribute(default=0)


class OverdraftIndex(GlobalSecondaryIndex["PlanCounterRecord"]):
    class Meta:
        index_name = "overdrafts"
        projection = KeysOnlyProjection()

    overdraft_pk = UnicodeAttribute(hash_key=True)
    overdraft_sk = UnicodeAttribute(range_key=True)


class PlanCounterRecord(LicensingItem):
    org_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    seats_in_use = NumberAttribute(default=0)
    inactive_assignments = NumberAttribute(null=True)  # set by the daily rollup
    active_assigned = NumberAttribute(null=True)  # likewise: seat holders with a login in 30 days
    overdraft_pk = UnicodeAttribute(null=True)  # set only while over the amount: a sparse index
    overdraft_sk = UnicodeAttribute(null=True)
    overdrafts = OverdraftIndex()


class PlanTallyRecord(LicensingItem):
    """The counters of one plan month (``MONTH#<YYYY-MM>``) or one day (``DAY#<YYYY-MM-DD>``)."""

    active_users = NumberAttribute(null=True)  # months: users with a login (mau), credits (mauc)
    credits_used = NumberAttribute(null=True)  # days: mauc credits first used that day
    seats_taken = NumberAttribute(null=True)  # days only
    seats_released = NumberAttribute(null=True)
    seat_changes = NumberAttribute(null=True)  # days: commits that changed the day's seats


def new_plan_id() -> str:
    return f"pln_{secrets.token_hex(8)}"


def _plan(record: PlanRecord) -> Plan:
    return Plan(
        plan_id=record.plan_id,
        org_id=record.org_id,
        type=PlanType(record.type),
        product=record.product,
        amount=int(record.amount),
        start=parse_rfc3339(record.start),
        end=parse_rfc3339(record.end),
        overdraft=int(record.overdraft),
        enforcement=Enforcement(record.enforcement),
        grace_days=int(record.grace_days),
        assign_roles=tuple(str(role) for role in record.assign_roles or ()),
        notify_at=DEFAULT_NOTIFY_AT if record.notify_at is None else tuple(int(str(p)) for p in record.notify_at),
        renewed_from=record.renewed_from,
        notices_sent=frozenset(record.notices_sent or ()),
        unit_price=record.unit_price,
        currency=record.currency,
    )


def plan_as_dict(plan: Plan) -> dict[str, Any]:
    priced = {"unit_price": plan.unit_price, "currency": plan.currency} if plan.unit_price is not None else {}
    return {
        "plan_id": plan.plan_id,
        "org_id": plan.org_id,
        "type": plan.type.value,
        "product": plan.product,
        "amount": plan.amount,
        "start": format_utc_seconds(plan.start),
        "end": format_utc_seconds(plan.end),
        "overdraft": plan.overdraft,
        "enforcement": plan.enforcement.value,
        "grace_days": plan.grace_days,
        "assign_roles": list(plan.assign_roles),
        "notify_at": list(plan.notify_at),
        **priced,
    }


def _readable(record: PlanRecord) -> Plan | None:
    """The plan, or None for one stored before its terms were bounded (a start in year 999, say)
    that cannot be read back: logged, and left out, so it cannot break its organization."""
    try:
        plan = _plan(record)
        plan_months(plan.start, plan.end)
    except (ValueError, OverflowError, TypeError):
        logger.error("unreadable plan left out", extra={"pk": record.pk, "sk": record.sk, "start": record.start})
        return None
    return plan


def plans_of_org(org_id: str) -> list[Plan]:
    records = PlanRecord.query(org_partition(org_id), PlanRecord.sk.startswith(PLAN_PREFIX), consistent_read=True)
    plans = [plan for plan in (_readable(record) for record in records) if plan is not None]
    return sorted(plans, key=lambda plan: (plan.start, plan.plan_id))


def get_plan(org_id: str, plan_id: str) -> Plan:
    try:
        plan = _readable(PlanRecord.get(*plan_key(org_id, plan_id)))
    except DoesNotExist:
        plan = None
    if plan is None:
        raise NotFound(f"No plan {plan_id} in organization {org_id}.")
    return plan


def guard_version(plan: Plan) -> int:
    """The version of the overlap guard of the plan's organization, product and type."""
    try:
        guard = PlanGuard.get(*plan_guard_key(plan.org_id, plan.product, plan.type), consistent_read=True)
    except DoesNotExist:
        return 0
    return int(guard.version)


def save_new_plan(plan: Plan, guard_version: int, actor: Principal, at: datetime) -> None:
    """Create the plan, its counter and its audit entry at once, provided no other plan of the
    same product and type was created since ``guard_version`` was read."""
    record = PlanRecord(
        *plan_key(plan.org_id, plan.plan_id),
        plan_id=plan.plan_id,
        org_id=plan.org_id,
        type=plan.type.value,
        product=plan.product,
        amount=plan.amount,
        start=format_utc(plan.start),
        end=format_utc(plan.end),
        overdraft=plan.overdraft,
        enforcement=plan.enforcement.value,
        grace_days=plan.grace_days,
        created_at=format_utc(at),
        renewed_from=plan.renewed_from,
        assign_roles=list(plan.assign_roles) or None,
        notify_at=list(plan.notify_at),
        unit_price=plan.unit_price,
        currency=plan.currency,
    )
    guard = PlanGuard(*plan_guard_key(plan.org_id, plan.product, plan.type))
    guard_unchanged = PlanGuard.version.does_not_exist() if guard_version == 0 else PlanGuard.version == guard_version
    org, org_actions = org_registration(plan.org_id, at)
    action = "plan.renewed" if plan.renewed_from else "plan.created"
    try:
        with idempotent_transaction() as transaction:
            transaction.save(record, condition=PlanRecord.pk.does_not_exist())
            transaction.update(guard, actions=[PlanGuard.version.set(guard_version + 1)], condition=guard_unchanged)
            transaction.save(
                PlanCounterRecord(*counter_key(plan.plan_id), org_id=plan.org_id, plan_id=plan.plan_id, seats_in_use=0)
            )
            transaction.update(org, actions=org_actions)  # type: ignore[arg-type]
            transaction.save(audit_record(plan.org_id, actor, action, plan.plan_id, at, None, plan_as_dict(plan)))
    except TransactWriteError as error:
        if cancelled_by_condition(error):
            raise Conflict("Another plan of this product and type was created at the same time; retry.") from None
        raise


def plan_counters(plan: Plan) -> PlanCounters:
    """The plan's counter and every day and month tally: two reads, bounded by the plan's length
    (at most 366 days and 13 months), whatever the number of events or users."""
    return plan_totals(plan, with_days=True)


@cache
def _shard_readers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=PLAN_SHARDS, thread_name_prefix="plan-shards")


class _ShardItem(LicensingItem):
    """What a plan shard's range holds before its users: tallies and its part of seats in use."""

    active_users = NumberAttribute(null=True)
    credits_used = NumberAttribute(null=True)
    seats_taken = NumberAttribute(null=True)
    seats_released = NumberAttribute(null=True)
    seat_changes = NumberAttribute(null=True)
    seats_in_use = NumberAttribute(null=True)


def _shard_range(partition: str, with_days: bool) -> list[_ShardItem]:
    # DAY#… sorts before MONTH#…, and SEATS after them: one range covers the shard's tallies.
    low = DAY_PREFIX if with_days else MONTH_PREFIX
    return list(_ShardItem.query(partition, _ShardItem.sk.between(low, SHARD_COUNTER_SK), consistent_read=True))


def plan_totals(plan: Plan, with_days: bool = False) -> PlanCounters:
    """Seats in use and the month tallies (and, ``with_days``, the day tallies too): the plan's
    counter and one range of each of its shards, read side by side and added up."""
    shard_reads = [
        _shard_readers().submit(_shard_range, partition, with_days) for partition in plan_shard_partitions(plan.plan_id)
    ]
    try:
        counter = PlanCounterRecord.get(*counter_key(plan.plan_id), consistent_read=True)
        seats_in_use, flagged = int(counter.seats_in_use), counter.overdraft_pk is not None
        inactive = int(counter.inactive_assignments or 0)
        active = int(counter.active_assigned or 0)
    except DoesNotExist:
        seats_in_use, flagged, inactive, active = 0, False, 0, 0
    month_users: dict[str, int] = {}
    day_counts: dict[str, list[int]] = {}
    for read in shard_reads:
        for item in read.result():
            kind, _, name = item.sk.partition("#")
            if item.sk == SHARD_COUNTER_SK:
                seats_in_use += int(item.seats_in_use or 0)
            elif kind == "MONTH":
                month_users[name] = month_users.get(name, 0) + int(item.active_users or 0)
            elif kind == "DAY":
                counts = day_counts.setdefault(name, [0, 0, 0, 0])
                for index, value in enumerate(
                    (item.credits_used, item.seats_taken, item.seats_released, item.seat_changes)
                ):
                    counts[index] += int(value or 0)
    months = {name: MonthCounts(active_users=users) for name, users in sorted(month_users.items())}
    days = {
        name: DayCounts(credits_used=c[0], seats_taken=c[1], seats_released=c[2], seat_changes=c[3])
        for name, c in sorted(day_counts.items())
    }
    return PlanCounters(
        seats_in_use=seats_in_use,
        months=months,
        days=days,
        flagged_over_amount=flagged,
        inactive_assignments=inactive,
        active_assigned=active,
    )


def set_overdraft_flag(plan: Plan, over: bool) -> None:
    """Keep the plan in (or out of) the sparse ``overdrafts`` index."""
    record = PlanCounterRecord(*counter_key(plan.plan_id))
    if over:
        actions = [
            PlanCounterRecord.org_id.set(plan.org_id),
            PlanCounterRecord.plan_id.set(plan.plan_id),
            PlanCounterRecord.overdraft_pk.set(OVERDRAFT_PARTITION),
            PlanCounterRecord.overdraft_sk.set(f"{plan.org_id}#{plan.plan_id}"),
        ]
    else:
        actions = [PlanCounterRecord.overdraft_pk.remove(), PlanCounterRecord.overdraft_sk.remove()]
    record.update(actions=actions)  # type: ignore[arg-type]


def flagged_over_amount(limit: int, cursor: str | None) -> Page[tuple[str, str]]:
    """(org_id, plan_id) of the plans flagged as using more than their amount, a page at a time."""
    result = PlanCounterRecord.overdrafts.query(
        OVERDRAFT_PARTITION,
        limit=limit,
        last_evaluated_key=decode_cursor(cursor, "overdrafts"),
    )
    found = []
    for record in result:
        org_id, _, plan_id = (record.overdraft_sk or "").partition("#")
        found.append((org_id, plan_id))
    return Page(found, encode_cursor(result.last_evaluated_key, "overdrafts"))


def set_assignment_activity(plan_id: str, inactive: int, active: int) -> None:
    """What the daily rollup found of the plan's seat holders: without and with a login in 30 days."""
    PlanCounterRecord(*counter_key(plan_id)).update(
        actions=[PlanCounterRecord.inactive_assignments.set(inactive), PlanCounterRecord.active_assigned.set(active)]
    )


def seat_changes_of_day(plan_id: str, day: str) -> int:
    """The day's ``seat_changes`` count, over the plan's shards (read by the rollup before it
    reads the day's entries)."""
    keys = [day_key(plan_id, day, shard) for shard in range(PLAN_SHARDS)]
    items = PlanTallyRecord.batch_get(keys, consistent_read=True, attributes_to_get=["sk", "pk", "seat_changes"])
    return sum(int(item.seat_changes or 0) for item in items)
