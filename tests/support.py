"""Small helpers the HTTP tests share: unique organizations, keys, plans and event batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

import requests
from hypothesis import HealthCheck, Phase, settings

from tests.stack import LocalStack
from usage_local.cli import scheduled_run_event
from usage_local.lambda_runtime import Invocation, Worker, WorkerGone, function_specs
from usage_local.template import Template

ROOT = Path(__file__).resolve().parents[1]


Stack = LocalStack


class _Answer(Protocol):
    def json(self) -> Any: ...


def error_shape(answer: _Answer) -> dict[str, Any]:
    """The answer's body, asserted to be SPEC §5's error shape (a requests or schemathesis response)."""
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body


def new_org(prefix: str = "org") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def bearer(stack: Stack, role: str, org_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token(role, org_id)}"}


def vendor(stack: Stack) -> dict[str, str]:
    return bearer(stack, "vendor_admin")


def create_key(stack: Stack, org_id: str) -> str:
    answer = requests.post(f"{stack.url}/v1/orgs/{org_id}/api-keys", headers=vendor(stack), timeout=30)
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["api_key"]
    return key


def send(stack: Stack, api_key: str, events: list[Any]) -> requests.Response:
    return requests.post(f"{stack.url}/v1/events", json={"events": events}, headers={"x-api-key": api_key}, timeout=60)


def create_plan(stack: Stack, org_id: str, **terms: Any) -> dict[str, Any]:
    answer = requests.post(f"{stack.url}/v1/orgs/{org_id}/plans", json=terms, headers=vendor(stack), timeout=30)
    assert answer.status_code == 201, answer.text
    plan: dict[str, Any] = answer.json()
    return plan


def usage(stack: Stack, org_id: str, plan_id: str) -> dict[str, Any]:
    answer = requests.get(f"{stack.url}/v1/orgs/{org_id}/plans/{plan_id}/usage", headers=vendor(stack), timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(**delta: float) -> str:
    return iso(datetime.now(UTC) - timedelta(**delta))


def login(event_id: str, user_id: str, timestamp: str, product: str | None = "learn", **extra: Any) -> dict[str, Any]:
    event = {"id": event_id, "type": "user.login", "timestamp": timestamp, "user_id": user_id, **extra}
    if product is not None:
        event["product"] = product
    return event


def invoke_process(
    stack: LocalStack, function: str, at: datetime, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``usage-local invoke FUNCTION --time AT`` against the stack, as it ended: stdout holds the
    result, stderr what the function logged (``env``: switches the run's worker inherits)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "usage_local",
            "invoke",
            function,
            "--time",
            iso(at),
            "--state-dir",
            str(stack.state_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


class WarmRuns:
    """Scheduled runs of a stack's functions in warm workers this test process keeps, as Lambda
    keeps a function's instances warm between invocations: the worker's start and the function's
    imports are paid once per function and stack, not once per run. Each worker is the stack's
    own spec (template.yaml's handler, the environment of stack.json) serving one invocation at
    a time; runs side by side get a worker each. A run with ``env`` (switches the function's
    environment does not have: LICENSE_USAGE_FAULTS, NOTICE_LEASE_SECONDS, USAGE_LOCAL_FAULTS_FILE)
    gets workers of its own, started with them. Their logs go to ``<state>-scheduled-runs.log``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, ...], list[Worker]] = defaultdict(list)
        self._workers: list[Worker] = []
        self._logs: dict[Path, IO[str]] = {}
        self._template: Template | None = None

    def invoke(self, stack: LocalStack, function: str, at: datetime, env: dict[str, str] | None = None) -> Invocation:
        switches = dict(sorted((env or {}).items()))
        key = (
            str(stack.state_dir),
            str(stack.info.get("pid")),
            str(stack.info.get("started_at")),
            function,
            json.dumps(switches),
        )
        with self._lock:
            worker = self._idle[key].pop() if self._idle[key] else None
            if self._template is None:
                self._template = Template.load(ROOT / "template.yaml")
            template = self._template
        if worker is None:
            worker = self._start(stack, template, function, switches)
        try:
            return worker.invoke(scheduled_run_event(template, function, at), f"warm-{uuid.uuid4()}")
        except WorkerGone as gone:
            worker.stop(0)
            raise AssertionError(f"{function}'s worker ended: {gone}") from gone
        finally:
            if worker.alive():
                with self._lock:
                    self._idle[key].append(worker)

    def _start(self, stack: LocalStack, template: Template, function: str, switches: dict[str, str]) -> Worker:
        environments = {name: f["environment"] for name, f in stack.info["functions"].items()}
        specs = function_specs(template, {name: environments.get(name, {}) for name in template.functions()})
        spec = replace(specs[function], environment={**specs[function].environment, **switches})
        log_path = stack.state_dir.parent / f"{stack.state_dir.name}-scheduled-runs.log"
        with self._lock:
            if log_path not in self._logs:
                self._logs[log_path] = log_path.open("a")
            log_to = self._logs[log_path]
        worker = Worker(spec, log_source=function, log_to=log_to)
        with self._lock:
            self._workers.append(worker)
        return worker

    def stop(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
            self._idle.clear()
        for worker in workers:
            worker.request_stop()
        for worker in workers:
            worker.stop()
        for log in self._logs.values():
            log.close()
        self._logs.clear()


WARM_RUNS = WarmRuns()


def invoke(
    stack: LocalStack, function: str, at: datetime, env: dict[str, str] | None = None, expect_ok: bool = True
) -> dict[str, Any]:
    """One scheduled run, in a warm worker of this process (``WarmRuns``; ``env``: switches its
    worker starts with, e.g. LICENSE_USAGE_FAULTS), and its result; ``expect_ok=False``: the run
    must fail, and its error is returned as ``{"error": ...}``. ``usage-local invoke`` itself
    (a worker of its own per run, its logs on stderr) is ``invoke_process``."""
    invocation = WARM_RUNS.invoke(stack, function, at, env)
    if not expect_ok:
        assert not invocation.ok, invocation.result
        return {"error": invocation.error}
    assert invocation.ok, f"{function} failed: {invocation.error}"
    answer: dict[str, Any] = invocation.result
    return answer


def caller_headers(stack: LocalStack, org_id: str) -> list[dict[str, str]]:
    """One header set per kind of caller of an organization that has a key and a seats plan:
    vendor admin, org admin, reporter, an ingest key (the fuzzers call every route with each)."""
    key = create_key(stack, org_id)
    create_plan(stack, org_id, type="seats", product="learn", amount=5, start="2026-06-01T00:00:00Z")
    return [
        {"Authorization": f"Bearer {stack.token('vendor_admin')}"},
        {"Authorization": f"Bearer {stack.token('org_admin', org_id)}"},
        {"Authorization": f"Bearer {stack.token('reporter', org_id)}"},
        {"x-api-key": key},
    ]


def roll_up(stack: LocalStack) -> dict[str, Any]:
    return invoke(stack, "DailyRollupFunction", datetime.now(UTC))


def day_items(stack: LocalStack, org_id: str, day: str) -> list[dict[str, Any]]:
    """Every item of the organization's UTC day in the ``by_day`` index (its shards merged, the
    lifecycle events' partition excluded), in time order."""
    from license_usage.store.keys import day_partitions

    items: list[dict[str, Any]] = []
    for partition in day_partitions(org_id, day):
        items += stack.client("dynamodb").query(
            TableName=stack.env["EVENTS_TABLE"],
            IndexName="by_day",
            KeyConditionExpression="#d = :d",
            ExpressionAttributeNames={"#d": "day"},
            ExpressionAttributeValues={":d": {"S": partition}},
        )["Items"]
    return sorted(items, key=lambda item: str(item["at"]["S"]))


class FuzzBudget:
    """The fuzzers' time budget: each operation's cases are sent for at most ``seconds`` from its
    first (FUZZ_SECONDS_PER_OPERATION, default ``default``); later ones are generated, not sent."""

    def __init__(self, default: float) -> None:
        self.seconds = float(os.environ.get("FUZZ_SECONDS_PER_OPERATION") or default)
        self.started: dict[str, float] = {}
        self.skipped = 0

    def spent(self, operation: str) -> bool:
        started = self.started.setdefault(operation, time.monotonic())
        if time.monotonic() - started <= self.seconds:
            return False
        self.skipped += 1
        return True


def fuzz_examples(default: int) -> int:
    """Generated cases per operation (FUZZ_EXAMPLES, default ``default``)."""
    return int(os.environ.get("FUZZ_EXAMPLES") or default)



def fuzz_settings(examples: int, *phases: Phase) -> settings:
    """The fuzzers' hypothesis settings: ``examples`` cases an operation, reproducible, no deadline."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        phases=list(phases),
        suppress_health_check=list(HealthCheck),
    )
