"""What each user consumed of a plan, and the writes that count it.

Every counting write is one transaction: the user's item (with a condition that makes the
write happen once) together with the plan's counters, so counts never drift from the users
they count. A hard seat limit is a condition on the counter, so concurrent claims cannot
over-allocate."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from license_usage.domain.events import RAW_EVENT_RETENTION
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.domain.seats import SeatOutcome, SeatState
from license_usage.domain.timestamps import format_utc, utc_day
from license_usage.store.events import event_key
from license_usage.store.pages import Page, decode_cursor, encode_cursor
from license_usage.store.plans import (
    PlanCounterRecord,
    PlanTallyRecord,
    counter_key,
    day_key,
    month_key,
    plan_partition,
)
from license_usage.store.tables import EventRecord, LicensingItem, transaction_connection


class PlanUserRecord(LicensingItem):
    """pk = ``PLAN#<plan_id>``, sk = ``USER#<user_id>``."""

    user_id = UnicodeAttribute()
    months = UnicodeSetAttribute(null=True)  # plan months with a login (mau, mauc)
    first_login = UnicodeAttribute(null=True)
    last_login = UnicodeAttribute(null=True)
    seat = UnicodeAttribute(null=True)  # "held" or "released"
    seat_changed_by = UnicodeAttribute(null=True)
    seat_periods = JSONAttribute(null=True)


@dataclass
class PlanUser:
    """What the store knows of one user in one plan (a user never seen is all empty)."""

    plan_id: str
    user_id: str
    months: set[str]
    first_login: str | None
    seat: SeatState  # carries last_login: seat decisions depend on it

    @property
    def last_login(self) -> str | None:
        return self.seat.last_login

    @last_login.setter
    def last_login(self, stamp: str | None) -> None:
        self.seat = replace(self.seat, last_login=stamp)


def plan_user_key(plan_id: str, user_id: str) -> tuple[str, str]:
    return plan_partition(plan_id), f"USER#{user_id}"


def _plan_user(plan_id: str, user_id: str, record: PlanUserRecord | None) -> PlanUser:
    if record is None:
        return PlanUser(plan_id, user_id, set(), None, SeatState())
    periods = tuple((str(p[0]), p[1]) for p in (record.seat_periods or []))
    seat = SeatState(
        held=record.seat == "held", changed_by=record.seat_changed_by, periods=periods, last_login=record.last_login
    )
    return PlanUser(plan_id, user_id, set(record.months or ()), record.first_login, seat)


def load_plan_users(keys: Iterable[tuple[str, str]], consistent: bool = False) -> dict[tuple[str, str], PlanUser]:
    """(plan_id, user_id) → state, read in batches of 100 (eventually consistent: every write
    below is conditional on what it read, so a stale read costs a retry, never a wrong count)."""
    wanted = set(keys)
    found = {
        (record.pk.removeprefix("PLAN#"), record.user_id): record
        for record in PlanUserRecord.batch_get([plan_user_key(p, u) for p, u in wanted], consistent_read=consistent)
    }
    return {key: _plan_user(key[0], key[1], found.get(key)) for key in wanted}


def _is_cancelled(error: TransactWriteError) -> bool:
    return error.cause_response_code == "TransactionCanceledException"


def _failed_updates(error: TransactWriteError, puts: int) -> list[bool]:
    """Which of a cancelled transaction's updates failed their condition, in the order they were
    added. pynamodb sends puts before updates, and the reasons follow the order sent."""
    reasons = list(error.cancellation_reasons or [])[puts:]
    return [reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons]


def _unchanged_since_read(user: PlanUser) -> Condition:
    if user.seat.changed_by is None:
        return PlanUserRecord.seat_changed_by.does_not_exist()
    return PlanUserRecord.seat_changed_by == user.seat.changed_by


def count_user_month(plan: Plan, user: PlanUser, month: str, login_at: datetime) -> bool:
    """Count the user once in ``month`` (mau: an active user; mauc: one credit). False when
    the month was already counted (by a concurrent request)."""
    stamp = format_utc(login_at)
    record = PlanUserRecord(*plan_user_key(plan.plan_id, user.user_id))
    actions: list[Any] = [PlanUserRecord.user_id.set(user.user_id), PlanUserRecord.months.add({month})]
    if user.first_login is None or stamp < user.first_login:
        actions.append(PlanUserRecord.first_login.set(stamp))
    if user.last_login is None or stamp > user.last_login:
        actions.append(PlanUserRecord.last_login.set(stamp))
    try:
        with TransactWrite(connection=transaction_connection()) as transaction:
            transaction.update(
                record,
                actions=actions,
                condition=PlanUserRecord.months.does_not_exist() | ~PlanUserRecord.months.contains(month),
            )
            transaction.update(
                PlanTallyRecord(*month_key(plan.plan_id, month)), actions=[PlanTallyRecord.active_users.add(1)]
            )
            if plan.type is PlanType.MAUC:
                transaction.update(
                    PlanTallyRecord(*day_key(plan.plan_id, utc_day(login_at).isoformat())),
                    actions=[PlanTallyRecord.credits_used.add(1)],
                )
    except TransactWriteError as error:
        if _is_cancelled(error):
            return False
        raise
    user.months.add(month)
    user.first_login = min(filter(None, (user.first_login, stamp)))
    user.last_login = max(filter(None, (user.last_login, stamp)))
    return True


def note_login_time(plan_id: str, user: PlanUser, login_at: datetime) -> None:
    """Move first/last login when this login is outside them (at most a write per user and day)."""
    stamp = format_utc(login_at)
    record = PlanUserRecord(*plan_user_key(plan_id, user.user_id))
    if user.last_login is None or stamp[:10] > user.last_login[:10]:
        _set_if(record, PlanUserRecord.last_login, stamp, PlanUserRecord.last_login < stamp, user)
        user.last_login = stamp
    if user.first_login is None or stamp < user.first_login:
        _set_if(record, PlanUserRecord.first_login, stamp, PlanUserRecord.first_login > stamp, user)
        user.first_login = stamp


def _set_if(record: PlanUserRecord, attribute: UnicodeAttribute, value: str, when: Condition, user: PlanUser) -> None:
    try:
        record.update(
            actions=[PlanUserRecord.user_id.set(user.user_id), attribute.set(value)],
            condition=attribute.does_not_exist() | when,
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def seat_activity(plan: Plan, user_id: str, kind: str, at: datetime, details: dict[str, Any]) -> EventRecord:
    """An entry of the entitlement activity log (SPEC §5), kept beside the raw events so the
    log and the rollups read one day of one organization in one query."""
    activity_id = f"sys.{kind}.{uuid.uuid4().hex}"
    stamp = format_utc(at)
    return EventRecord(
        event_key(plan.org_id, activity_id),
        day=f"{plan.org_id}#{utc_day(at).isoformat()}",
        at=f"{stamp}#{activity_id}",
        org_id=plan.org_id,
        event_id=activity_id,
        type=kind,
        timestamp=stamp,
        received_at=format_utc(datetime.now(at.tzinfo)),
        user_id=user_id,
        product=plan.product,
        properties={"plan_id": plan.plan_id, **details},
        expires_at=at + RAW_EVENT_RETENTION,
    )


def _change_seat(
    plan: Plan,
    user: PlanUser,
    after: SeatState,
    at: datetime,
    details: dict[str, Any],
    audit: LicensingItem | None,
    limit: Condition | None,
) -> None:
    """One transaction for a seat taken or freed: the user's seat (unchanged since it was read),
    seats in use (within ``limit``), the month and day tallies, the activity entry, the audit entry."""
    taking = after.held
    assert after.changed_by is not None  # a claimed or released state names the event that made it
    stamp = format_utc(at)
    tally = PlanTallyRecord.seats_taken if taking else PlanTallyRecord.seats_released
    user_condition = (
        _unchanged_since_read(user) if taking else _unchanged_since_read(user) & (PlanUserRecord.seat == "held")
    )
    with TransactWrite(connection=transaction_connection()) as transaction:
        transaction.update(
            PlanUserRecord(*plan_user_key(plan.plan_id, user.user_id)),
            actions=[
                PlanUserRecord.user_id.set(user.user_id),
                PlanUserRecord.seat.set("held" if taking else "released"),
                PlanUserRecord.seat_changed_by.set(after.changed_by),
                PlanUserRecord.seat_periods.set([list(p) for p in after.periods]),
            ],
            condition=user_condition,
        )
        transaction.update(
            PlanCounterRecord(*counter_key(plan.plan_id)),
            actions=[PlanCounterRecord.seats_in_use.add(1 if taking else -1)],
            condition=limit,
        )
        transaction.update(PlanTallyRecord(*month_key(plan.plan_id, stamp[:7])), actions=[tally.add(1)])
        transaction.update(PlanTallyRecord(*day_key(plan.plan_id, stamp[:10])), actions=[tally.add(1)])
        kind = "seat.claimed" if taking else "seat.released"
        transaction.save(seat_activity(plan, user.user_id, kind, at, details))
        if audit is not None:
            transaction.save(audit)


def claim_seat(
    plan: Plan,
    user: PlanUser,
    order_key: str,
    at: datetime,
    details: dict[str, Any],
    audit: LicensingItem | None = None,
) -> SeatOutcome:
    """Give the user a seat, within the hard limit when the plan enforces one."""
    after = user.seat.claimed(order_key, format_utc(at))
    limit: Condition | None = None
    if plan.enforcement is Enforcement.HARD:
        limit = PlanCounterRecord.seats_in_use.does_not_exist() | (PlanCounterRecord.seats_in_use < plan.hard_limit)
    try:
        _change_seat(plan, user, after, at, details, audit, limit)
    except TransactWriteError as error:
        if not _is_cancelled(error):
            raise
        user_changed, limit_reached = ([*_failed_updates(error, puts=1 if audit is None else 2), False, False])[:2]
        if limit_reached and not user_changed:
            seat_activity(plan, user.user_id, "seat.denied", at, {**details, "reason": "hard_limit"}).save()
            return SeatOutcome.DENIED
        return SeatOutcome.SUPERSEDED
    user.seat = after
    return SeatOutcome.GRANTED


def release_seat(
    plan: Plan,
    user: PlanUser,
    order_key: str,
    at: datetime,
    details: dict[str, Any],
    audit: LicensingItem | None = None,
) -> bool:
    """Free the user's seat. False when a concurrent change got there first."""
    after = user.seat.released(order_key, format_utc(at))
    try:
        _change_seat(plan, user, after, at, details, audit, limit=None)
    except TransactWriteError as error:
        if _is_cancelled(error):
            return False
        raise
    user.seat = after
    return True


def remember_release(plan: Plan, user: PlanUser, order_key: str) -> bool:
    """Record a deactivation of a user who holds no seat, so that an older login arriving later
    takes none (SPEC §4: late events count as if they had arrived on time)."""
    try:
        PlanUserRecord(*plan_user_key(plan.plan_id, user.user_id)).update(
            actions=[
                PlanUserRecord.user_id.set(user.user_id),
                PlanUserRecord.seat.set("released"),
                PlanUserRecord.seat_changed_by.set(order_key),
            ],
            condition=_unchanged_since_read(user),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    user.seat = replace(user.seat, changed_by=order_key)
    return True


def seats_in_use(plan_id: str) -> int:
    try:
        return int(PlanCounterRecord.get(*counter_key(plan_id), consistent_read=True).seats_in_use)
    except PlanCounterRecord.DoesNotExist:
        return 0


def list_plan_users(plan_id: str, limit: int, cursor: str | None) -> Page[PlanUser]:
    partition = plan_partition(plan_id)
    result = PlanUserRecord.query(
        partition,
        PlanUserRecord.sk.startswith("USER#"),
        limit=limit,
        last_evaluated_key=decode_cursor(cursor, partition),
    )
    users = [_plan_user(plan_id, record.user_id, record) for record in result]
    return Page(users, encode_cursor(result.last_evaluated_key))


def count_inactive_seat_holders(plan_id: str, active_since: str) -> int:
    """Seats held by users whose last login is before ``active_since`` (or who never logged in)."""
    records = PlanUserRecord.query(
        plan_partition(plan_id),
        PlanUserRecord.sk.startswith("USER#"),
        filter_condition=PlanUserRecord.seat == "held",
        attributes_to_get=["pk", "sk", "last_login"],
    )
    return sum(1 for record in records if record.last_login is None or record.last_login < active_since)
