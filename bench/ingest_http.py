"""HTTP ingest bench (``python -m bench.ingest_http``): issue 22's run, over the local stack's API.

It starts its own local stack (``usage-local run --fresh`` on free ports, a temporary state
folder), and for each run a fresh organization with a seats plan (``learn``), a mau plan
(``observe``) and a mauc plan (``coach``) and an API key, all through the public API as a
vendor admin. The workload: ``--events`` ``user.login`` events (default 6,000) of ``--users``
users (default 4,000) over the last 20 days, about 60 % of them a user's first login of its
calendar month, each user on one product (so spread over the three plans), oldest first, in
batches of 500.

(a) 1 client sending the batches one after the other.
(b) ``--clients`` clients (default 4) at once, the batches dealt round-robin (each client's in
    time order), into another organization.
(c) The floor, in the same run and the same DynamoDB Local: raw ``BatchWriteItem`` of 25 items
    of the same shape and size as a stored event (key, ``by_day`` index keys, the same
    attributes) into the events table, from ``--clients`` threads; measured before (a) and after
    (b), the mean is the floor. Its WCU per item is printed (2.0: the item and its index entry).
(d) 9 batches of 100 sent at once for 40 users, with resent duplicates (a fifth of each batch
    repeats events of the other batches) and a few deactivations, against a reference
    organization that received the same distinct events in time order, one batch at a time:
    non-200 count, and whether every usage figure equals the reference's.
(e) After the last answer of each run: ``GET .../plans/{id}/usage`` of the three plans, polled
    until the figures are the expected ones (computed from the events; for (d) the reference's);
    the lag from the last answer to the first poll that shows them.

For each run it prints events/s, ÷ floor, batch p50 and max latency, non-200 answers, the lag,
and the CPU cores each part of the stack used (DynamoDB Local, the ingest workers, the gateway).
Nothing is retried: a 504 is counted, not hidden. It asserts nothing about time.

``--calls`` runs the same workload through the real ingest handler in this process instead (its own
DynamoDB Local, bench/harness.py), one batch at a time, then again as duplicates, and prints every
DynamoDB call by operation and by the kind of item it touches: calls per batch, items, WCU and RCU
per event, and its share of the summed call time. ``--calls --ingest-mix`` does the same for
bench.ingest's first-login mix (the issue's WCU-per-event figure).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psutil
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.harness import CapacityMeter, code_line, machine_line
from bench.load import Stack, local_stack
from usage_local.tokens import issue_token

Event = dict[str, Any]
Usage = dict[str, Any]

BATCH = 500
EVENTS = 6_000
USERS = 4_000
SMALL_EVENTS = 2_000
DAYS = 20
FIRST_SHARE = 0.6  # of the events: a user's first login of its calendar month
CLIENTS = 4
FLOOR_BATCH = 25  # BatchWriteItem's limit
MIX_BATCHES = 9
MIX_BATCH = 100
MIX_USERS = 40
MIX_DUPLICATES = 20  # per batch of the mix: resends of events of the other batches
MIX_RELEASES = 0.04  # share of the mix's distinct events that are deactivations (learn users)
VISIBLE_WITHIN = 2.0  # seconds: the issue's goal for consumption visible in usage
POLL_TIMEOUT = 60.0
HTTP_TIMEOUT = 120.0  # longer than the gateway's own: a slow batch shows as its 504, not ours
PLANS = (("seats", "learn"), ("mau", "observe"), ("mauc", "coach"))
PRODUCTS = tuple(product for _, product in PLANS)
PLAN_AMOUNT = 100_000  # no run reaches a notify line: every run counts the same way
# The issue's acceptance (on a quiet 2-core machine, everything measured in one run).
GOAL_ONE_CLIENT = 0.4
GOAL_CLIENTS = 0.35
GOAL_MAX_BATCH = 10.0


def stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------- the workload
def month_spans(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at the first instant of each calendar month (UTC)."""
    spans = []
    cursor = start
    while cursor < end:
        following = (cursor.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(
            day=1
        )
        spans.append((cursor, min(following, end)))
        cursor = following
    return spans


def login(event_id: str, user: int, at: datetime, rng: random.Random) -> Event:
    """A login as a product backend sends it: the user's product, an IP, a group, a session."""
    return {
        "id": event_id,
        "type": "user.login",
        "timestamp": stamp(at),
        "user_id": f"user-{user:06d}",
        "product": PRODUCTS[user % len(PRODUCTS)],
        "ip": f"10.{user % 250}.{(user // 250) % 250}.{rng.randrange(1, 250)}",
        "group": f"site-{user % 40:02d}",
        "session_id": f"s-{user}-{rng.randrange(10**9)}",
    }


def login_events(rng: random.Random, count: int, users: int, now: datetime, prefix: str) -> list[Event]:
    """``count`` logins of (up to) ``users`` users over the last ``DAYS`` days, oldest first:
    ``FIRST_SHARE`` of them a user's first login of its month (users drawn per month without
    replacement, at a time spread over the window's part of that month), the rest later logins of
    those same users in the same month."""
    spans = month_spans(now - timedelta(days=DAYS), now - timedelta(minutes=1))
    lengths = [(end - begin).total_seconds() for begin, end in spans]
    firsts = round(count * FIRST_SHARE)
    keys: list[tuple[int, datetime, datetime]] = []  # user, first login, end of its month's span
    left = firsts
    for index, ((begin, end), length) in enumerate(zip(spans, lengths, strict=True)):
        wanted = left if index == len(spans) - 1 else round(firsts * length / sum(lengths))
        wanted = min(wanted, users, left)
        left -= wanted
        for user in rng.sample(range(users), wanted):
            keys.append((user, begin + timedelta(seconds=rng.uniform(0, length)), end))
    events = [login(f"{prefix}-{n:07d}", user, at, rng) for n, (user, at, _) in enumerate(keys)]
    for n in range(len(keys), count):
        user, first, end = rng.choice(keys)
        later = first + timedelta(seconds=rng.uniform(0.002, max(0.002, (end - first).total_seconds() - 0.001)))
        events.append(login(f"{prefix}-{n:07d}", user, min(later, end - timedelta(milliseconds=1)), rng))
    events.sort(key=lambda e: (str(e["timestamp"]), str(e["id"])))
    return events


def first_login_share(events: Sequence[Event]) -> float:
    """The share of events that are the earliest login of their user and month (per product)."""
    firsts: dict[tuple[str, str, str], str] = {}
    for event in events:
        key = (str(event["user_id"]), str(event["product"]), str(event["timestamp"])[:7])
        order = f"{event['timestamp']}#{event['id']}"
        if key not in firsts or order < firsts[key]:
            firsts[key] = order
    return len(firsts) / len(events) if events else 0.0


def expected_consumed(events: Sequence[Event], now: datetime) -> dict[str, int]:
    """What each plan's usage says once the logins are counted (no releases among them): seats in
    use = users of ``learn``; mau = users of ``observe`` with a login this month; mauc = credits
    used = user-months of ``coach``."""
    month = now.strftime("%Y-%m")
    seats = {e["user_id"] for e in events if e["product"] == "learn"}
    mau = {e["user_id"] for e in events if e["product"] == "observe" and str(e["timestamp"]).startswith(month)}
    mauc = {(e["user_id"], str(e["timestamp"])[:7]) for e in events if e["product"] == "coach"}
    return {"seats": len(seats), "mau": len(mau), "mauc": len(mauc)}


def mix_events(rng: random.Random, now: datetime) -> tuple[list[Event], list[list[Event]]]:
    """(d): the distinct events of ``MIX_USERS`` users (logins, and a few deactivations of learn
    users, which free their seats until a later login), and ``MIX_BATCHES`` batches of
    ``MIX_BATCH`` made of them in random order, each with ``MIX_DUPLICATES`` resends of events of
    the other batches."""
    distinct_count = MIX_BATCHES * (MIX_BATCH - MIX_DUPLICATES)
    start = now - timedelta(days=DAYS)
    span = (timedelta(days=DAYS) - timedelta(minutes=1)).total_seconds()
    learn_users = [u for u in range(MIX_USERS) if PRODUCTS[u % len(PRODUCTS)] == "learn"]
    distinct: list[Event] = []
    for n in range(distinct_count):
        at = start + timedelta(seconds=rng.uniform(0, span))
        if rng.random() < MIX_RELEASES:
            user = rng.choice(learn_users)
            distinct.append(
                {
                    "id": f"mix-{n:05d}",
                    "type": "user.deactivated",
                    "timestamp": stamp(at),
                    "user_id": f"user-{user:06d}",
                }
            )
        else:
            distinct.append(login(f"mix-{n:05d}", rng.randrange(MIX_USERS), at, rng))
    shuffled = rng.sample(distinct, len(distinct))
    size = MIX_BATCH - MIX_DUPLICATES
    parts = [shuffled[i * size : (i + 1) * size] for i in range(MIX_BATCHES)]
    batches = []
    for index, part in enumerate(parts):
        others = [event for j, other in enumerate(parts) if j != index for event in other]
        batch = part + rng.sample(others, MIX_DUPLICATES)
        rng.shuffle(batch)
        batches.append(batch)
    distinct.sort(key=lambda e: (str(e["timestamp"]), str(e["id"])))
    return distinct, batches


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


# ---------------------------------------------------------------------------- the API
@dataclass(frozen=True)
class Org:
    org_id: str
    api_key: str
    plans: dict[str, str]  # plan type → plan id


class Api:
    """The stack's public API, as a vendor admin (setup and usage reads) or an API key (events).
    One ``requests.Session`` per thread (sessions are not shared between threads)."""

    def __init__(self, stack: Stack) -> None:
        self.url = stack.url
        token = issue_token(stack.state_dir, "vendor_admin", subject="ingest-http-bench", ttl=6 * 3600)
        self.vendor = {"Authorization": f"Bearer {token}"}
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        """A setup or read call: anything but ``expect`` stops the bench (a 5xx first gets two more
        tries, as cold workers on a busy machine may time out)."""
        for attempt in range(3):
            answer = self.session.request(method, self.url + path, timeout=HTTP_TIMEOUT, **kwargs)
            if answer.status_code < 500 or attempt == 2:
                break
            time.sleep(2)
        if answer.status_code != expect:
            raise RuntimeError(f"{method} {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json() if answer.content else None

    def create_org(self, org_id: str, plan_start: datetime) -> Org:
        key = self.call("POST", f"/v1/orgs/{org_id}/api-keys", 201, headers=self.vendor, json={})
        plans = {}
        for plan_type, product in PLANS:
            terms = {"type": plan_type, "product": product, "amount": PLAN_AMOUNT, "start": stamp(plan_start)}
            plans[plan_type] = self.call("POST", f"/v1/orgs/{org_id}/plans", 201, headers=self.vendor, json=terms)[
                "plan_id"
            ]
        return Org(org_id, str(key["api_key"]), plans)

    def post_events(self, org: Org, events: Sequence[Event]) -> tuple[int, dict[str, Any]]:
        """One batch, not retried: (status, answer body or {})."""
        answer = self.session.post(
            f"{self.url}/v1/events",
            json={"events": list(events)},
            headers={"x-api-key": org.api_key},
            timeout=HTTP_TIMEOUT,
        )
        try:
            body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        except ValueError:
            body = {}
        return answer.status_code, body

    def usage(self, org: Org, plan_type: str) -> Usage:
        path = f"/v1/orgs/{org.org_id}/plans/{org.plans[plan_type]}/usage"
        usage: Usage = self.call("GET", path, 200, headers=self.vendor)
        return usage


# ---------------------------------------------------------------------------- one run
@dataclass(frozen=True)
class Batch:
    client: int
    events: int
    status: int
    started: float  # time.monotonic()
    ended: float
    accepted: int
    duplicates: int
    rejected: int

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class HttpRun:
    name: str
    clients: int
    batches: list[Batch]
    cpu: dict[str, float]  # CPU seconds of each part of the stack during the run
    load: tuple[float, float]  # 1-minute load average before and after
    lag: float | None = None  # (e): last answer → figures visible in usage (None: not within the timeout)
    lag_note: str = ""

    @property
    def events(self) -> int:
        return sum(b.events for b in self.batches)

    @property
    def wall(self) -> float:
        return max(b.ended for b in self.batches) - min(b.started for b in self.batches)

    @property
    def last_answer(self) -> float:
        return max(b.ended for b in self.batches)

    @property
    def per_second(self) -> float:
        return self.events / self.wall

    @property
    def p50(self) -> float:
        return float(statistics.median(b.seconds for b in self.batches))

    @property
    def slowest(self) -> float:
        return max(b.seconds for b in self.batches)

    @property
    def not_ok(self) -> list[int]:
        return [b.status for b in self.batches if b.status != 200]


def send_all(api: Api, org: Org, lanes: Sequence[Sequence[Sequence[Event]]]) -> list[Batch]:
    """Each lane is one client sending its batches one after the other; the lanes start together."""
    start = threading.Barrier(len(lanes))

    def client(index: int) -> list[Batch]:
        done = []
        _ = api.session  # each client's session exists before the start line
        start.wait()
        for batch in lanes[index]:
            began = time.monotonic()
            status, body = api.post_events(org, batch)
            done.append(
                Batch(
                    index,
                    len(batch),
                    status,
                    began,
                    time.monotonic(),
                    int(body.get("accepted", 0)),
                    int(body.get("duplicates", 0)),
                    len(body.get("rejected", [])),
                )
            )
        return done

    with ThreadPoolExecutor(len(lanes)) as pool:
        return [batch for done in pool.map(client, range(len(lanes))) for batch in done]


def processes(stack: Stack) -> dict[int, tuple[str, float]]:
    """pid → (which part of the stack, CPU seconds so far) of the stack's processes."""
    found: dict[int, tuple[str, float]] = {}
    try:
        root = psutil.Process(stack.process.pid)
        every = [root, *root.children(recursive=True)]
    except psutil.Error:
        return found
    for process in every:
        try:
            cmdline, times = process.cmdline(), process.cpu_times()
        except psutil.Error:
            continue
        if process.pid == root.pid:
            name = "gateway (threads)"
        elif any("DynamoDBLocal" in part for part in cmdline):
            name = "DynamoDB Local"
        elif "usage_local.worker" in cmdline:
            try:
                spec = json.loads(cmdline[cmdline.index("usage_local.worker") + 1])
                name = "λ " + str(spec["physical_name"]).removeprefix("license-usage-local-")
            except (IndexError, ValueError, KeyError):
                name = "λ ?"
        elif any("moto" in part for part in cmdline):
            name = "moto"
        else:
            name = "other"
        found[process.pid] = (name, times.user + times.system)
    return found


def cpu_used(before: Mapping[int, tuple[str, float]], after: Mapping[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per part between two samples: a process started in between counts from zero;
    one that ended in between (a worker stopped at its timeout) is lost, and counted apart."""
    used: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        used[name] = used.get(name, 0.0) + seconds - before.get(pid, (name, 0.0))[1]
    gone = [pid for pid in before if pid not in after]
    if gone:
        used[f"({len(gone)} processes ended, not counted)"] = 0.0
    return used


def measured(stack: Stack, api: Api, name: str, org: Org, lanes: Sequence[Sequence[Sequence[Event]]]) -> HttpRun:
    cpu_before, load_before = processes(stack), os.getloadavg()[0]
    batches = send_all(api, org, lanes)
    cpu_after, load_after = processes(stack), os.getloadavg()[0]
    rejected = sum(b.rejected for b in batches)
    if rejected:
        raise RuntimeError(f"{name}: {rejected} of the bench's events were rejected")
    return HttpRun(name, len(lanes), batches, cpu_used(cpu_before, cpu_after), (load_before, load_after))


# ---------------------------------------------------------------------------- (e) visibility
def consumed_of(usages: Mapping[str, Usage]) -> dict[str, int]:
    return {plan_type: int(usage["consumed"]) for plan_type, usage in usages.items()}


def figures_of(usages: Mapping[str, Usage]) -> dict[str, Any]:
    """What must equal between two organizations that counted the same events: every figure of
    each plan's usage except its identity and freshness."""
    volatile = {"plan_id", "data_as_of", "freshness"}
    return {t: {k: v for k, v in usage.items() if k not in volatile} for t, usage in usages.items()}


def wait_visible(
    api: Api, org: Org, since: float, shows: Callable[[dict[str, Usage]], bool]
) -> tuple[float | None, dict[str, Usage]]:
    """Poll the three plans' usage (side by side) until ``shows`` holds; the seconds from
    ``since`` (a ``time.monotonic()``) to the answer that showed it, or None after
    ``POLL_TIMEOUT``, and the usage last read."""
    with ThreadPoolExecutor(len(PLANS)) as pool:
        while True:
            usages = dict(zip(org.plans, pool.map(lambda t: api.usage(org, t), org.plans), strict=True))
            seen = time.monotonic()
            if shows(usages):
                return seen - since, usages
            if seen - since > POLL_TIMEOUT:
                return None, usages
            time.sleep(0.1)


def visibility(api: Api, org: Org, run: HttpRun, expected: Mapping[str, int]) -> None:
    lag, usages = wait_visible(api, org, run.last_answer, lambda u: consumed_of(u) == dict(expected))
    run.lag = lag
    if lag is None:
        run.lag_note = f"consumed {consumed_of(usages)} ≠ expected {dict(expected)} after {POLL_TIMEOUT:.0f} s"


# ---------------------------------------------------------------------------- (c) the floor
@dataclass(frozen=True)
class Floor:
    items: int
    seconds: float
    write_units: float

    @property
    def per_second(self) -> float:
        return self.items / self.seconds


def floor_item(event: Event, org_id: str, received: str) -> dict[str, Any]:
    """The item the store writes for an event (store/tables.py ``EventRecord``, store/keys.py: the
    key, the ``by_day`` partition of its day's shard and its order key), built here so the floor
    depends on no product code."""
    day = str(event["timestamp"])[:10]
    shard = zlib.crc32(str(event["id"]).encode()) % 8
    expires = int((instant(str(event["timestamp"])) + timedelta(days=425)).timestamp())
    item: dict[str, Any] = {
        "pk": {"S": f"{org_id}#{event['id']}"},
        "day": {"S": f"{org_id}#{day}#{shard}"},
        "at": {"S": f"{event['timestamp']}#{event['id']}"},
        "org_id": {"S": org_id},
        "event_id": {"S": str(event["id"])},
        "received_at": {"S": received},
        "source": {"S": "key_0123456789abcdef"},
        "expires_at": {"N": str(expires)},
    }
    for name in ("type", "timestamp", "user_id", "product", "ip", "group", "session_id"):
        if name in event:
            item[name] = {"S": str(event[name])}
    return item


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """DynamoDB's size of an item of string and number attributes, in bytes (approximately)."""
    size = 0
    for name, value in item.items():
        ((kind, data),) = value.items()
        size += len(name.encode()) + (len(str(data).encode()) if kind == "S" else len(str(data)) // 2 + 2)
    return size


def dynamodb(stack: Stack, pool: int) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=str(stack_info(stack)["endpoints"]["dynamodb"]),
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 -- DynamoDB Local checks no credentials
        config=Config(max_pool_connections=pool, retries={"max_attempts": 10, "mode": "standard"}),
    )


def stack_info(stack: Stack) -> dict[str, Any]:
    info: dict[str, Any] = json.loads((stack.state_dir / "stack.json").read_text())
    return info


def events_table(stack: Stack) -> str:
    return str(stack_info(stack)["resources"]["EventsTable"]["name"])


def write_floor(client: Any, table: str, items: Sequence[dict[str, Any]], threads: int) -> Floor:
    """Raw BatchWriteItem, 25 items a call, from ``threads`` threads, retrying unprocessed items."""
    work = chunks(items, FLOOR_BATCH)
    lock = threading.Lock()
    units = [0.0]

    def writer(lane: int) -> None:
        for chunk in work[lane::threads]:
            request: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
            while request:
                answer = client.batch_write_item(RequestItems=request, ReturnConsumedCapacity="TOTAL")
                with lock:
                    units[0] += sum(float(c.get("CapacityUnits", 0.0)) for c in answer.get("ConsumedCapacity", []))
                request = answer.get("UnprocessedItems") or {}

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(writer, range(threads)))
    return Floor(len(items), time.monotonic() - started, units[0])


def stored_item_size(client: Any, table: str, org: Org, events: Sequence[Event]) -> float:
    """The mean size of a few events as ingest stored them (to compare with the floor's items)."""
    sizes = []
    for event in events[:: max(1, len(events) // 20)]:
        found = client.get_item(TableName=table, Key={"pk": {"S": f"{org.org_id}#{event['id']}"}}).get("Item")
        if found:
            sizes.append(item_size(found))
    return statistics.mean(sizes) if sizes else float("nan")


# ---------------------------------------------------------------------------- reporting
def cpu_line(run: HttpRun) -> str:
    parts = sorted(run.cpu.items(), key=lambda kv: -kv[1])
    shown = ", ".join(
        f"{name} {seconds / run.wall:.2f}" if not name.startswith("(") else name
        for name, seconds in parts
        if seconds >= 0.02 * run.wall or name.startswith("(")
    )
    return f"    CPU cores used, stack: {sum(run.cpu.values()) / run.wall:.2f} = {shown}"


def lag_text(run: HttpRun) -> str:
    return "—" if run.lag is None and not run.lag_note else "not seen" if run.lag is None else f"{run.lag:.2f} s"


def report(runs: Sequence[HttpRun], floor: float, mix_equal: bool | None) -> None:
    header = (
        f"  {'run':<34} {'events':>6} {'events/s':>8} {'÷ floor':>7} {'batch p50':>9} {'batch max':>9} "
        f"{'non-200':>14} {'visible':>8}"
    )
    print("\n" + header)
    print("  " + "-" * (len(header) - 2))
    for run in runs:
        bad = run.not_ok
        non_200 = (
            f"{len(bad)} of {len(run.batches)}" + (f": {','.join(sorted({str(s) for s in bad}))}" if bad else "")
            if bad
            else "0"
        )
        print(
            f"  {run.name:<34} {run.events:>6,} {run.per_second:>8.0f} {run.per_second / floor:>7.2f} "
            f"{run.p50:>8.1f}s {run.slowest:>8.1f}s {non_200:>14} {lag_text(run):>8}"
        )
    print(f"  {'(c) floor: raw BatchWriteItem':<34} {'':>6} {floor:>8.0f} {1.0:>7.2f}")
    by_name = {run.name[:3]: run for run in runs}
    print("\n  against the issue's acceptance:")
    checks: list[tuple[str, bool]] = []
    one, many, mix = by_name.get("(a)"), by_name.get("(b)"), by_name.get("(d)")
    if many is not None:
        checks.append((f"(b) 0 non-200 (got {len(many.not_ok)})", not many.not_ok))
        checks.append(
            (f"(b) slowest batch < {GOAL_MAX_BATCH:.0f} s (got {many.slowest:.1f})", many.slowest < GOAL_MAX_BATCH)
        )
        ratio = many.per_second / floor
        checks.append((f"(b) ≥ {GOAL_CLIENTS} of the floor (got {ratio:.2f})", ratio >= GOAL_CLIENTS))
    if one is not None:
        ratio = one.per_second / floor
        checks.append((f"(a) ≥ {GOAL_ONE_CLIENT} of the floor (got {ratio:.2f})", ratio >= GOAL_ONE_CLIENT))
    lags = [run.lag for run in runs]
    worst = "not seen" if None in lags else f"{max(lag for lag in lags if lag is not None):.2f} s"
    checks.append(
        (f"(e) visible in usage within {VISIBLE_WITHIN:.0f} s (worst {worst})",
         None not in lags and max(lag for lag in lags if lag is not None) <= VISIBLE_WITHIN)
    )  # fmt: skip
    if mix is not None:
        checks.append((f"(d) every batch 200 (got {len(mix.not_ok)} non-200)", not mix.not_ok))
        checks.append(("(d) every figure equals the in-order reference", bool(mix_equal)))
    for text, met in checks:
        print(f"    {'yes' if met else 'NO ':<4} {text}")


# ---------------------------------------------------------------------------- --calls: per DynamoDB call
@dataclass
class CallStats:
    calls: int = 0
    items: int = 0  # keys or writes the calls carried (batch and transaction calls carry several)
    write: float = 0.0
    read: float = 0.0
    seconds: float = 0.0  # summed over calls (the handler's threads overlap)
    refused: int = 0  # conditional writes refused, transactions cancelled (they report no capacity)


def key_kind(pk: str, sk: str | None, events_table: bool) -> str:
    """What an item is, from its key (store/keys.py's formats)."""
    if events_table:
        return "activity entry" if "#sys." in pk else "event"
    head = pk.split("#", 1)[0]
    if head == "PLAN":
        sharded = pk.count("#") >= 2
        if sk is None:
            return "plan shard" if sharded else "plan"
        if sk.startswith("USER#"):
            return "plan user"
        if sk.startswith(("DAY#", "MONTH#")):
            return sk.split("#", 1)[0].lower() + " tally"
        return {"SEATS": "seats shard counter", "COUNTER": "plan counter"}.get(sk, f"plan {sk}")
    if head == "ORG":
        return "plan item" if sk and sk.startswith("PLAN#") else f"org {sk.split('#')[0] if sk else ''}".strip()
    names = {"RATE": "rate-limit window", "DIRTY": "dirty-day mark", "OUTBOX": "outbox", "NOTICES": "notice"}
    return names.get(head, head.lower())


class CallMeter(CapacityMeter):
    """Every DynamoDB call of this process, by operation and what it touches (``key_kind``), with
    the capacity DynamoDB Local reports, transactions recounted as DynamoDB prices them
    (``CapacityMeter.units``, which also patches botocore)."""

    def __init__(self, events: str, index_keys: Mapping[str, Sequence[frozenset[str]]]) -> None:
        super().__init__(index_keys)
        self.events = events
        self.stats: dict[str, dict[tuple[str, str], CallStats]] = {}

    def _kind(self, operation: str, params: Mapping[str, Any]) -> tuple[str, int]:
        table = str(params.get("TableName", ""))
        if operation == "TransactWriteItems":
            parts = []
            for entry in params["TransactItems"]:
                ((verb, body),) = entry.items()
                key = body.get("Key") or body.get("Item") or {}
                kind = key_kind(key["pk"]["S"], key.get("sk", {}).get("S"), body["TableName"] == self.events)
                parts.append(f"{verb[0]}:{kind}")
            return " + ".join(sorted(parts)), len(parts)
        if operation == "BatchGetItem":
            ((name, request),) = params["RequestItems"].items()
            key = request["Keys"][0]
            return key_kind(key["pk"]["S"], key.get("sk", {}).get("S"), name == self.events), len(request["Keys"])
        if operation == "BatchWriteItem":
            ((name, request),) = params["RequestItems"].items()
            return ("event" if name == self.events else "licensing items"), len(request)
        if operation == "Query":
            values = [v["S"] for v in params.get("ExpressionAttributeValues", {}).values() if "S" in v]
            pk = values[0] if values else ""
            kind = key_kind(pk, None, table == self.events)
            if table == self.events:
                kind = f"{params.get('IndexName', 'table')} partition"
            return kind, 1
        key = params.get("Key") or params.get("Item") or {}
        if "pk" in key:
            return key_kind(key["pk"]["S"], key.get("sk", {}).get("S"), table == self.events), 1
        return table, 1

    def _record(
        self,
        operation: str,
        api_params: Mapping[str, Any],
        response: Mapping[str, Any],
        seconds: float,
        failure: ClientError | None = None,
    ) -> None:
        kind, items = self._kind(operation, api_params)
        read, write, _ = self.units(operation, api_params, response, failure)
        with self._lock:
            stats = self.stats.setdefault(self.bucket, {}).setdefault((operation, kind), CallStats())
            stats.calls += 1
            stats.items += items
            stats.write += write
            stats.read += read
            stats.seconds += seconds
            stats.refused += int(failure is not None)  # a refused condition, a cancelled transaction


def print_calls(title: str, stats: Mapping[tuple[str, str], CallStats], events: int, batches: int, wall: float) -> None:
    write = sum(s.write for s in stats.values())
    read = sum(s.read for s in stats.values())
    seconds = sum(s.seconds for s in stats.values())
    print(f"\n{title}: {events:,} events in {batches} batches, wall {wall:.1f} s ({events / wall:.0f} events/s)")
    print(f"  WCU per event {write / events:.3f}, RCU per event {read / events:.3f}; Σ call time {seconds:.1f} s")
    print(
        f"  {'operation':<19} {'touches':<64} {'calls/batch':>11} {'items/event':>11} {'WCU/event':>9} "
        f"{'RCU/event':>9} {'Σ time':>7} {'refused':>7}"
    )
    for (operation, kind), s in sorted(stats.items(), key=lambda kv: -kv[1].seconds):
        print(
            f"  {operation:<19} {kind[:64]:<64} {s.calls / batches:>11.1f} {s.items / events:>11.3f} "
            f"{s.write / events:>9.3f} {s.read / events:>9.3f} {s.seconds / seconds:>6.0%} {s.refused:>7}"
        )


def ingest_mix(now: datetime) -> tuple[list[Event], list[tuple[str, str]]]:
    """bench.ingest's (d) mix, the issue's "first-login mix" for WCU per event: 20,000 events
    (78 % logins, AI actions, feature use, a few lifecycle events) of 2,000 users over up to 3 days
    of the current month, with a seats and a mau plan on ``learn``."""
    from bench.ingest import generate_events

    since_month_start = (now - now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    days = min(3.0, since_month_start / 86_400 - 0.01)
    events = generate_events(random.Random(20261123 + 4), 20_000, 2_000, now, days, "nt")
    return events, [("seats", "learn"), ("mau", "learn")]


def calls_mode(args: argparse.Namespace, events: Sequence[Event], now: datetime) -> int:
    """The same workload through the real ingest handler in this process (bench/harness.py: its own
    DynamoDB Local, the template's tables), one batch at a time, every DynamoDB call metered; then
    the same batches again (all duplicates). ``--ingest-mix``: bench.ingest's (d) mix instead."""
    from bench.harness import call, create_plan, ingest_event, load_handler, local_dynamodb, set_lambda_environment

    plans: Sequence[tuple[str, str]] = PLANS
    if args.ingest_mix:
        events, plans = ingest_mix(now)

    with local_dynamodb("ingest-http-calls", args.data_dir) as local:
        set_lambda_environment(local)
        meter = CallMeter(local.names["EventsTable"], local.index_keys)
        meter.install()
        ingest = load_handler("ingest", "bench_http_ingest_app")
        api = load_handler("api", "bench_http_api_app")
        start = stamp(now - timedelta(days=DAYS + 10))
        for org in ("bench-calls-warm", "bench-calls"):
            for plan_type, product in plans:
                terms = {"type": plan_type, "product": product, "amount": PLAN_AMOUNT, "start": start}
                create_plan(api, org, terms)
        warm = login_events(random.Random(1), 1_000, 300, now, "warm")
        for batch in chunks(warm, BATCH):
            call(ingest, ingest_event("bench-calls-warm", json.dumps({"events": batch})))
        bodies = [json.dumps({"events": batch}) for batch in chunks(events, BATCH)]
        for bucket in ("new", "duplicates"):
            meter.bucket = bucket
            started = time.monotonic()
            for body in bodies:
                call(ingest, ingest_event("bench-calls", body))
            wall = time.monotonic() - started
            meter.bucket = "other"
            print_calls(f"--calls, {bucket}", meter.stats.get(bucket, {}), len(events), len(bodies), wall)
    return 0


# ---------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=EVENTS, help=f"logins per run (default {EVENTS})")
    parser.add_argument("--users", type=int, help="distinct users to draw from (default: 2/3 of --events)")
    parser.add_argument("--small", action="store_true", help=f"a quick run: {SMALL_EVENTS} events")
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"clients of run (b) (default {CLIENTS})")
    parser.add_argument("--no-mix", action="store_true", help="skip (d), the 9 simultaneous batches of 100")
    parser.add_argument("--data-dir", type=Path, help="parent of the stack's state folder (default: system temp)")
    parser.add_argument(
        "--calls",
        action="store_true",
        help="instead: the workload through the ingest handler in this process, every DynamoDB call metered",
    )
    parser.add_argument(
        "--ingest-mix", action="store_true", help="with --calls: bench.ingest's first-login mix (seats + mau on learn)"
    )
    parser.add_argument("--seed", type=int, default=20261208)
    args = parser.parse_args(argv)
    count = SMALL_EVENTS if args.small else args.events
    users = args.users or max(1, count * 2 // 3)
    began = time.monotonic()
    print(f"bench.ingest_http — {machine_line()}", flush=True)
    print(f"code: {code_line()}", flush=True)

    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    events = login_events(rng, count, users, now, "ev")
    expected = expected_consumed(events, now)
    lanes_one = [chunks(events, BATCH)]
    dealt = chunks(events, BATCH)
    lanes_many = [dealt[k :: args.clients] for k in range(args.clients) if dealt[k :: args.clients]]
    print(
        f"workload: {len(events):,} logins of {len({e['user_id'] for e in events}):,} users (of {users:,}) over "
        f"{DAYS} days, {first_login_share(events):.0%} first logins of a month, {len(dealt)} batches of ≤ {BATCH}; "
        f"expected consumed {expected}",
        flush=True,
    )
    if args.calls:
        return calls_mode(args, events, now)
    plan_start = now - timedelta(days=DAYS + 10)
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-http-", dir=args.data_dir))
    runs: list[HttpRun] = []
    mix_equal: bool | None = None
    try:
        with local_stack(workdir) as stack:
            api = Api(stack)
            client = dynamodb(stack, args.clients)
            table = events_table(stack)
            print(f"stack at {stack.url} ({time.monotonic() - began:.0f} s)", flush=True)

            # Warm-up, not measured: as many ingest workers started and imported as any run uses
            # at once, the API's worker too, DynamoDB Local's JIT past its first calls.
            warm_org = api.create_org("bench-http-warm", plan_start)
            concurrent = max(args.clients, MIX_BATCHES)  # the local stack runs at most 8 workers a function
            warm = login_events(random.Random(1), 50 * concurrent, 300, now, "warm")
            send_all(api, warm_org, [[batch] for batch in chunks(warm, 50)])
            wait_visible(api, warm_org, time.monotonic(), lambda usages: True)  # the plans' reads side by side
            received = stamp(now)
            floor_items = [floor_item(event, "bench-http-floor-1", received) for event in events]
            floor_warm = login_events(random.Random(2), min(2_000, len(events)), 1_000, now, "floor-warm")
            warm_items = [floor_item(e, "bench-http-floor-0", received) for e in floor_warm]
            write_floor(client, table, warm_items, args.clients)

            print("(c) floor, before the runs…", flush=True)
            floor_before = write_floor(client, table, floor_items, args.clients)

            print(f"(a) 1 client, {len(lanes_one[0])} batches one after the other…", flush=True)
            org_a = api.create_org("bench-http-one", plan_start)
            run_a = measured(stack, api, "(a) 1 client", org_a, lanes_one)
            visibility(api, org_a, run_a, expected)
            runs.append(run_a)

            print(f"(b) {len(lanes_many)} clients at once…", flush=True)
            org_b = api.create_org("bench-http-many", plan_start)
            run_b = measured(stack, api, f"(b) {len(lanes_many)} clients at once", org_b, lanes_many)
            visibility(api, org_b, run_b, expected)
            runs.append(run_b)

            print("(c) floor, after the runs…", flush=True)
            floor_after = write_floor(
                client, table, [floor_item(e, "bench-http-floor-2", received) for e in events], args.clients
            )
            stored_size = stored_item_size(client, table, org_a, events)

            if not args.no_mix:
                distinct, mixed = mix_events(rng, now)
                print(f"(d) reference: {len(distinct)} distinct events in time order, one batch at a time…", flush=True)
                reference = api.create_org("bench-http-reference", plan_start)
                for batch in chunks(distinct, MIX_BATCH):
                    status, _ = api.post_events(reference, batch)
                    if status != 200:
                        raise RuntimeError(f"(d) the reference's batch answered {status}")
                wanted = figures_of({t: api.usage(reference, t) for t in reference.plans})
                print(f"(d) {MIX_BATCHES} batches of {MIX_BATCH} at once (with resends)…", flush=True)
                org_d = api.create_org("bench-http-mix", plan_start)
                run_d = measured(
                    stack, api, f"(d) {MIX_BATCHES}×{MIX_BATCH} at once, resends", org_d, [[b] for b in mixed]
                )
                lag, usages = wait_visible(api, org_d, run_d.last_answer, lambda u: figures_of(u) == wanted)
                run_d.lag, mix_equal = lag, lag is not None
                if lag is None:
                    got = figures_of(usages)
                    diff = {t: (got[t]["consumed"], wanted[t]["consumed"]) for t in wanted if got[t] != wanted[t]}
                    run_d.lag_note = f"figures differ from the reference after {POLL_TIMEOUT:.0f} s (got, want): {diff}"
                accepted = sum(b.accepted for b in run_d.batches)
                duplicates = sum(b.duplicates for b in run_d.batches)
                run_d.lag_note += f" accepted {accepted} (distinct {len(distinct)}), duplicates {duplicates}"
                runs.append(run_d)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    floor = (floor_before.per_second + floor_after.per_second) / 2
    print(
        f"\n(c) floor: {floor_before.per_second:.0f} items/s before the runs, {floor_after.per_second:.0f} after, "
        f"mean {floor:.0f}; {floor_before.write_units / floor_before.items:.2f} WCU per item; "
        f"item size {statistics.mean(item_size(i) for i in floor_items):.0f} B (ingest's stored events: "
        f"{stored_size:.0f} B); {args.clients} threads, {FLOOR_BATCH} items a call"
    )
    report(runs, floor, mix_equal)
    print("\n  per run:")
    for run in runs:
        print(
            f"  {run.name}: wall {run.wall:.1f} s, batches (s) "
            f"{', '.join(f'{b.seconds:.1f}' + ('' if b.status == 200 else f'[{b.status}]') for b in run.batches)}; "
            f"load {run.load[0]:.1f} → {run.load[1]:.1f}"
        )
        print(cpu_line(run))
        if run.lag_note:
            print(f"    {run.lag_note.strip()}")
    print(
        f"\nNotes: nothing is retried; events/s = the run's events ÷ its wall time (first request to last answer); "
        f"'visible' = last answer → first poll of the three plans' usage showing the expected figures. "
        f"bench.ingest_http took {time.monotonic() - began:.0f} s — {machine_line()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
