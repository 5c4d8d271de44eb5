"""Fault injection (issue 14): the handlers' calls to DynamoDB, S3, SNS and EventBridge fail for a
share of calls (throttled, 5xx, timeouts, some after the write happened: usage_local/faults.py),
and nothing is lost or doubled. A client that retries on 429/503 (honouring Retry-After) gets
every event in; figures after a clean rollup equal those of an organization that got the same
events without faults; scheduled functions and export jobs, run under faults until they
succeed, end as a fault-free run does. (The fuzzer with faults on: test_faults_fuzz.py.)

The stack's workers read a fault-control file (``stack.fault_control``: absent, no faults). Only
this module writes it, and switches faults off again at its end; the other modules of the test
process run before or after it, on tables emptied for them (tests/conftest.py)."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.stack import LocalStack
from tests.support import (
    create_key,
    create_plan,
    invoke,
    iso,
    new_org,
)
from usage_local.faults import CONTROL_FILE_VARIABLE, injected

pytestmark = pytest.mark.faults
RATE = 0.1
NOW = datetime.now(UTC).replace(microsecond=0)
DAYS = 40
USERS = 60
EVENTS = 600
BATCH = 50
CLIENTS = 4
RETRYABLE = (429, 503)


@dataclass
class Faults:
    """The stack's fault-control file: ``on(rate)`` / ``off()``, and what fired."""

    path: Path
    stack: LocalStack

    def on(self, rate: float = RATE, seed: int | None = 14) -> None:
        self.stack.set_faults(rate, seed=seed)

    def off(self) -> None:
        self.stack.set_faults()

    @contextlib.contextmanager
    def switched_on(self, rate: float = RATE) -> Iterator[None]:
        self.on(rate)
        try:
            yield
        finally:
            self.off()

    def fired(self) -> list[dict[str, Any]]:
        return injected(self.path)


@pytest.fixture(scope="module")
def faults(stack: LocalStack) -> Iterator[Faults]:
    assert stack.fault_control is not None, "the stack was started without a fault-control file"
    switch = Faults(stack.fault_control, stack)
    yield switch
    switch.off()


# ---------------------------------------------------------------------- a client that retries


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    retryable_without_retry_after: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, answer: requests.Response) -> None:
        with self.lock:
            self.statuses[answer.status_code] += 1
            if answer.status_code in RETRYABLE and "Retry-After" not in answer.headers:
                self.retryable_without_retry_after += 1

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)


def retrying(tally: Tally, method: str, url: str, *, attempts: int = 40, **kwargs: Any) -> requests.Response:
    """Send the same request until it is answered other than 429/503, waiting Retry-After."""
    kwargs.setdefault("timeout", 120)
    for _ in range(attempts):
        answer = requests.request(method, url, **kwargs)  # noqa: S113 (set above)
        tally.saw(answer)
        if answer.status_code not in RETRYABLE:
            return answer
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    pytest.fail(f"{method} {url} still answered {answer.status_code} after {attempts} attempts: {answer.text}")


def admin(stack: LocalStack, org_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token('org_admin', org_id)}"}


def vendor(stack: LocalStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token('vendor_admin')}"}


def read(stack: LocalStack, path: str, **params: Any) -> Any:
    answer = retrying(Tally(), "GET", stack.url + path, params=params, headers=vendor(stack))
    assert answer.status_code == 200, answer.text
    return answer.json()


# ---------------------------------------------------------------------- the workload


def workload(seed: int = 14) -> tuple[list[list[dict[str, Any]]], list[str]]:
    """A few thousand events of every kind over the last weeks, in batches, and the users who
    claim a seat through the API."""
    pick = random.Random(seed)
    users = [f"user-{n:03d}@example.com" for n in range(USERS)]
    groups = ["north", "south", "east"]
    events: list[dict[str, Any]] = []
    event: dict[str, Any]
    for user in users:
        created = NOW - timedelta(days=DAYS, hours=-pick.randrange(0, 48))
        events.append({"type": "user.invited", "timestamp": iso(created - timedelta(hours=1)), "user_id": user})
        roles = pick.sample(["learner", "coach", "observer", "admin"], k=pick.randrange(1, 3))
        events.append({"type": "user.created", "timestamp": iso(created), "user_id": user, "roles": roles})
    while len(events) < EVENTS:
        user = pick.choice(users)
        at = iso(NOW - timedelta(minutes=pick.randrange(10, (DAYS - 3) * 24 * 60)))
        roll = pick.random()
        if roll < 0.45:
            event = {
                "type": "user.login",
                "timestamp": at,
                "user_id": user,
                "product": pick.choice(["learn", "observe"]),
                "session_id": f"s-{pick.randrange(600)}",
                "instance_id": f"i-{pick.randrange(40)}",
                "group": pick.choice(groups),
                "ip": f"10.0.{pick.randrange(256)}.{pick.randrange(256)}",
            }
        elif roll < 0.8:
            kind = pick.choice(["ai.quality_check", "ai.suggest_alignment", "ai.suggest_goal"])
            event = {"type": kind, "timestamp": at, "user_id": user, "goal_id": f"g-{pick.randrange(90)}"}
        elif roll < 0.86:
            event = {"type": "user.deactivated", "timestamp": at, "user_id": user}
        elif roll < 0.92:
            event = {"type": "user.reactivated", "timestamp": at, "user_id": user}
        elif roll < 0.96:
            event = {"type": "user.roles_changed", "timestamp": at, "user_id": user, "roles": ["learner"]}
        else:
            event = {"type": "feature.used", "timestamp": at, "user_id": user, "feature": "dashboards"}
        events.append(event)
    pick.shuffle(events)
    for index, event in enumerate(events):
        event["id"] = f"ev-{index:05d}"
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    return batches, pick.sample(users, 15)


@dataclass
class Org:
    org_id: str
    key: str
    seats_plan: str
    mau_plan: str


def new_customer(stack: LocalStack, prefix: str) -> Org:
    """An organization with an ingest key, a seats plan (learn) and a mau plan (observe), made
    with faults off so that X and Y start alike."""
    org_id = new_org(prefix)
    start = iso(NOW - timedelta(days=DAYS + 20))
    seats = create_plan(stack, org_id, type="seats", product="learn", amount=1000, start=start)
    mau = create_plan(stack, org_id, type="mau", product="observe", amount=1000, start=start)
    return Org(org_id, create_key(stack, org_id), seats["plan_id"], mau["plan_id"])


def send_everything(stack: LocalStack, org: Org, tally: Tally) -> set[str]:
    """The workload through the API from CLIENTS clients at once; the ids answered 200."""
    batches, claimers = workload()
    accepted: set[str] = set()
    lock = threading.Lock()
    headers = admin(stack, org.org_id)

    def send(batch: list[dict[str, Any]]) -> None:
        answer = retrying(
            tally, "POST", f"{stack.url}/v1/events", json={"events": batch}, headers={"x-api-key": org.key}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["rejected"] == [], answer.text
        with lock:
            accepted.update(event["id"] for event in batch)

    def claim(user: str) -> None:
        url = f"{stack.url}/v1/orgs/{org.org_id}/seats/{quote(user, safe='')}"
        answer = retrying(tally, "PUT", url, params={"product": "learn"}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["granted"] is True

    with ThreadPoolExecutor(CLIENTS) as clients:
        list(clients.map(send, batches))
        list(clients.map(claim, claimers))
    return accepted


def stored_events(stack: LocalStack, org_id: str) -> Counter[str]:
    """How many items of the events table hold each event id of the organization (read directly)."""
    dynamodb = stack.client("dynamodb")
    counts: Counter[str] = Counter()
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=stack.env["EVENTS_TABLE"],
        FilterExpression="org_id = :org",
        ExpressionAttributeValues={":org": {"S": org_id}},
        ProjectionExpression="event_id, #t",
        ExpressionAttributeNames={"#t": "type"},
        ConsistentRead=True,
    )
    for page in pages:
        for item in page["Items"]:
            kind = item["type"]["S"]
            # Seat claims are stored as activity with ids of their own: count them by kind.
            counts[item["event_id"]["S"] if not kind.startswith("seat.") else kind] += 1
    return counts


def dirty_marks(stack: LocalStack, org_id: str) -> list[dict[str, Any]]:
    """The organization's dirty-day marks, wherever their partition is (read directly)."""
    found: list[dict[str, Any]] = []
    pages = (
        stack.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=stack.env["LICENSING_TABLE"],
            FilterExpression="org_id = :org AND attribute_exists(marks) AND attribute_exists(#d)",
            ExpressionAttributeValues={":org": {"S": org_id}},
            ExpressionAttributeNames={"#d": "day"},
            ConsistentRead=True,
        )
    )
    for page in pages:
        found.extend(page["Items"])
    return found


def all_pages(stack: LocalStack, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = read(stack, path, **params, limit=1000, **({"cursor": cursor} if cursor else {}))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items


def figures(stack: LocalStack, org: Org) -> dict[str, Any]:
    """Everything the API says of the organization's consumption, its own ids written as X."""
    base = f"/v1/orgs/{org.org_id}"
    window = {
        "timeframe": "custom",
        "from": (NOW - timedelta(days=DAYS + 5)).date().isoformat(),
        "to": NOW.date().isoformat(),
    }
    result: dict[str, Any] = {"report": read(stack, f"{base}/reports/license-ai-usage", **window)}
    for name, plan in (("seats", org.seats_plan), ("mau", org.mau_plan)):
        result[name] = {
            "usage": read(stack, f"{base}/plans/{plan}/usage"),
            "users": all_pages(stack, f"{base}/plans/{plan}/users"),
            "activity": len(all_pages(stack, f"{base}/plans/{plan}/activity")),
        }
    result["seat_history"] = read(stack, f"{base}/plans/{org.seats_plan}/seat-history", days=90)
    text = json.dumps(result, sort_keys=True)
    for own, common in ((org.org_id, "ORG"), (org.seats_plan, "SEATS"), (org.mau_plan, "MAU")):
        text = text.replace(own, common)
    plain: dict[str, Any] = json.loads(text)
    for section in (plain["report"], plain["seats"]["usage"], plain["mau"]["usage"]):
        section.pop("data_as_of", None)
    plain["report"]["license_usage"]["plans"].sort(key=lambda plan: (plan["type"], plan["product"]))
    return plain


def dirty_days_of(stack: LocalStack, org_id: str) -> list[str]:
    from license_usage.store.keys import dirty_day_key, dirty_partition

    answer = stack.client("dynamodb").query(
        TableName=stack.env["LICENSING_TABLE"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :org)",
        ExpressionAttributeValues={":pk": {"S": dirty_partition(org_id)}, ":org": {"S": dirty_day_key(org_id, "")[1]}},
    )
    return [str(item["sk"]["S"]) for item in answer["Items"]]


def roll_up_cleanly(stack: LocalStack, *orgs: Org, runs: int = 4) -> None:
    """The clean rollup: rolled up again while a day of the organizations waits (what a write
    landed during a run marks again, the next run settles, as the daily schedule would)."""
    for _ in range(runs):
        invoke(stack, "DailyRollupFunction", datetime.now(UTC), env={})
        if not any(dirty_days_of(stack, org.org_id) for org in orgs):
            return
    pytest.fail(f"days still dirty after {runs} clean rollups: {[dirty_days_of(stack, o.org_id) for o in orgs]}")


SETTLE_SECONDS = 120


def settled_figures(stack: LocalStack, *orgs: Org) -> list[dict[str, Any]]:
    """The organizations' figures once the stack is quiet: an invocation answered retryably may
    still have writer threads finishing their calls (store.events.writer_pool), so they are
    rolled up cleanly and read until two readings in a row agree with no day waiting, within
    SETTLE_SECONDS."""
    deadline = time.monotonic() + SETTLE_SECONDS
    previous: list[dict[str, Any]] | None = None
    while True:
        roll_up_cleanly(stack, *orgs)
        current = [figures(stack, org) for org in orgs]
        if current == previous and not any(dirty_marks(stack, org.org_id) for org in orgs):
            return current
        if time.monotonic() > deadline:
            pytest.fail(f"the figures of {[org.org_id for org in orgs]} still changed after {SETTLE_SECONDS} s")
        previous = current


def until_it_succeeds(stack: LocalStack, faults: Faults, function: str, at: datetime, attempts: int = 20) -> int:
    """Invoke a scheduled function (its worker reading the fault-control file) until a run
    succeeds, as Lambda's async retries would; the number of failed runs."""
    for failed in range(attempts):
        try:
            invoke(stack, function, at, env={CONTROL_FILE_VARIABLE: str(faults.path)})
        except AssertionError:
            continue
        return failed
    pytest.fail(f"{function} failed {attempts} times under faults")


# ---------------------------------------------------------------------- ingest under faults


@pytest.fixture(scope="module")
def ingested(stack: LocalStack, faults: Faults) -> dict[str, Any]:
    """Org X gets the workload under faults, org Y the same without; both are rolled up cleanly."""
    x, y = new_customer(stack, "faulty"), new_customer(stack, "clean")
    tally = Tally()
    before = len(faults.fired())
    started = time.monotonic()
    with faults.switched_on():
        accepted_x = send_everything(stack, x, tally)
    took = time.monotonic() - started
    fired = faults.fired()[before:]
    accepted_y = send_everything(stack, y, Tally())
    faulty, clean = settled_figures(stack, x, y)
    return {
        "x": x,
        "y": y,
        "tally": tally,
        "fired": fired,
        "took": took,
        "accepted": (accepted_x, accepted_y),
        "figures": (faulty, clean),
    }


def test_every_event_answered_200_under_faults_is_stored_exactly_once(
    stack: LocalStack, ingested: dict[str, Any]
) -> None:
    accepted_x, _ = ingested["accepted"]
    assert len(accepted_x) == EVENTS
    stored_x, stored_y = stored_events(stack, ingested["x"].org_id), stored_events(stack, ingested["y"].org_id)
    assert {event_id for event_id in stored_x if event_id.startswith("ev-")} == accepted_x
    assert [event_id for event_id, n in stored_x.items() if n > 1 and event_id.startswith("ev-")] == []
    assert stored_x == stored_y  # the seat claims' activity too, once each


def test_faults_fired_and_were_answered_retryably(ingested: dict[str, Any]) -> None:
    tally: Tally = ingested["tally"]
    kinds = Counter(fault["kind"] for fault in ingested["fired"])
    services = Counter(fault["service"] for fault in ingested["fired"])
    print(f"\nfaults fired: {dict(kinds)} by service {dict(services)}; answers {dict(tally.statuses)}")
    print(f"ingest under faults took {ingested['took']:.1f} s")
    assert len(ingested["fired"]) >= 60
    assert set(kinds) == {"throttle", "server_error", "timeout_before", "timeout_after"}
    assert tally.server_errors == 0, tally.statuses
    assert tally.retryable_without_retry_after == 0


def login_event(event_id: str, user: str, at: datetime) -> dict[str, Any]:
    return {"id": event_id, "type": "user.login", "timestamp": iso(at), "user_id": user, "product": "learn"}


def send_once(stack: LocalStack, org: Org, events: list[dict[str, Any]]) -> bool:
    body = {"events": events or [{"id": "warm-up", "type": "feature.used", "timestamp": iso(NOW), "user_id": "w"}]}
    answer = requests.post(f"{stack.url}/v1/events", json=body, headers={"x-api-key": org.key}, timeout=60)
    return answer.status_code == 200


def test_an_authorizer_that_cannot_read_the_keys_answers_503_with_retry_after(
    stack: LocalStack, faults: Faults
) -> None:
    org = new_customer(stack, "auth-down")
    with faults.switched_on(1.0):  # every DynamoDB call fails: the new key cannot be looked up
        answer = requests.post(
            f"{stack.url}/v1/events", json={"events": []}, headers={"x-api-key": org.key}, timeout=60
        )
    assert answer.headers.get("x-amzn-ErrorType") == "AuthorizerConfigurationException", answer.headers
    assert answer.status_code == 503, answer.text
    assert answer.headers.get("Retry-After"), answer.headers
    assert set(answer.json()["error"]) == {"code", "message", "details"}
    assert send_once(stack, org, [])  # and once DynamoDB answers, the key works


def test_a_fault_storm_is_answered_503_with_retry_after_and_the_resends_complete(
    stack: LocalStack, faults: Faults
) -> None:
    """At 10 % botocore's own retries absorb nearly every fault; at 50 % calls fail through, and
    the handlers answer them retryably."""
    org = new_customer(stack, "storm")
    batches = [
        [
            {
                "id": f"st-{b}-{n}",
                "type": "user.login",
                "timestamp": iso(NOW - timedelta(hours=b, minutes=n)),
                "user_id": f"u{n}",
                "product": "learn",
            }
            for n in range(10)
        ]
        for b in range(3)
    ]
    assert send_once(stack, org, [])  # the key known to the authorizer's cache: this is about the handlers
    tally = Tally()
    with faults.switched_on(0.5):
        for batch in batches:
            answer = retrying(
                tally, "POST", f"{stack.url}/v1/events", json={"events": batch}, headers={"x-api-key": org.key}
            )
            assert answer.status_code == 200, (answer.headers.get("x-amzn-ErrorType"), answer.text)
    print(f"\nstorm answers: {dict(tally.statuses)}")
    assert tally.statuses[503] > 0
    assert tally.server_errors == 0, tally.statuses
    assert tally.retryable_without_retry_after == 0
    stored = stored_events(stack, org.org_id)
    assert {k: n for k, n in stored.items() if k.startswith("st-")} == {e["id"]: 1 for b in batches for e in b}
    assert read(stack, f"/v1/orgs/{org.org_id}/plans/{org.seats_plan}/usage")["consumed"] == 10


def test_figures_under_faults_equal_a_fault_free_run_after_a_clean_rollup(
    stack: LocalStack, ingested: dict[str, Any]
) -> None:
    x, y = ingested["x"], ingested["y"]
    faulty, clean = ingested["figures"]
    assert clean["seats"]["usage"]["consumed"] > 0
    assert clean["report"]["ai_actions"]["total"] > 0
    for section in clean:
        assert faulty[section] == clean[section], section
    assert dirty_marks(stack, x.org_id) == [] == dirty_marks(stack, y.org_id)


# ---------------------------------------------------------------------- scheduled work under faults


def test_a_rollup_run_under_faults_until_it_succeeds_ends_as_a_fault_free_one(
    stack: LocalStack, faults: Faults, ingested: dict[str, Any]
) -> None:
    """X and Y (the same workload, settled) get one more login on each day of it: Y's days are
    rolled up cleanly, then X's under faults until a run succeeds (each run rolls up every day it
    claims from all of the day's events); the two organizations' figures then agree again."""
    x, y = ingested["x"], ingested["y"]
    more = [
        login_event(f"more-{day}", f"user-{day % USERS:03d}@example.com", NOW - timedelta(days=day, hours=1))
        for day in range(1, DAYS - 3)
    ]
    assert send_once(stack, y, more)
    roll_up_cleanly(stack, y)
    assert send_once(stack, x, more)
    assert dirty_days_of(stack, x.org_id), "X's days wait for the rollup under faults"
    before = len(faults.fired())
    with faults.switched_on():
        failed = until_it_succeeds(stack, faults, "DailyRollupFunction", datetime.now(UTC))
    print(f"\nrollup under faults: {failed} failed run(s), {len(faults.fired()) - before} faults")
    assert len(faults.fired()) > before
    faulty, clean = settled_figures(stack, x, y)
    assert clean != ingested["figures"][1]  # the new logins count
    for section in clean:
        assert faulty[section] == clean[section], section


def _notices(stack: LocalStack, org_id: str) -> list[dict[str, Any]]:
    answer = retrying(Tally(), "GET", f"{stack.url}/v1/orgs/{org_id}/notifications", headers=admin(stack, org_id))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _expiring_and_used(stack: LocalStack, prefix: str) -> str:
    """An organization whose plan ends in 6.5 days and whose seats are 90 % in use."""
    org_id = new_org(prefix)
    end = NOW + timedelta(days=6, hours=12)
    plan = create_plan(
        stack, org_id, type="seats", product="learn", amount=10, start=iso(end - timedelta(days=200)), end=iso(end)
    )
    tally = Tally()
    for n in range(9):
        url = f"{stack.url}/v1/orgs/{org_id}/seats/user-{n}"
        assert retrying(tally, "PUT", url, params={"product": "learn"}, headers=admin(stack, org_id)).status_code == 200
    assert plan["plan_id"]
    return org_id


def _kinds(items: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return sorted((item["kind"], item.get("threshold")) for item in items)


def test_notifications_run_under_faults_are_stored_once(stack: LocalStack, faults: Faults) -> None:
    clean_org = _expiring_and_used(stack, "notes-clean")
    invoke(stack, "NotificationsFunction", NOW)
    clean = _notices(stack, clean_org)
    assert ("plan.expiring", 7) in _kinds(clean)

    faulty_org = _expiring_and_used(stack, "notes-faulty")
    with faults.switched_on(0.2):
        until_it_succeeds(stack, faults, "NotificationsFunction", NOW)
        until_it_succeeds(stack, faults, "NotificationsFunction", NOW + timedelta(hours=1))
    invoke(stack, "NotificationsFunction", NOW + timedelta(hours=2))
    faulty = _notices(stack, faulty_org)
    assert len({item["id"] for item in faulty}) == len(faulty)
    assert _kinds(faulty) == _kinds(clean)


def _export(stack: LocalStack, org: Org, body: dict[str, Any], tally: Tally) -> bytes:
    """Start an export and wait until it is ready; a failed one (after its attempts) is started
    again, as a client would. The CSV it links to."""
    headers = admin(stack, org.org_id)
    for _ in range(5):
        answer = retrying(tally, "POST", f"{stack.url}/v1/orgs/{org.org_id}/exports", json=body, headers=headers)
        assert answer.status_code == 202, answer.text
        url = f"{stack.url}/v1/orgs/{org.org_id}/exports/{answer.json()['export_id']}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = retrying(tally, "GET", url, headers=headers)
            assert status.status_code == 200, status.text
            export = status.json()
            if export["status"] != "pending":
                break
            time.sleep(0.5)
        if export["status"] == "ready":
            got = requests.get(export["url"], timeout=60)
            assert got.status_code == 200, got.text
            return got.content
        assert export["status"] == "failed", export
        assert export.get("error"), export
    pytest.fail(f"no export of {body} became ready")


def test_an_export_made_under_faults_equals_a_fault_free_one(stack: LocalStack, faults: Faults) -> None:
    x = new_customer(stack, "exports")
    batches, _ = workload()
    for batch in batches[:4]:
        assert send_once(stack, x, batch)
    tally = Tally()
    bodies = [
        {"report": "users", "plan_id": x.seats_plan},
        {"report": "consumption", "plan_id": x.mau_plan},
        {"report": "activity", "plan_id": x.seats_plan},
    ]
    with faults.switched_on():
        under_faults = [_export(stack, x, body, tally) for body in bodies]
    assert tally.server_errors == 0, tally.statuses
    fault_free = [_export(stack, x, body, Tally()) for body in bodies]
    for body, faulty, clean in zip(bodies, under_faults, fault_free, strict=True):
        assert faulty == clean, body["report"]
