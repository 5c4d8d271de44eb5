"""Rollup bench (``python -m bench.rollup``): what the daily rollup and the report it feeds cost.

(a) Time of the daily rollup (the real ``functions/daily_rollup`` handler, invoked in-process with
    an EventBridge scheduled event) for ONE day of 200k events of one organization, against the
    floor: a plain boto3 Query of the ``by_day`` index for that organization-day (all pages, full
    items, same process). Goal: rollup ≤ 2× the floor. The events are a realistic mix: mostly
    logins of ~20k users (most events carry a group, the others are looked up in the users
    directory), AI actions over ~2k goals, goal suggestions, feature use and a few lifecycle events.
(b) Read capacity (RCU) and latency of ONE ``GET /v1/orgs/{org}/reports/license-ai-usage
    ?timeframe=this_year`` (the real ``functions/reports`` handler, reporter authorizer context)
    for an organization with 100k events and one with 2M events spread over this year, both rolled
    up first by the real handler. The two organizations have the same users, groups, goals,
    directory and plan; only the event volume differs. Goal: the report's reads are the same for both.
    If 2M events cannot be loaded and rolled up within ``--large-minutes`` (default 15) here, the
    large organization gets the largest volume that fits (projected from the small organization's
    rollup rate), and the bench says so.

Loading is fast but faithful: the events are written with BatchWriteItem from a few threads as the
exact items the ingest store writes (checked against ``store.events.event_record`` for a sample), the
days are marked dirty with ``store.dirty_days.mark_days_dirty``, and the users directory as it was
before the data starts is written by ``store.users.apply_directory_change`` (a sample of its users;
the rest as the items that function leaves, checked against the sample). The lifecycle events'
directory entries are left to the rollup, as ingest leaves them (the bench checks it writes them).
Each run starts its own DynamoDB Local (own port; database on tmpfs when ``/dev/shm``
exists, see ``--data-dir``) with template.yaml's tables. It prints figures; it asserts nothing
about time.
"""

from __future__ import annotations

import argparse
import bisect
import calendar
import cProfile
import io
import os
import pstats
import queue
import random
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from bench.harness import (
    INGEST_AUTHORIZER,
    VENDOR_AUTHORIZER,
    CapacityMeter,
    CapacitySnapshot,
    Figure,
    Handler,
    LambdaContext,
    LocalDynamoDB,
    _item_size,
    call,
    create_plan,
    load_handler,
    local_dynamodb,
    machine_line,
    median,
    print_table,
    rest_event,
    set_lambda_environment,
)

if TYPE_CHECKING:
    from license_usage.domain.directory import DirectoryChange
    from license_usage.domain.events import UsageEvent

PRODUCT = "learn"
SOURCE = INGEST_AUTHORIZER["subject"]
WRITE_BATCH = 25  # BatchWriteItem's limit
CHECK_EVERY = 97  # every 97th generated item is compared with what the store's own code builds
FEATURES = ("dashboard", "export", "goals", "calendar", "reports")
# A product backend's day: mostly logins, AI actions over goals, goal suggestions, feature use and
# a few directory (lifecycle) events. Weights per 10,000 events.
EVENT_MIX: tuple[tuple[str, int], ...] = (
    ("user.login", 8_000),
    ("ai.quality_check", 700),
    ("ai.suggest_alignment", 500),
    ("ai.suggest_goal", 300),
    ("feature.used", 490),
    ("user.created", 3),
    ("user.invited", 2),
    ("user.roles_changed", 2),
    ("user.deactivated", 2),
    ("user.reactivated", 1),
)
MIX_TYPES = tuple(name for name, _ in EVENT_MIX)
MIX_CUMULATIVE = tuple(sum(weight for _, weight in EVENT_MIX[: i + 1]) for i in range(len(EVENT_MIX)))
# Share of logins and AI actions whose product sends the user's group with the event; the others'
# group comes from the users directory (or "unassigned" for users the directory does not know).
GROUPED_SHARE = 0.7
ROLES = ("admin", "program_lead", "coach", "learner", "observer")
REPORT_PATH = "/v1/orgs/{org_id}/reports/license-ai-usage"
DAY_MICROSECONDS = 86_400_000_000


# ---------------------------------------------------------------------------- population
@dataclass(frozen=True)
class Population:
    """The users, groups and goals of an organization (the same for every org of part (b))."""

    users: int
    goals: int
    groups: int
    directory_users: int  # users 0…directory_users-1 are in the users directory

    @staticmethod
    def user_id(user: int) -> str:
        return f"user-{user:05d}"

    @staticmethod
    def goal_id(goal: int) -> str:
        return f"goal-{goal:04d}"

    def group(self, user: int) -> str:
        return f"site-{user % self.groups:02d}"

    @staticmethod
    def roles(user: int) -> tuple[str, ...]:
        if user % 200 == 0:
            return ("admin",)
        if user % 50 == 0:
            return ("program_lead", "coach")
        if user % 10 == 0:
            return ("coach",)
        if user % 25 == 1:
            return ("observer",)
        return ("learner",)


class EventSpec(NamedTuple):
    event_id: str
    type: str
    at: datetime
    user: int
    goal: int | None = None
    quantity: int | None = None
    group: str | None = None
    roles: tuple[str, ...] | None = None
    feature: str | None = None


def make_event(rng: random.Random, population: Population, event_id: str, at: datetime) -> EventSpec:
    kind = MIX_TYPES[bisect.bisect_right(MIX_CUMULATIVE, rng.random() * MIX_CUMULATIVE[-1])]
    user = rng.randrange(population.users)
    group = population.group(user) if rng.random() < GROUPED_SHARE else None
    if kind in ("ai.quality_check", "ai.suggest_alignment"):
        return EventSpec(event_id, kind, at, user, goal=rng.randrange(population.goals), group=group)
    if kind == "ai.suggest_goal":
        return EventSpec(event_id, kind, at, user, quantity=rng.randint(1, 3), group=group)
    if kind == "feature.used":
        return EventSpec(event_id, kind, at, user, feature=rng.choice(FEATURES))
    if kind == "user.created":
        return EventSpec(event_id, kind, at, user, group=population.group(user), roles=population.roles(user))
    if kind == "user.roles_changed":
        return EventSpec(event_id, kind, at, user, roles=(rng.choice(ROLES),))
    if kind == "user.login":
        return EventSpec(event_id, kind, at, user, group=group)
    return EventSpec(event_id, kind, at, user)


def day_of_events(rng: random.Random, population: Population, day: date, count: int) -> Iterator[EventSpec]:
    """``count`` events spread over one UTC day."""
    start = datetime.combine(day, clock(), UTC)
    for k in range(count):
        at = start + timedelta(microseconds=rng.randrange(DAY_MICROSECONDS))
        yield make_event(rng, population, f"d{day:%Y%m%d}-{k:06d}", at)


def year_of_events(
    rng: random.Random, population: Population, first: date, until: datetime, count: int
) -> Iterator[EventSpec]:
    """``count`` events from ``first`` 00:00 to ``until``, weekdays four times as busy as weekends.
    Each event's instant is drawn independently, so any prefix is spread over the whole period."""
    days: list[tuple[datetime, int]] = []  # (day start, span in µs)
    weights: list[float] = []
    day = first
    while day <= until.date():
        start = datetime.combine(day, clock(), UTC)
        span = min(DAY_MICROSECONDS, int((until - start).total_seconds() * 1_000_000))
        if span > 0:
            days.append((start, span))
            weights.append((1.0 if day.weekday() < 5 else 0.25) * span / DAY_MICROSECONDS)
        day += timedelta(days=1)
    cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
    for k in range(count):
        start, span = days[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
        yield make_event(rng, population, f"y-{k:07d}", start + timedelta(microseconds=rng.randrange(span)))


# ---------------------------------------------------------------------------- the store's items
def _utc_text(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_item(
    org_id: str, spec: EventSpec, received_at: str, retention: timedelta, population: Population
) -> dict[str, Any]:
    """The item ``store.events.event_record(event).serialize()`` gives (checked by ``check_item``),
    built directly: pynamodb's model serialization would cost more CPU than DynamoDB Local."""
    from license_usage.domain.events import DIRECTORY_EVENT_TYPES
    from license_usage.store.keys import day_partition, directory_day_partition

    stamp = _utc_text(spec.at)
    # Lifecycle events have a by_day partition of their own; the others go to their id's shard.
    if spec.type in DIRECTORY_EVENT_TYPES:
        partition = directory_day_partition(org_id, stamp[:10])
    else:
        partition = day_partition(org_id, stamp[:10], spec.event_id)
    item: dict[str, Any] = {
        "pk": {"S": f"{org_id}#{spec.event_id}"},
        "day": {"S": partition},
        "at": {"S": f"{stamp}#{spec.event_id}"},
        "org_id": {"S": org_id},
        "event_id": {"S": spec.event_id},
        "type": {"S": spec.type},
        "timestamp": {"S": stamp},
        "received_at": {"S": received_at},
        "user_id": {"S": population.user_id(spec.user)},
        "product": {"S": PRODUCT},
        "source": {"S": SOURCE},
        "expires_at": {"N": str(calendar.timegm((spec.at + retention).utctimetuple()))},
    }
    if spec.roles is not None:
        item["roles"] = {"L": [{"S": role} for role in spec.roles]}
    if spec.goal is not None:
        item["goal_id"] = {"S": population.goal_id(spec.goal)}
    if spec.quantity is not None:
        item["quantity"] = {"N": str(spec.quantity)}
    if spec.feature is not None:
        item["feature"] = {"S": spec.feature}
    if spec.group is not None:
        item["group"] = {"S": spec.group}
    return item


def usage_event(org_id: str, spec: EventSpec, received_at: datetime, population: Population) -> UsageEvent:
    from license_usage.domain.events import UsageEvent

    return UsageEvent(
        org_id=org_id,
        id=spec.event_id,
        type=spec.type,
        timestamp=spec.at,
        received_at=received_at,
        user_id=population.user_id(spec.user),
        product=PRODUCT,
        roles=spec.roles,
        goal_id=population.goal_id(spec.goal) if spec.goal is not None else None,
        quantity=spec.quantity,
        feature=spec.feature,
        group=spec.group,
        source=SOURCE,
    )


def check_item(item: dict[str, Any], event: UsageEvent) -> None:
    from license_usage.store.events import event_record

    expected = event_record(event).serialize()
    if item != expected:
        raise RuntimeError(f"the bulk loader's item differs from the store's: {item} != {expected}")


def directory_item(org_id: str, population: Population, user: int, order_key: str) -> dict[str, Any]:
    """The users-directory item ``apply_directory_change`` leaves after one ``user.created``
    (checked against what it wrote for a sample of users by ``seed_directory``)."""
    from license_usage.store.keys import directory_user_key as user_key
    from license_usage.store.users import UserRecord

    entry = {"status": "active", "roles": list(population.roles(user)), "group": population.group(user)}
    record = UserRecord(
        *user_key(org_id, population.user_id(user)), user_id=population.user_id(user), history={order_key: entry}
    )
    item: dict[str, Any] = record.serialize()
    return item


def directory_change_of(org_id: str, population: Population, user: int, order_key: str) -> DirectoryChange:
    from license_usage.domain.directory import DirectoryChange

    return DirectoryChange(
        user_id=population.user_id(user),
        order_key=order_key,
        status="active",
        roles=population.roles(user),
        group=population.group(user),
    )


# ---------------------------------------------------------------------------- bulk loading
class BulkWriter:
    """BatchWriteItem from a few threads, fed 25-item chunks through a bounded queue (the producer
    waits when the writers fall behind, so elapsed time tracks what is stored)."""

    def __init__(self, local: LocalDynamoDB, table: str, threads: int) -> None:
        self.client = local.client(pool=threads * 2)
        self.table = table
        self.queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=threads * 8)
        self.chunk: list[dict[str, Any]] = []
        self.items = 0
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while (items := self.queue.get()) is not None:
            try:
                request: dict[str, Any] = {self.table: [{"PutRequest": {"Item": item}} for item in items]}
                while request:
                    request = self.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            except Exception as error:  # reported by close(): a loader that drops items measures nothing
                self.errors.append(error)

    def put(self, item: dict[str, Any]) -> None:
        self.chunk.append(item)
        self.items += 1
        if len(self.chunk) == WRITE_BATCH:
            self.queue.put(self.chunk)
            self.chunk = []

    def close(self) -> None:
        if self.chunk:
            self.queue.put(self.chunk)
            self.chunk = []
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise RuntimeError(f"bulk writes failed: {self.errors[:3]}")


@dataclass
class Loaded:
    """What a load wrote, and what the rollup should find in it."""

    events: int = 0
    seconds: float = 0.0
    checked: int = 0
    stopped_early: bool = False
    days: set[str] = field(default_factory=set)
    lifecycle: list[UsageEvent] = field(default_factory=list)
    logins_by_month: dict[str, set[int]] = field(default_factory=dict)
    quality_check: set[int] = field(default_factory=set)
    suggest_alignment: set[int] = field(default_factory=set)
    suggest_goal: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def load_events(
    local: LocalDynamoDB,
    org_id: str,
    population: Population,
    specs: Iterable[EventSpec],
    now: datetime,
    threads: int,
    stop: Callable[[int, float], bool] | None = None,
) -> Loaded:
    """Write the events as the ingest store writes them; ``stop(events, seconds)`` may end the load
    early (checked every 5,000 events)."""
    from license_usage.domain.events import RAW_EVENT_RETENTION

    writer = BulkWriter(local, local.names["EventsTable"], threads)
    loaded = Loaded()
    received_at = _utc_text(now)
    began = time.perf_counter()
    try:
        for index, spec in enumerate(specs):
            if stop is not None and index % 5_000 == 0 and stop(index, time.perf_counter() - began):
                loaded.stopped_early = True
                break
            item = event_item(org_id, spec, received_at, RAW_EVENT_RETENTION, population)
            lifecycle = spec.type.startswith("user.") and spec.type != "user.login"
            if index % CHECK_EVERY == 0 or lifecycle:
                event = usage_event(org_id, spec, now, population)
                check_item(item, event)
                loaded.checked += 1
                if lifecycle:
                    loaded.lifecycle.append(event)
            writer.put(item)
            loaded.events += 1
            loaded.days.add(item["timestamp"]["S"][:10])
            loaded.counts[spec.type] = loaded.counts.get(spec.type, 0) + 1
            if spec.type == "user.login":
                loaded.logins_by_month.setdefault(item["timestamp"]["S"][:7], set()).add(spec.user)
            elif spec.type == "ai.quality_check" and spec.goal is not None:
                loaded.quality_check.add(spec.goal)
            elif spec.type == "ai.suggest_alignment" and spec.goal is not None:
                loaded.suggest_alignment.add(spec.goal)
            elif spec.type == "ai.suggest_goal":
                loaded.suggest_goal += spec.quantity or 1
    finally:
        writer.close()
    loaded.seconds = time.perf_counter() - began
    return loaded


def directory_changes_of(events: Sequence[UsageEvent]) -> int:
    """How many users-directory entries these lifecycle events make: what the daily rollup must
    write for them (ingest stores the events only)."""
    from license_usage.domain.directory import directory_change

    return sum(directory_change(event) is not None for event in events)


@dataclass
class Directory:
    users: int
    through_function: int
    seconds: float


def seed_directory(
    local: LocalDynamoDB, org_id: str, population: Population, created: datetime, sample: int, threads: int
) -> Directory:
    """The directory's users, each created (active, with roles and a group) before the data starts:
    the first ``sample`` through ``apply_directory_change``, the others written as the items it
    leaves, which must equal what it wrote for the sample."""
    from license_usage.store.keys import directory_user_key as user_key
    from license_usage.store.users import apply_directory_change

    began = time.perf_counter()
    sample = min(sample, population.directory_users)

    def order_key(user: int) -> str:
        return f"{_utc_text(created + timedelta(seconds=user))}#dir-{user:05d}"

    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(
                lambda user: apply_directory_change(
                    org_id, directory_change_of(org_id, population, user, order_key(user))
                ),
                range(sample),
            )
        )
    client = local.client()
    table = local.names["LicensingTable"]
    for user in range(0, sample, max(1, sample // 50)):
        pk, sk = user_key(org_id, population.user_id(user))
        stored = client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)["Item"]
        mirrored = directory_item(org_id, population, user, order_key(user))
        if stored != mirrored:
            raise RuntimeError(f"the directory item differs from apply_directory_change's: {mirrored} != {stored}")
    writer = BulkWriter(local, table, threads)
    try:
        for user in range(sample, population.directory_users):
            writer.put(directory_item(org_id, population, user, order_key(user)))
    finally:
        writer.close()
    return Directory(population.directory_users, sample, time.perf_counter() - began)


def write_mau_tallies(plan_id: str, loaded: Loaded) -> None:
    """The month counters a mau plan starting Jan 1 holds for these logins (users with a login in
    the month), so the report's plan row reads what it would read in production."""
    from license_usage.store.keys import month_key
    from license_usage.store.plans import PlanTallyRecord

    with PlanTallyRecord.batch_write() as batch:
        for month, users in loaded.logins_by_month.items():
            batch.save(PlanTallyRecord(*month_key(plan_id, month, 0), active_users=len(users)))  # shard 0: the sum


# ---------------------------------------------------------------------------- measuring
class JvmClock:
    """CPU seconds used so far by the DynamoDB Local process listening on ``port`` (from /proc)."""

    def __init__(self, port: int) -> None:
        self.pid: int | None = None
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(a.endswith(b"DynamoDBLocal.jar") for a in args) and str(port).encode() in args:
                self.pid = int(entry.name)
                break
        self.ticks = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float | None:
        if self.pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime, stime


@dataclass
class Run:
    seconds: float
    cpu: float  # this process
    jvm_cpu: float | None
    capacity: CapacitySnapshot
    result: Any = None


def measured(meter: CapacityMeter, jvm: JvmClock, bucket: str, action: Callable[[], Any]) -> Run:
    meter.clear(bucket)
    jvm_before = jvm.seconds()
    cpu_before = time.process_time()
    with meter.counting(bucket):
        began = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - began
    cpu = time.process_time() - cpu_before
    jvm_after = jvm.seconds()
    jvm_cpu = jvm_after - jvm_before if jvm_after is not None and jvm_before is not None else None
    return Run(seconds, cpu, jvm_cpu, meter.snapshot(bucket), result)


def floor_query(client: Any, table: str, org_id: str, day: str) -> int:
    """The floor: every event of the organization-day from the ``by_day`` index (the day's
    shards and its lifecycle events' partition), full items."""
    from license_usage.store.keys import day_partitions, directory_day_partition

    count = 0
    for partition in (*day_partitions(org_id, day), directory_day_partition(org_id, day)):
        request: dict[str, Any] = {
            "TableName": table,
            "IndexName": "by_day",
            "KeyConditionExpression": "#day = :day",
            "ExpressionAttributeNames": {"#day": "day"},
            "ExpressionAttributeValues": {":day": {"S": partition}},
        }
        while True:
            page = client.query(**request)
            count += len(page["Items"])
            if not page.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return count


def scheduled_event(at: datetime) -> dict[str, Any]:
    """An EventBridge scheduled event, as the daily rollup's schedule sends it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/bench-daily-rollup"],
        "detail": {},
    }


def invoke_rollup(rollup: Handler, at: datetime) -> dict[str, Any]:
    return rollup(scheduled_event(at), LambdaContext(function_name="bench-daily-rollup"))


def profile_lines(action: Callable[[], Any], top: int) -> list[str]:
    """cProfile of one (unmeasured) run: the top functions by own time and by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    action()
    profiler.disable()
    lines: list[str] = []
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(order).print_stats(top)
        text = out.getvalue()
        start = text.find("   ncalls")
        lines.append(f"  by {order}:")
        lines += ["    " + line for line in text[start:].rstrip().splitlines() if line.strip()]
    return lines


def capacity_lines(title: str, capacity: CapacitySnapshot) -> list[str]:
    return [f"{title} (calls per operation and table, capacity reported):", *capacity.lines()]


def call_seconds(capacity: CapacitySnapshot, operation: str, table: str) -> float:
    """Summed time of the calls of one operation on one table (parsing of the answers included)."""
    stats = capacity.by_operation.get((operation, table))
    return float(getattr(stats, "seconds", 0.0)) if stats is not None else 0.0


def fmt_jvm(run: Run) -> str:
    return f"{run.jvm_cpu:.1f}" if run.jvm_cpu is not None else "?"


# ---------------------------------------------------------------------------- (a) one day
def create_api_key(api: Handler, org_id: str) -> None:
    """An ingest key, through the real API (POST /v1/orgs/{org_id}/api-keys as a vendor admin)."""
    call(api, rest_event("POST", "/v1/orgs/{org_id}/api-keys", {"org_id": org_id}, VENDOR_AUTHORIZER, "{}"), 201)


def part_a(
    args: argparse.Namespace,
    local: LocalDynamoDB,
    api: Handler,
    rollup: Handler,
    meter: CapacityMeter,
    jvm: JvmClock,
    now: datetime,
) -> tuple[list[Figure], list[str], list[str]]:
    from license_usage.store.dirty_days import mark_days_dirty
    from license_usage.store.rollups import stored_days

    org_id = "rollup-day"
    population = Population(args.users, args.goals, args.groups, args.directory_users)
    day = now.date() - timedelta(days=1)
    rollup_at = datetime.combine(now.date(), clock(0, 15), UTC)
    notes: list[str] = []
    details: list[str] = []

    # A customer sending events has an ingest key: that registers the organization, which the
    # rollup's per-organization work (named timeframes, inactive assignments) goes by.
    create_api_key(api, org_id)
    print(f"(a) directory: {population.directory_users:,} users…", flush=True)
    with meter.counting("load"):
        directory = seed_directory(
            local, org_id, population, datetime(2025, 12, 1, 9, tzinfo=UTC), args.directory_sample, args.threads
        )
    print(f"(a) loading {args.day_events:,} events of {day}…", flush=True)
    with meter.counting("load"):
        loaded = load_events(
            local,
            org_id,
            population,
            day_of_events(random.Random(args.seed), population, day, args.day_events),
            now,
            args.threads,
        )
    rate = loaded.events / loaded.seconds
    notes.append(
        f"(a) load: {loaded.events:,} events of {day} in {loaded.seconds:.0f} s ({rate:,.0f}/s, BatchWriteItem from "
        f"{args.threads} threads; {loaded.checked:,} items checked equal to store.events.event_record's); directory of "
        f"{directory.users:,} users ({directory.through_function:,} through apply_directory_change, the rest as the "
        f"items it leaves) in {directory.seconds:.0f} s; {len(loaded.lifecycle):,} lifecycle events, whose "
        "directory entries the first rollup writes"
    )
    mix = ", ".join(f"{kind} {loaded.counts.get(kind, 0):,}" for kind in MIX_TYPES)
    notes.append(
        f"(a) the day: {mix}; {population.users:,} users ({population.directory_users:,} in the directory), "
        f"{population.groups} groups, {population.goals:,} goals; {GROUPED_SHARE:.0%} of logins and AI actions carry "
        "their group, the others' group is looked up in the directory"
    )

    client = local.client()
    table = local.names["EventsTable"]
    floors: list[Run] = []
    rollups: list[Run] = []
    for repeat in range(args.repeats):
        print(f"(a) run {repeat + 1}/{args.repeats}: floor query, then rollup…", flush=True)
        floor = measured(meter, jvm, "floor", lambda: floor_query(client, table, org_id, day.isoformat()))
        if floor.result != loaded.events:
            raise RuntimeError(f"the floor query found {floor.result} events, {loaded.events} were loaded")
        floors.append(floor)
        with meter.counting("marks"):
            mark_days_dirty(org_id, [day.isoformat()], now)
        run = measured(meter, jvm, "rollup", lambda: invoke_rollup(rollup, rollup_at))
        if f"{org_id}/{day}" not in run.result["days_rolled_up"]:
            raise RuntimeError(f"the rollup did not roll up {org_id}/{day}: {run.result}")
        entries = directory_changes_of(loaded.lifecycle) if repeat == 0 else 0
        if run.result.get("directory_entries_written", 0) != entries:
            raise RuntimeError(f"the rollup should have written {entries} directory entries: {run.result}")
        rollups.append(run)
        print(f"    floor {floor.seconds:.2f} s, rollup {run.seconds:.2f} s", flush=True)

    # What the rollup stored must be the day's figures (SPEC §3, §6).
    days, groups = stored_days(org_id, day, day)
    stored = days[0]
    expected = {
        "quality_check": len(loaded.quality_check),
        "suggest_alignment": len(loaded.suggest_alignment),
        "suggest_goal": loaded.suggest_goal,
    }
    lifecycle = {
        "added": loaded.counts.get("user.created", 0),
        "invited": loaded.counts.get("user.invited", 0),
        "deactivated": loaded.counts.get("user.deactivated", 0),
        "deleted": 0,
    }
    if stored.ai.by_type() != expected or dict(stored.lifecycle) != lifecycle:
        raise RuntimeError(f"stored figures {stored} differ from the day's: {expected}, {lifecycle}")
    notes.append(
        f"(a) check: the stored day holds the day's figures ({expected}, {lifecycle}) and {len(groups)} group items "
        f"({', '.join(sorted(groups)[:3])}, …); no directory entry needed repair"
    )

    floor_median = median([r.seconds for r in floors])
    rollup_median = median([r.seconds for r in rollups])
    ratio = rollup_median / floor_median
    # The rollup's time outside its Query of the day's events (group lookups, figures, writes, roles).
    beyond_query = median([r.seconds - call_seconds(r.capacity, "Query", table) for r in rollups])
    figures = [
        Figure(
            f"(a) load {loaded.events:,} events (BatchWriteItem, {args.threads} threads)",
            f"{loaded.seconds:.0f} s",
            "",
            None,
        ),
        Figure(
            f"(a) floor: Query by_day, {loaded.events:,} full items (median of {args.repeats})",
            f"{floor_median:.2f} s",
            "",
            None,
        ),
        Figure(f"(a) daily rollup of that day (median of {args.repeats})", f"{rollup_median:.2f} s", "", None),
        Figure("(a) rollup ÷ floor", f"{ratio:.2f}×", "≤ 2×", ratio <= 2.0),
        Figure("(a) … rollup time outside its Query of the events (median)", f"{beyond_query:.2f} s", "", None),
    ]
    runs = "; ".join(
        f"#{i + 1} floor {f.seconds:.2f} s (CPU here {f.cpu:.1f} s, JVM {fmt_jvm(f)} s), rollup {r.seconds:.2f} s "
        f"(CPU here {r.cpu:.1f} s, JVM {fmt_jvm(r)} s; its Query {call_seconds(r.capacity, 'Query', table):.2f} s)"
        for i, (f, r) in enumerate(zip(floors, rollups, strict=True))
    )
    notes.append(f"(a) runs, interleaved floor/rollup (the first pays DynamoDB Local's JIT warm-up): {runs}")
    day_query = rollups[-1].capacity.by_operation.get(("Query", table))
    notes.append(
        f"(a) read capacity: floor {floors[-1].capacity.read:,.1f} RCU, rollup {rollups[-1].capacity.read:,.1f} RCU "
        f"(of which its Query of the day's events {day_query.read if day_query else 0.0:,.1f})"
    )
    details += capacity_lines("(a) floor, last run", floors[-1].capacity)
    details += capacity_lines("(a) rollup, last run", rollups[-1].capacity)
    if args.profile:
        print("(a) profiling one more rollup (not measured)…", flush=True)
        mark_days_dirty(org_id, [day.isoformat()], now)
        details.append("(a) cProfile of one more rollup run (not measured):")
        with meter.counting("profile"):
            details += profile_lines(lambda: invoke_rollup(rollup, rollup_at), args.profile_top)
    return figures, notes, details


# ---------------------------------------------------------------------------- (b) the report
@dataclass
class OrgLoad:
    org_id: str
    plan_id: str
    loaded: Loaded
    asked: int
    directory: Directory
    rollup: Run


def load_and_roll_up(
    args: argparse.Namespace,
    local: LocalDynamoDB,
    api: Handler,
    rollup: Handler,
    meter: CapacityMeter,
    jvm: JvmClock,
    now: datetime,
    org_id: str,
    events: int,
    seed: int,
    stop: Callable[[int, float], bool] | None,
) -> OrgLoad:
    from license_usage.store.dirty_days import mark_days_dirty

    population = Population(args.users, args.goals, args.groups, args.directory_users)
    year_start = date(now.year, 1, 1)
    plan = create_plan(
        api,
        org_id,
        {"type": "mau", "product": PRODUCT, "amount": population.users, "start": f"{year_start.isoformat()}T00:00:00Z"},
    )
    print(f"(b) {org_id}: directory of {population.directory_users:,} users…", flush=True)
    with meter.counting("load"):
        directory = seed_directory(
            local, org_id, population, datetime(now.year - 1, 12, 1, 9, tzinfo=UTC), args.directory_sample, args.threads
        )
    print(f"(b) {org_id}: loading up to {events:,} events ({year_start} … now)…", flush=True)
    until = now - timedelta(minutes=10)
    with meter.counting("load"):
        loaded = load_events(
            local,
            org_id,
            population,
            year_of_events(random.Random(seed), population, year_start, until, events),
            now,
            args.threads,
            stop,
        )
        write_mau_tallies(str(plan["plan_id"]), loaded)
        mark_days_dirty(org_id, loaded.days, now)
    print(
        f"(b) {org_id}: {loaded.events:,} events in {loaded.seconds:.0f} s; rolling up {len(loaded.days)} days…",
        flush=True,
    )
    run = measured(meter, jvm, f"rollup-{org_id}", lambda: invoke_rollup(rollup, now))
    rolled = [label for label in run.result["days_rolled_up"] if label.startswith(f"{org_id}/")]
    if len(rolled) != len(loaded.days):
        raise RuntimeError(f"{org_id}: {len(rolled)} days rolled up, {len(loaded.days)} expected")
    entries = directory_changes_of(loaded.lifecycle)
    if run.result.get("directory_entries_written", 0) != entries:
        raise RuntimeError(f"{org_id}: the rollup should have written {entries} directory entries: {run.result}")
    return OrgLoad(org_id, str(plan["plan_id"]), loaded, events, directory, run)


@dataclass
class ReportRead:
    first: Run
    repeats: list[float]
    body: dict[str, Any]
    day_items: int
    group_items: int
    stored_bytes: int
    users_per_group_day: float
    goals_per_day: float


def report_event(org_id: str) -> dict[str, Any]:
    reporter = {"role": "reporter", "org_id": org_id, "subject": "bench-reporter"}
    event = rest_event("GET", REPORT_PATH, {"org_id": org_id}, reporter)
    event["queryStringParameters"] = {"timeframe": "this_year"}
    event["multiValueQueryStringParameters"] = {"timeframe": ["this_year"]}
    return event


def read_report(
    local: LocalDynamoDB,
    reports: Handler,
    meter: CapacityMeter,
    jvm: JvmClock,
    org_id: str,
    repeats: int,
    now: datetime,
) -> ReportRead:
    first = measured(meter, jvm, f"report-{org_id}", lambda: call(reports, report_event(org_id)))
    timings = []
    with meter.counting("report-repeats"):
        for _ in range(repeats):
            began = time.perf_counter()
            call(reports, report_event(org_id))
            timings.append(time.perf_counter() - began)
    # What the report's day query reads: the organization's day items and per-group day items.
    client = local.client()
    request: dict[str, Any] = {
        "TableName": local.names["LicensingTable"],
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
        "ExpressionAttributeValues": {
            ":pk": {"S": f"DAILY#{org_id}"},
            ":first": {"S": f"{now.year}-01-01"},
            ":last": {"S": f"{now.date().isoformat()}#~"},
        },
    }
    day_items = group_items = size = users = goals = 0
    with meter.counting("inspect"):
        while True:
            page = client.query(**request)
            for item in page["Items"]:
                size += _item_size(item)
                if "#G#" in item["sk"]["S"]:
                    group_items += 1
                    users += len(item.get("active_users", {}).get("SS", []))
                else:
                    day_items += 1
                    goals += len(item.get("quality_check", {}).get("SS", []))
                    goals += len(item.get("suggest_alignment", {}).get("SS", []))
            if not page.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return ReportRead(
        first,
        timings,
        first.result,
        day_items,
        group_items,
        size,
        users / max(1, group_items),
        goals / max(1, day_items),
    )


def part_b(
    args: argparse.Namespace,
    local: LocalDynamoDB,
    api: Handler,
    reports: Handler,
    rollup: Handler,
    meter: CapacityMeter,
    jvm: JvmClock,
    now: datetime,
) -> tuple[list[Figure], list[str], list[str]]:
    notes: list[str] = []
    details: list[str] = []
    small = load_and_roll_up(
        args, local, api, rollup, meter, jvm, now, "report-small", args.small_events, args.seed + 1, None
    )
    # The large organization: load until the load so far plus its projected rollup (at the small
    # organization's rollup rate, events per second) would exceed the budget.
    rollup_rate = small.loaded.events / small.rollup.seconds
    budget = float(args.large_minutes) * 60

    def stop(events: int, seconds: float) -> bool:
        return seconds + events / rollup_rate > budget

    large = load_and_roll_up(
        args, local, api, rollup, meter, jvm, now, "report-large", args.large_events, args.seed + 2, stop
    )
    for org in (small, large):
        notes.append(
            f"(b) {org.org_id}: {org.loaded.events:,} events over {len(org.loaded.days)} days loaded in "
            f"{org.loaded.seconds:.0f} s ({org.loaded.events / org.loaded.seconds:,.0f}/s), directory "
            f"{org.directory.seconds:.0f} s, {len(org.loaded.lifecycle):,} lifecycle events (their directory "
            f"entries written by the rollup); daily rollup of all its days {org.rollup.seconds:.0f} s "
            f"(CPU here {org.rollup.cpu:.0f} s, JVM {fmt_jvm(org.rollup)} s)"
        )
    if large.loaded.stopped_early:
        total = large.loaded.seconds + large.rollup.seconds
        notes.append(
            f"(b) THE LARGE ORG HAS {large.loaded.events:,} EVENTS, NOT {large.asked:,}: at this machine's rates "
            f"(load {large.loaded.events / large.loaded.seconds:,.0f} events/s, small org's rollup "
            f"{rollup_rate:,.0f} events/s) {large.asked:,} events would not load and roll up within "
            f"{args.large_minutes:.0f} min; this volume took {total / 60:.1f} min (load + rollup)"
        )

    print("(b) reading the report for both organizations…", flush=True)
    # Warm-up (not measured): the route's first use, connections.
    call(reports, report_event(small.org_id))
    reads = {
        org.org_id: read_report(local, reports, meter, jvm, org.org_id, args.report_repeats, now)
        for org in (small, large)
    }
    small_read, large_read = reads[small.org_id], reads[large.org_id]
    for read in (small_read, large_read):
        if any(table == local.names["EventsTable"] for _, table in read.first.capacity.by_operation):
            raise RuntimeError("the report read raw events")
    tolerance = max(1.0, small_read.first.capacity.read * args.rcu_tolerance)
    same = large_read.first.capacity.read <= small_read.first.capacity.read + tolerance
    figures: list[Figure] = []
    for org, read in ((small, small_read), (large, large_read)):
        label = f"{org.loaded.events:,} events"
        figures.append(
            Figure(
                f"(b) report this_year, {label}: RCU of one request",
                f"{read.first.capacity.read:,.1f}",
                "same for both orgs" if org is large else "",
                same if org is large else None,
            )
        )
        figures.append(
            Figure(
                f"(b) report this_year, {label}: latency (first; median of {args.report_repeats})",
                f"{read.first.seconds * 1000:,.0f} ms; {median(read.repeats) * 1000:,.0f} ms",
                "",
                None,
            )
        )
        figures.append(
            Figure(
                f"(b) {label}: DAILY# day + group items of this year (what summing days reads)",
                f"{read.day_items + read.group_items:,}",
                "",
                None,
            )
        )
        figures.append(
            Figure(
                f"(b) {label}: KB of those items",
                f"{read.stored_bytes / 1024:,.0f}",
                "",
                None,
            )
        )
        figures.append(Figure(f"(b) rollup of all days, {label}", f"{org.rollup.seconds:.0f} s", "", None))
        ai = read.body["ai_actions"]["by_type"]
        notes.append(
            f"(b) {org.org_id}: this year's figures are {read.day_items} day and {read.group_items} group-day items "
            f"({read.stored_bytes / 1024:,.0f} KB; on average {read.users_per_group_day:,.0f} user ids per group-day "
            f"item, {read.goals_per_day:,.0f} goal ids per day item); it answered ai_actions {ai}, "
            f"{len(read.body['consumption_by_group'])} groups, freshness {read.body['freshness']}"
        )
        details += capacity_lines(f"(b) {org.org_id}: one report request", read.first.capacity)
        details += capacity_lines(f"(b) {org.org_id}: the daily rollup of all its days", org.rollup.capacity)
    notes.append(
        f"(b) goal check: met when the large org's RCU ≤ the small org's + {args.rcu_tolerance:.0%} (item-size "
        "noise); both orgs: same users, groups, goals, directory and mau plan; neither report read EventsTable"
    )
    return figures, notes, details


# ---------------------------------------------------------------------------- main
def code_version() -> str:
    """The commit measured, and whether the measured code (shared/, functions/) had local changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "shared", "functions"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"commit {commit}" + (" with local changes in shared/ or functions/" if changed else "")


def default_data_dir() -> Path | None:
    shm = Path("/dev/shm")  # noqa: S108 -- the harness makes a private mkdtemp folder inside it
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rollup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--day-events", type=int, default=200_000, help="(a) events of the day (default 200000)")
    parser.add_argument("--small-events", type=int, default=100_000, help="(b) small org's events (default 100000)")
    parser.add_argument("--large-events", type=int, default=2_000_000, help="(b) large org's events (default 2M)")
    parser.add_argument("--large-minutes", type=float, default=15.0, help="(b) large org's load+rollup budget")
    parser.add_argument("--users", type=int, default=20_000, help="users of each organization (default 20000)")
    parser.add_argument("--goals", type=int, default=2_000, help="goals of each organization (default 2000)")
    parser.add_argument("--groups", type=int, default=20, help="groups of each organization (default 20)")
    parser.add_argument("--directory-users", type=int, default=15_000, help="users in the directory (default 15000)")
    parser.add_argument("--directory-sample", type=int, default=300, help="of them, through apply_directory_change")
    parser.add_argument("--repeats", type=int, default=3, help="(a) floor and rollup runs each (default 3)")
    parser.add_argument("--report-repeats", type=int, default=5, help="(b) report requests for the median latency")
    parser.add_argument("--rcu-tolerance", type=float, default=0.10, help="(b) RCU difference still 'the same'")
    parser.add_argument("--threads", type=int, default=4, help="loader threads (default 4)")
    parser.add_argument("--profile", action="store_true", help="(a) cProfile one more rollup run and print it")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--part", choices=("a", "b", "all"), default="all")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="parent of DynamoDB Local's data folder (default /dev/shm, i.e. RAM, when it exists: the disk of a "
        "shared machine is not what is measured)",
    )
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    print(f"bench.rollup — {machine_line()}", flush=True)

    figures: list[Figure] = []
    notes: list[str] = []
    details: list[str] = []
    with local_dynamodb("rollup", args.data_dir) as local:
        set_lambda_environment(local)
        meter = CapacityMeter(local.index_keys)
        meter.install()
        jvm = JvmClock(local.port)
        rollup = load_handler("daily_rollup", "bench_daily_rollup_app")
        api = load_handler("api", "bench_api_app")  # plans and keys
        reports = load_handler("reports", "bench_reports_app")
        now = datetime.now(UTC)
        notes.append(f"code measured: {code_version()}")
        notes.append(f"DynamoDB Local's database under {args.data_dir or 'the system temp folder'}")
        if args.part in ("a", "all"):
            part_figures, part_notes, part_details = part_a(args, local, api, rollup, meter, jvm, now)
            figures += part_figures
            notes += part_notes
            details += part_details
        if args.part in ("b", "all"):
            part_figures, part_notes, part_details = part_b(args, local, api, reports, rollup, meter, jvm, now)
            figures += part_figures
            notes += part_notes
            details += part_details
        meter.uninstall()

    print_table("Rollup figures", figures)
    print("\nNotes:")
    for note in notes:
        print(f"  - {note}")
    print()
    for line in details:
        print(line)
    print(f"\nbench.rollup took {time.perf_counter() - began:.0f} s — {machine_line()}")


if __name__ == "__main__":
    main()
