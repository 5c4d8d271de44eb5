"""Usage bench (``python -m bench.usage``): what reading usage and counting consumption cost.

(1) Read capacity (RCU) and latency of one ``GET /v1/orgs/{org}/plans/{plan_id}/usage`` for an
    organization of 1k users and one of 100k users with 1M events (``--users``, ``--events``),
    for a seats, a mau and a mauc plan. Goal: the request's RCU does not grow with the events.
    The large organization is built faithfully but fast: a sample of its users goes through the
    real ingest handler; the others' raw events and the items the store writes for them (per-user
    plan items, day and month tallies, the seat counter, seat activity entries) are decided by the
    domain's own ``PlanUser.apply``, built with the store's own models and key functions, and
    written with BatchWriteItem.
(2) Average write capacity per login over a realistic month (1,000 users, each active on about
    half the days, about 3 logins per active day) through the real ingest handler in batches of
    500, for a seats, a mau and a mauc plan (one organization each). Goal: ≤ 2.5 WCU per login
    (issue 8; issue 2 asked ≤ 3.0).

Each run starts its own DynamoDB Local (own port, temporary data on disk) with template.yaml's
tables, and calls the real handlers in-process. It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness import (
    INGEST_AUTHORIZER,
    VENDOR_AUTHORIZER,
    CapacityMeter,
    CapacitySnapshot,
    Figure,
    Handler,
    LocalDynamoDB,
    call,
    code_line,
    create_plan,
    ingest_event,
    load_handler,
    local_dynamodb,
    machine_line,
    median,
    print_table,
    rest_event,
    set_lambda_environment,
)

if TYPE_CHECKING:
    from license_usage.domain.plans import Plan

BATCH = 500
WRITE_BATCH = 25  # BatchWriteItem's limit
PLAN_TYPES = ("seats", "mau", "mauc")
PRODUCT = "learn"
FEATURES = ("dashboard", "export", "goals", "calendar", "reports")
LATENCY_REPEATS = 10
TALLY_FIELDS = ("active_users", "credits_used", "seats_taken", "seats_released")  # domain.plan_user.Tally's


def stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def month_start(day: date, months_back: int) -> datetime:
    year, month = day.year, day.month - months_back
    while month < 1:
        year, month = year - 1, month + 12
    return datetime(year, month, 1, tzinfo=UTC)


def batches(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def plan_terms(kind: str, users: int, start: datetime) -> dict[str, Any]:
    """Amounts a customer of that size would buy: none of the plans runs over."""
    amount = {"seats": users + users // 5, "mau": users, "mauc": users * 12}[kind]
    return {"type": kind, "product": PRODUCT, "amount": amount, "start": stamp(start)}


# ---------------------------------------------------------------------------- events
def user_events(
    rng: random.Random, org_user: int, count: int, start: datetime, end: datetime, prefix: str
) -> list[dict[str, Any]]:
    """One user's events over [start, end): mostly logins, some AI actions and feature use."""
    span = (end - start).total_seconds()
    events = []
    for k in range(count):
        at = start + timedelta(milliseconds=int(rng.uniform(0, span) * 1000))
        roll = rng.random()
        event: dict[str, Any] = {
            "id": f"{prefix}-{org_user:06d}-{k:03d}",
            "timestamp": stamp(at),
            "user_id": f"user-{org_user:06d}",
            "product": PRODUCT,
        }
        if roll < 0.85:
            event["type"] = "user.login"
        elif roll < 0.95:
            event["type"] = "ai.quality_check"
            event["goal_id"] = f"goal-{rng.randrange(100_000):06d}"
        else:
            event["type"] = "feature.used"
            event["feature"] = rng.choice(FEATURES)
        events.append(event)
    return events


def events_per_user(total: int, users: int) -> list[int]:
    base, extra = divmod(total, users)
    return [base + (1 if u < extra else 0) for u in range(users)]


# ---------------------------------------------------------------------------- handler helpers
@dataclass
class Sent:
    events: int = 0
    seconds: float = 0.0


def send_through_handler(
    ingest: Handler, meter: CapacityMeter, org_id: str, events: list[dict[str, Any]], bucket: str
) -> Sent:
    """Send the events oldest first, in batches of 500, as a product backend would."""
    events.sort(key=lambda e: str(e["timestamp"]))
    sent = Sent()
    for chunk in batches(events, BATCH):
        request = ingest_event(org_id, json.dumps({"events": chunk}))
        with meter.counting(bucket):
            started = time.perf_counter()
            answer = call(ingest, request)
            sent.seconds += time.perf_counter() - started
        if answer["rejected"] or answer["accepted"] != len(chunk):
            raise RuntimeError(f"batch not fully accepted: {answer}")
        sent.events += len(chunk)
    return sent


def plans_by_type(org_id: str) -> dict[str, Plan]:
    # Imported here: the Lambda environment must be set before the store is imported.
    from license_usage.store.plans import plans_of_org

    return {plan.type.value: plan for plan in plans_of_org(org_id)}


# ---------------------------------------------------------------------------- bulk loading
class BulkWriter:
    """BatchWriteItem from a few threads, fed 25-item chunks through a bounded queue (the
    producer waits when the writers fall behind, so elapsed time tracks what is stored)."""

    def __init__(self, local: LocalDynamoDB, threads: int) -> None:
        self.client = local.client(pool=threads * 2)
        self.queue: queue.Queue[tuple[str, list[dict[str, Any]]] | None] = queue.Queue(maxsize=threads * 8)
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.items = 0
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while (work := self.queue.get()) is not None:
            table, items = work
            try:
                request: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items]}
                while request:
                    request = self.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            except Exception as error:  # reported by close(): a loader that drops items measures nothing
                self.errors.append(error)

    def put(self, table: str, item: dict[str, Any]) -> None:
        chunk = self.pending.setdefault(table, [])
        chunk.append(item)
        self.items += 1
        if len(chunk) == WRITE_BATCH:
            self.queue.put((table, chunk))
            self.pending[table] = []

    def flush(self) -> None:
        for table, chunk in self.pending.items():
            if chunk:
                self.queue.put((table, chunk))
        self.pending = {}

    def close(self) -> None:
        self.flush()
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise RuntimeError(f"bulk writes failed: {self.errors[:3]}")


@dataclass
class Tallies:
    """The day/month tallies and the seat counter of one plan, as the store's ADDs leave them."""

    items: dict[str, Counter[str]] = field(default_factory=dict)  # sk → attribute → value
    seats_in_use: int = 0

    def add(self, sk: str, tally: Any) -> None:
        """Add a ``domain.plan_user.Tally`` (only its non-zero fields, as the store's ADD does)."""
        counts = self.items.setdefault(sk, Counter())
        for name in TALLY_FIELDS:
            if value := getattr(tally, name):
                counts[name] += value


@dataclass
class LoadReport:
    users: int = 0
    events: int = 0
    items: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    tallies: dict[str, Tallies] = field(default_factory=dict)  # plan_id → what the load counted


def plan_user_items(
    plan: Plan, user_id: str, logins: Sequence[str], tallies: Tallies, now: datetime
) -> tuple[Any, list[Any]]:
    """The ``PlanUserRecord`` the store ends up with for this user's logins (order keys, oldest
    first; None when none of them consumes from the plan), and the seat activity entries it
    writes; counts go into ``tallies``. Mirrors ``usecases.counting.count`` and
    ``store.plan_users.commit``: the domain's ``PlanUser.apply`` decides each login, and what
    each non-empty ``Change`` says is what gets written (a repeat login writes nothing, so the
    stored state is the one after the last change)."""
    from license_usage.domain.plan_user import Action, ActionKind, PlanUser, plans_consumed_by
    from license_usage.domain.plans import Enforcement, PlanType
    from license_usage.store.keys import day_key, month_key, plan_user_key
    from license_usage.store.plan_users import PlanUserRecord, seat_activity

    user = PlanUser(plan.plan_id, user_id)
    stored: PlanUser | None = None
    activity: dict[tuple[str, str], Any] = {}  # (activity type, order key) → entry, as its id follows
    hard = plan.type is PlanType.SEATS and plan.enforcement is Enforcement.HARD
    for order_key in logins:
        action = Action(order_key, ActionKind.LOGIN)
        if not plans_consumed_by("user.login", plan.product, action.at, [plan]):
            continue
        # A login opens no later-login window (only a release does): no raw-event lookup here.
        change = user.apply(plan, action)
        if change.is_empty:
            user = change.after  # what settle() carries on with in memory
            continue
        if change.takes_seat and hard and tallies.seats_in_use >= plan.hard_limit:
            change = user.apply(plan, action, seat_free=False)  # the commit's SEAT_LIMIT outcome
        tallies.seats_in_use += change.seats_delta
        for day, tally in change.days.items():
            tallies.add(day_key(plan.plan_id, day, 0)[1], tally)
        for month, tally in change.months.items():
            tallies.add(month_key(plan.plan_id, month, 0)[1], tally)
        for step in change.steps_added:
            entry = seat_activity(plan, user_id, step.activity_type, step.mark, now)
            activity[(step.activity_type, step.mark.order_key)] = entry
        for step in change.steps_removed:
            activity.pop((step.activity_type, step.mark.order_key), None)
        if change.denied is not None:
            entry = seat_activity(plan, user_id, "seat.denied", change.denied, now, {"reason": "hard_limit"})
            activity[("seat.denied", change.denied.order_key)] = entry
        user = stored = replace(change.after, version=change.before.version + 1)
    if stored is None:
        return None, []
    record = PlanUserRecord(
        *plan_user_key(plan.plan_id, user_id),
        user_id=user_id,
        version=stored.version,
        marks=[[mark.order_key, mark.kind.value, mark.source] for mark in stored.marks],
        months=dict(sorted(stored.months.items())),
        last_login=stored.last_login,
    )
    return record, list(activity.values())


def bulk_load(
    local: LocalDynamoDB,
    org_id: str,
    plans: Sequence[Plan],
    users: range,
    counts: Sequence[int],
    start: datetime,
    end: datetime,
    now: datetime,
    seed: int,
    threads: int,
    budget_seconds: float,
) -> LoadReport:
    """Write, for each user, their raw events and what the store writes for their logins; then
    every plan's tallies. Stops taking users when the time budget is spent (the state stays exact
    for the users loaded)."""
    from license_usage.domain.events import UsageEvent
    from license_usage.domain.plans import PlanType
    from license_usage.domain.timestamps import parse_rfc3339
    from license_usage.store.dirty_days import mark_days_dirty
    from license_usage.store.events import event_record
    from license_usage.store.keys import counter_key, plan_shard_partition
    from license_usage.store.plans import PlanCounterRecord, PlanTallyRecord

    events_table = local.names["EventsTable"]
    licensing_table = local.names["LicensingTable"]
    writer = BulkWriter(local, threads)
    tallies = {plan.plan_id: Tallies() for plan in plans}
    report = LoadReport(tallies=tallies)
    days: set[str] = set()
    began = time.perf_counter()
    try:
        for user in users:
            if time.perf_counter() - began > budget_seconds:
                report.stopped_early = True
                break
            rng = random.Random(seed * 1_000_003 + user)
            raw = user_events(rng, user, counts[user], start, end, "ev")
            logins: list[str] = []
            for event in raw:
                at = parse_rfc3339(event["timestamp"])
                usage_event = UsageEvent(
                    org_id=org_id,
                    id=event["id"],
                    type=event["type"],
                    timestamp=at,
                    received_at=now,
                    user_id=event["user_id"],
                    product=event["product"],
                    goal_id=event.get("goal_id"),
                    feature=event.get("feature"),
                    source=INGEST_AUTHORIZER["subject"],
                )
                writer.put(events_table, event_record(usage_event).serialize())
                days.add(usage_event.day)
                if event["type"] == "user.login":
                    logins.append(usage_event.order_key)
            logins.sort()
            user_id = f"user-{user:06d}"
            for plan in plans:
                record, activity = plan_user_items(plan, user_id, logins, tallies[plan.plan_id], now)
                if record is not None:
                    writer.put(licensing_table, record.serialize())
                for entry in activity:
                    writer.put(events_table, entry.serialize())
            report.users += 1
            report.events += len(raw)
        for plan in plans:
            tally = tallies[plan.plan_id]
            for sk, values in tally.items.items():
                # The loader's tallies all go to the plan's first shard: its counts are the sum.
                tally_record = PlanTallyRecord(plan_shard_partition(plan.plan_id, 0), sk)
                for attribute, value in values.items():
                    setattr(tally_record, attribute, value)
                writer.put(licensing_table, tally_record.serialize())
            if plan.type is PlanType.SEATS:
                counter = PlanCounterRecord(
                    *counter_key(plan.plan_id), org_id=org_id, plan_id=plan.plan_id, seats_in_use=tally.seats_in_use
                )
                writer.put(licensing_table, counter.serialize())
    finally:
        writer.close()
    # The ingest handler marks each day it stored events for as dirty (for the rollups): the
    # store's own function does the same for the loaded days.
    mark_days_dirty(org_id, days, now)
    report.items = writer.items
    report.seconds = time.perf_counter() - began
    return report


def logins_by_user(events: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """user → the order keys (``<UTC timestamp>#<event id>``) of their logins, oldest first."""
    from license_usage.domain.timestamps import format_utc, parse_rfc3339

    logins: dict[str, list[str]] = {}
    for event in events:
        if event["type"] == "user.login":
            order_key = f"{format_utc(parse_rfc3339(event['timestamp']))}#{event['id']}"
            logins.setdefault(event["user_id"], []).append(order_key)
    for user_logins in logins.values():
        user_logins.sort()
    return logins


PLAN_USER_FIELDS = ("user_id", "version", "marks", "months", "last_login")


def check_bulk_state(
    plans: Sequence[Plan], sample: dict[str, list[str]], loaded: dict[str, Tallies], now: datetime
) -> list[str]:
    """Check the bulk loader against the product code as it is today: the loader's logic, applied
    to the sample users, must give exactly the items the real handler wrote for them, and the
    stored tallies must equal the loaded ones plus the sample's. Returns the differences."""
    from license_usage.store.keys import plan_shard_partitions
    from license_usage.store.plan_users import PlanUserRecord, seats_in_use
    from license_usage.store.plans import PlanTallyRecord
    from license_usage.store.tables import EventRecord

    problems: list[str] = []
    for plan in plans:
        expected = Tallies(
            items={sk: Counter(values) for sk, values in loaded[plan.plan_id].items.items()},
            seats_in_use=loaded[plan.plan_id].seats_in_use,
        )
        mirrored = {}
        entries: dict[str, Any] = {}
        for user_id, logins in sample.items():
            record, activity = plan_user_items(plan, user_id, logins, expected, now)
            if record is not None:
                mirrored[record.sk] = record
            entries.update((entry.pk, entry) for entry in activity)
        stored = {
            r.sk: r for r in PlanUserRecord.batch_get([(r.pk, r.sk) for r in mirrored.values()], consistent_read=True)
        }
        for sk, mine in mirrored.items():
            theirs = stored.get(sk)
            for name in PLAN_USER_FIELDS:
                if theirs is None or getattr(mine, name) != getattr(theirs, name):
                    problems.append(
                        f"{plan.type.value} {sk}.{name}: loader {getattr(mine, name)!r}, "
                        f"handler {getattr(theirs, name, None)!r}"
                    )
        # The seat activity entries: same ids (they follow from the mark), same content but the
        # time they were written.
        stored_entries = {r.pk: r for r in EventRecord.batch_get(list(entries), consistent_read=True)}
        for pk, entry in entries.items():
            mine_item = {k: v for k, v in entry.serialize().items() if k != "received_at"}
            theirs_entry = stored_entries.get(pk)
            theirs_item = (
                {k: v for k, v in theirs_entry.serialize().items() if k != "received_at"} if theirs_entry else None
            )
            if mine_item != theirs_item:
                problems.append(f"{plan.type.value} activity {pk}: loader {mine_item!r}, handler {theirs_item!r}")
        found: dict[str, dict[str, int]] = {}
        for partition in plan_shard_partitions(plan.plan_id):  # a plan's tallies: the sum of its shards'
            for item in PlanTallyRecord.query(
                partition, PlanTallyRecord.sk.between("DAY#", "MONTH#~"), consistent_read=True
            ):
                values = {name: int(getattr(item, name)) for name in TALLY_FIELDS if getattr(item, name) is not None}
                summed = found.setdefault(item.sk, {})
                for name, value in values.items():
                    summed[name] = summed.get(name, 0) + value
        found = {sk: values for sk, values in found.items() if values}
        wanted = {sk: dict(values) for sk, values in expected.items.items()}
        for sk in sorted(set(found) | set(wanted)):
            if found.get(sk) != wanted.get(sk):
                problems.append(f"{plan.type.value} {sk}: expected {wanted.get(sk)}, stored {found.get(sk)}")
        stored_seats = seats_in_use(plan.plan_id)
        if stored_seats != expected.seats_in_use:
            problems.append(f"{plan.type.value} seats_in_use: expected {expected.seats_in_use}, stored {stored_seats}")
    return problems


# ---------------------------------------------------------------------------- (1) usage reads
@dataclass
class UsageRead:
    plan_type: str
    rcu: float
    first_ms: float
    median_ms: float
    consumed: int
    capacity: CapacitySnapshot


def read_usage(api: Handler, meter: CapacityMeter, org_id: str, plan: Plan, bucket: str) -> UsageRead:
    def request() -> dict[str, Any]:
        return rest_event(
            "GET",
            "/v1/orgs/{org_id}/plans/{plan_id}/usage",
            {"org_id": org_id, "plan_id": plan.plan_id},
            VENDOR_AUTHORIZER,
        )

    meter.clear(bucket)
    with meter.counting(bucket):
        started = time.perf_counter()
        body = call(api, request())
        first = time.perf_counter() - started
    capacity = meter.snapshot(bucket)
    timings = []
    with meter.counting("usage-repeats"):
        for _ in range(LATENCY_REPEATS):
            started = time.perf_counter()
            call(api, request())
            timings.append(time.perf_counter() - started)
    return UsageRead(
        plan.type.value, capacity.read, first * 1000, median(timings) * 1000, int(body["consumed"]), capacity
    )


def part_one(
    args: argparse.Namespace, local: LocalDynamoDB, ingest: Handler, api: Handler, meter: CapacityMeter, now: datetime
) -> tuple[list[Figure], list[str]]:
    start = month_start(now.date(), 6)
    end = now - timedelta(minutes=2)
    notes: list[str] = []

    # The small organization: everything through the handler.
    small_org = "usage-small"
    for kind in PLAN_TYPES:
        create_plan(api, small_org, plan_terms(kind, args.small_users, start))
    per_user = events_per_user(args.small_users * args.events // args.users, args.small_users)
    small_events = [
        e
        for u in range(args.small_users)
        for e in user_events(random.Random(args.seed + u), u, per_user[u], start, end, "ev")
    ]
    print(f"(1) small org: {args.small_users:,} users, {len(small_events):,} events through the handler…", flush=True)
    small_sent = send_through_handler(ingest, meter, small_org, small_events, "load-small")
    notes.append(
        f"small org: {args.small_users:,} users, {small_sent.events:,} events, all through the ingest handler "
        f"in {small_sent.seconds:.0f} s"
    )

    # The large organization: bulk state for most users, then a sample through the handler.
    large_org = "usage-large"
    for kind in PLAN_TYPES:
        create_plan(api, large_org, plan_terms(kind, args.users, start))
    large_plans = plans_by_type(large_org)
    counts = events_per_user(args.events, args.users)
    sample = min(args.sample_users, args.users)
    print(
        f"(1) large org: bulk-loading users {sample:,}…{args.users - 1:,} ({sum(counts[sample:]):,} events; "
        f"budget {args.load_minutes:.0f} min)…",
        flush=True,
    )
    with meter.counting("load-large"):
        loaded = bulk_load(
            local,
            large_org,
            list(large_plans.values()),
            range(sample, args.users),
            counts,
            start,
            end,
            now,
            args.seed,
            args.load_threads,
            args.load_minutes * 60,
        )
    sample_events = [
        e
        for u in range(sample)
        for e in user_events(random.Random(args.seed * 1_000_003 + u), u, counts[u], start, end, "ev")
    ]
    print(f"(1) large org: {sample:,} sample users, {len(sample_events):,} events through the handler…", flush=True)
    sample_sent = send_through_handler(ingest, meter, large_org, sample_events, "load-sample")
    state_problems = check_bulk_state(list(large_plans.values()), logins_by_user(sample_events), loaded.tallies, now)
    if state_problems:
        notes.append(
            f"STATE CHECK FAILED: the bulk loader does not write what the handler writes ({len(state_problems)} "
            "differences): " + "; ".join(state_problems[:5])
        )
    else:
        notes.append(
            f"state check: for the {sample:,} sample users the loader's logic gives exactly the per-user items the "
            "handler wrote (plan users and seat activity entries), and the stored tallies equal the loaded ones "
            "plus the sample's (all 3 plans)"
        )
    large_users = sample + loaded.users
    large_events = sample_sent.events + loaded.events
    notes.append(
        f"large org: {large_users:,} users, {large_events:,} events — {loaded.users:,} users / "
        f"{loaded.events:,} events bulk-loaded ({loaded.items:,} items) in {loaded.seconds:.0f} s "
        f"({loaded.items / loaded.seconds:,.0f} items/s, "
        f"{args.load_threads} threads), {sample:,} users / {sample_sent.events:,} events through the handler in "
        f"{sample_sent.seconds:.0f} s"
    )
    if loaded.stopped_early:
        notes.append(
            f"THE LOAD BUDGET ({args.load_minutes:.0f} min) RAN OUT: the large org has {large_users:,} users and "
            f"{large_events:,} events, not the {args.users:,} / {args.events:,} asked for"
        )

    small_plans = plans_by_type(small_org)
    # Warm-up (not measured): the first request pays for the route's first use and connections.
    call(
        api,
        rest_event("GET", "/v1/orgs/{org_id}/plans", {"org_id": small_org}, VENDOR_AUTHORIZER),
    )
    read_usage(api, meter, small_org, small_plans["mau"], "warm")
    figures: list[Figure] = []
    for kind in PLAN_TYPES:
        small = read_usage(api, meter, small_org, small_plans[kind], f"usage-small-{kind}")
        large = read_usage(api, meter, large_org, large_plans[kind], f"usage-large-{kind}")
        figures += [
            Figure(f"(1) {kind}: RCU of one usage request, {args.small_users:,} users", f"{small.rcu:.1f}", "", None),
            Figure(
                f"(1) {kind}: RCU of one usage request, {large_users:,} users / {large_events:,} events",
                f"{large.rcu:.1f}",
                "same as small org",
                large.rcu <= small.rcu,
            ),
            Figure(
                f"(1) {kind}: latency, small org (one request; median of {LATENCY_REPEATS})",
                f"{small.first_ms:.0f} ms; {small.median_ms:.0f} ms",
                "",
                None,
            ),
            Figure(
                f"(1) {kind}: latency, large org (one request; median of {LATENCY_REPEATS})",
                f"{large.first_ms:.0f} ms; {large.median_ms:.0f} ms",
                "",
                None,
            ),
        ]
        notes.append(
            f"{kind}: consumed reported {small.consumed:,} (small) and {large.consumed:,} (large); "
            f"calls of the large org's request: " + "; ".join(line.strip() for line in large.capacity.lines())
        )
    return figures, notes


# ---------------------------------------------------------------------------- (2) a month of logins
def month_of_logins(rng: random.Random, users: int, month: datetime) -> list[dict[str, Any]]:
    """Each user active on each day of the month with probability 1/2, 1–5 logins (mean 3) on an
    active day, during working hours."""
    next_month = month_start((month + timedelta(days=32)).date(), 0)
    days = (next_month - month).days
    events = []
    for user in range(users):
        for day in range(days):
            if rng.random() >= 0.5:
                continue
            for k in range(rng.randint(1, 5)):
                at = month + timedelta(days=day, seconds=rng.uniform(7 * 3600, 19 * 3600))
                events.append(
                    {
                        "id": f"login-{user:05d}-{day:02d}-{k}",
                        "type": "user.login",
                        "timestamp": stamp(at),
                        "user_id": f"user-{user:05d}",
                        "product": PRODUCT,
                    }
                )
    return events


def part_two(
    args: argparse.Namespace, ingest: Handler, api: Handler, meter: CapacityMeter, now: datetime
) -> tuple[list[Figure], list[str], dict[str, CapacitySnapshot]]:
    month = month_start(now.date(), 1)  # the last full calendar month
    plan_start = month_start(now.date(), 3)
    events = month_of_logins(random.Random(args.seed), args.month_users, month)
    figures: list[Figure] = []
    notes = [
        f"month {month:%Y-%m}: {args.month_users:,} users, {len(events):,} logins "
        f"({len(events) / args.month_users:.1f} per user), sent oldest first in batches of {BATCH}"
    ]
    breakdowns: dict[str, CapacitySnapshot] = {}
    for kind in PLAN_TYPES:
        org = f"month-{kind}"
        create_plan(api, org, plan_terms(kind, args.month_users, plan_start))
        print(f"(2) {kind}: {len(events):,} logins through the handler…", flush=True)
        sent = send_through_handler(ingest, meter, org, list(events), f"month-{kind}")
        capacity = meter.snapshot(f"month-{kind}")
        per_login = capacity.write / sent.events
        figures.append(Figure(f"(2) {kind}: WCU per login over a month", f"{per_login:.2f}", "≤ 2.5", per_login <= 2.5))
        uncounted = capacity.uncounted_write_estimate / sent.events
        if capacity.failed_writes:
            figures.append(
                Figure(
                    f"(2) {kind}: … with refused conditional writes charged (est.)",
                    f"{per_login + uncounted:.2f}",
                    "≤ 2.5",
                    per_login + uncounted <= 2.5,
                )
            )
        notes.append(f"{kind}: {sent.events:,} logins in {sent.seconds:.0f} s ({sent.events / sent.seconds:,.0f}/s)")
        breakdowns[kind] = capacity
    return figures, notes, breakdowns


# ---------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.usage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000, help="users of the large org (default 100000)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the large org (default 1000000)")
    parser.add_argument("--small-users", type=int, default=1_000, help="users of the small org (default 1000)")
    parser.add_argument("--sample-users", type=int, default=500, help="large-org users sent through the handler")
    parser.add_argument("--load-threads", type=int, default=4, help="BatchWriteItem threads of the bulk load")
    parser.add_argument("--load-minutes", type=float, default=15.0, help="time budget of the bulk load (minutes)")
    parser.add_argument("--month-users", type=int, default=1_000, help="users of (2)'s month (default 1000)")
    parser.add_argument("--part", choices=("1", "2", "all"), default="all")
    parser.add_argument("--data-dir", type=Path, help="parent of DynamoDB Local's data folder (default: system temp)")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    print(f"bench.usage — {machine_line()}", flush=True)
    print(f"code: {code_line()}", flush=True)

    with local_dynamodb("usage", args.data_dir) as local:
        set_lambda_environment(local)
        meter = CapacityMeter(local.index_keys)
        meter.install()
        ingest = load_handler("ingest", "bench_ingest_app")
        api = load_handler("api", "bench_api_app")
        now = datetime.now(UTC)
        figures: list[Figure] = []
        notes: list[str] = []
        breakdowns: dict[str, CapacitySnapshot] = {}
        if args.part in ("1", "all"):
            part_figures, part_notes = part_one(args, local, ingest, api, meter, now)
            figures += part_figures
            notes += part_notes
        if args.part in ("2", "all"):
            part_figures, part_notes, breakdowns = part_two(args, ingest, api, meter, now)
            figures += part_figures
            notes += part_notes

    print_table("Usage figures", figures)
    print("\nNotes:")
    for note in notes:
        print(f"  - {note}")
    for kind, capacity in breakdowns.items():
        print(f"\n(2) {kind}: where the write capacity went (per operation and table):")
        for line in capacity.lines():
            print(line)
        if capacity.failed_writes:
            print(
                f"    (+{capacity.failed_writes} refused conditional writes / cancelled transactions: no "
                f"ConsumedCapacity is returned for them; AWS would charge ≈{capacity.uncounted_write_estimate:.0f} WCU)"
            )
    print(f"\nbench.usage took {time.perf_counter() - began:.0f} s — {machine_line()}")


if __name__ == "__main__":
    main()
