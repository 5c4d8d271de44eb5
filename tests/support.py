"""Small helpers the HTTP tests share: unique organizations, keys, plans and event batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from tests.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]


Stack = LocalStack


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


def invoke(
    stack: LocalStack, function: str, at: datetime, env: dict[str, str] | None = None, expect_ok: bool = True
) -> dict[str, Any]:
    """One scheduled run (``invoke_process``) and its result (``env``: switches the run's worker
    inherits, e.g. LICENSE_USAGE_FAULTS)."""
    done = invoke_process(stack, function, at, env)
    if not expect_ok:
        assert done.returncode != 0, done.stdout
        return {"stderr": done.stderr}
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


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
