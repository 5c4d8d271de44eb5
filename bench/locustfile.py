"""The locust side of the load bench (``python -m bench.load`` runs it; see bench/load.py).

Every simulated user is one keep-alive connection (``FastHttpUser``) of one organization, running
tasks at a fixed rate (``constant_throughput``): ingest batches and seat claims with the
organization's API key, usage and report reads with an org_admin token. Which organizations, keys,
tokens and plans, and the rate, come from the JSON file named by ``LOAD_CONFIG``, which load.py
writes after seeding its own stack.

Each request is named after its route, so locust's CSV has one row per route. A request that got
no HTTP answer at all (refused, reset, timed out) is failed with a message starting with
``connection error``; one with the wrong status with ``HTTP <status>``; load.py tells them apart in
the failures CSV. This file imports only the standard library and locust: it runs in its own
process, beside the stack, on the same cores.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant_throughput, events, task
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment

CONFIG_PATH = os.environ.get("LOAD_CONFIG")
CONFIG: dict[str, Any] = json.loads(Path(CONFIG_PATH).read_text()) if CONFIG_PATH else {}
RUN = uuid.uuid4().hex[:8]  # event ids are unique across runs and locust processes
_sequence = itertools.count()
_users_started = itertools.count()

# A product backend's traffic: mostly logins, some AI actions and feature use, a few directory
# (lifecycle) events. Weights in percent.
EVENT_MIX: tuple[tuple[str, int], ...] = (
    ("user.login", 70),
    ("ai.quality_check", 6),
    ("ai.suggest_alignment", 4),
    ("ai.suggest_goal", 5),
    ("feature.used", 10),
    ("user.created", 2),
    ("user.roles_changed", 1),
    ("user.invited", 1),
    ("user.deactivated", 1),
)
EVENT_TYPES = [name for name, _ in EVENT_MIX]
EVENT_WEIGHTS = [weight for _, weight in EVENT_MIX]
FEATURES = ("dashboard", "export", "goals", "calendar", "reports", "messages")
ROLES = ("admin", "program_lead", "coach", "learner", "observer")
BATCH_SIZES = (10, 100)  # events per ingest request, uniform in this range


def stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event_batch(rng: random.Random, users: int, size: int, earliest: datetime) -> list[dict[str, Any]]:
    """``size`` events of a realistic mix, with ids unique across the whole run."""
    now = datetime.now(UTC)
    span = max(60.0, (now - earliest).total_seconds())
    batch: list[dict[str, Any]] = []
    for _ in range(size):
        kind = rng.choices(EVENT_TYPES, EVENT_WEIGHTS)[0]
        user = rng.randrange(users)
        user_id = f"user-{user:06d}"
        at = now - timedelta(seconds=rng.uniform(1, span))
        event: dict[str, Any] = {"id": f"load-{RUN}-{next(_sequence)}", "type": kind, "timestamp": stamp(at)}
        event["user_id"] = user_id
        group = f"site-{user % 25:02d}"
        if kind == "user.login":
            event["product"] = "learn" if rng.random() < 0.8 else "observe"
            event["session_id"] = f"s-{user}-{int(at.timestamp()) // 1800}"
            event["ip"] = f"10.{user % 250}.{(user // 250) % 250}.{rng.randrange(1, 250)}"
            event["group"] = group
            event["instance_id"] = f"web-{rng.randrange(8)}"
        elif kind.startswith("ai."):
            event["product"] = "learn"
            if kind == "ai.suggest_goal":
                event["quantity"] = rng.randint(1, 3)
            else:
                event["goal_id"] = f"goal-{rng.randrange(users * 3):06d}"
        elif kind == "feature.used":
            event["product"] = rng.choice(("learn", "observe"))
            event["feature"] = rng.choice(FEATURES)
            event["properties"] = {"screen": "web", "duration_ms": rng.randrange(50, 5_000)}
        elif kind in ("user.created", "user.roles_changed"):
            event["roles"] = rng.sample(ROLES, rng.randint(1, 2))
            event["group"] = group
        batch.append(event)
    return batch


def check(response: ResponseContextManager, expect: int = 200) -> Any:
    """Fail the request unless it got ``expect``; connection errors are named as such."""
    if not response.status_code:
        response.failure(f"connection error: {getattr(response, 'error', None)!r}")
        return None
    if response.status_code != expect:
        response.failure(f"HTTP {response.status_code}")
        return None
    try:
        return response.json()
    except ValueError:
        response.failure(f"HTTP {response.status_code}: not JSON")
        return None


class OrgClient(FastHttpUser):
    """One connection of one organization's traffic (a product backend and its admins' dashboard)."""

    # Per-user tasks per second: the total rate over the users, set by load.py.
    wait_time = constant_throughput(float(CONFIG.get("rate_per_user", 1.0)))
    network_timeout = 60.0
    connection_timeout = 60.0
    # No retries, no second connection: an error is seen as it happens.
    max_retries = 0
    concurrency = 1

    def on_start(self) -> None:
        index = next(_users_started)
        orgs = CONFIG["orgs"]
        self.org: dict[str, Any] = orgs[index % len(orgs)]
        self.rng = random.Random(f"{RUN}-{index}")
        self.users = int(CONFIG.get("users_per_org", 2_000))
        self.earliest = datetime.fromisoformat(CONFIG["events_since"])
        self.key_headers = {"x-api-key": self.org["api_key"], "Content-Type": "application/json"}
        self.token_headers = {"Authorization": f"Bearer {self.org['token']}"}
        self.base = f"/v1/orgs/{self.org['org_id']}"
        # Spread the users' first requests over one interval instead of 64 at the same instant.
        gevent.sleep(self.rng.uniform(0, 1 / float(CONFIG.get("rate_per_user", 1.0))))

    @task(40)
    def ingest(self) -> None:
        batch = event_batch(self.rng, self.users, self.rng.randint(*BATCH_SIZES), self.earliest)
        body = json.dumps({"events": batch})
        with self.client.post(
            "/v1/events", data=body, headers=self.key_headers, name="POST /v1/events", catch_response=True
        ) as response:
            answer = check(response)
            if answer is not None and (answer.get("rejected") or answer.get("accepted") != len(batch)):
                response.failure(f"events refused: {answer.get('rejected', [])[:1]}")

    @task(20)
    def claim_seat(self) -> None:
        user = f"user-{self.rng.randrange(self.users):06d}"
        with self.client.put(
            f"{self.base}/seats/{user}?product=learn",
            headers=self.key_headers,
            name="PUT /v1/orgs/{org}/seats/{user}",
            catch_response=True,
        ) as response:
            answer = check(response)
            if answer is not None and answer.get("granted") is not True:
                response.failure(f"seat not granted: {answer}")

    def _read(self, path: str, name: str) -> None:
        with self.client.get(path, headers=self.token_headers, name=name, catch_response=True) as response:
            check(response)

    @task(10)
    def usage(self) -> None:
        plan = self.rng.choice(self.org["plan_ids"])
        self._read(f"{self.base}/plans/{plan}/usage", "GET /v1/orgs/{org}/plans/{plan}/usage")

    @task(10)
    def users_page(self) -> None:
        plan = self.rng.choice(self.org["plan_ids"])
        self._read(f"{self.base}/plans/{plan}/users?limit=100", "GET /v1/orgs/{org}/plans/{plan}/users")

    @task(10)
    def report(self) -> None:
        self._read(
            f"{self.base}/reports/license-ai-usage?timeframe=this_month",
            "GET /v1/orgs/{org}/reports/license-ai-usage",
        )

    @task(10)
    def activity(self) -> None:
        plan = self.org["plan_ids"][0]
        self._read(f"{self.base}/plans/{plan}/activity?limit=50", "GET /v1/orgs/{org}/plans/{plan}/activity")


@events.test_start.add_listener
def _check_config(environment: Environment, **_: Any) -> None:
    if not CONFIG:
        raise SystemExit("LOAD_CONFIG is not set: run the load bench with `python -m bench.load`.")
