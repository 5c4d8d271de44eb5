"""Partition-key bench (``python -m bench.partitions``): how hot each DynamoDB partition key gets.

On AWS one partition key value (of a table or of a GSI) takes at most 1,000 WCU/s and 3,000 RCU/s.
This bench runs two workloads through the real handlers (ingest, seat claims, the usage, users,
activity and report reads), in-process against DynamoDB Local, and attributes the capacity of
every DynamoDB call to the partition keys it touched (from each call's keys, with
``ReturnConsumedCapacity``; transaction and batch items priced per item as DynamoDB prices them).
Dividing by the seconds of traffic the sample stands for gives each key's projected WCU/s and
RCU/s at the workload's rate:

(a) one organization sending 5,000 events/s (batches of 100: logins, a month-start wave of first
    logins on a mau plan, logins taking seats on a hard-limited seats plan, AI actions, feature
    use, lifecycle events) plus 50 seat claims/s and 40 reads/s of its usage, users, activity and
    report;
(b) 10,000 organizations at 1 event/s each (one event per request), each with a mau plan, sampled
    by 1,000 of them: a key of one organization is projected from its own traffic, a key shared
    by organizations (``DIRTY…``, ``ORGS``…) from the sample's × 10.

The keys of one clock second each (the rate limiter's windows) are added up as one key: at the
workload's rate, every second's key takes what the sample's seconds took together. It prints the
hottest keys of each workload and whether any exceeds the per-key limits; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.client
from botocore.exceptions import ClientError

from bench.harness import (
    INGEST_AUTHORIZER,
    VENDOR_AUTHORIZER,
    Figure,
    Handler,
    LambdaContext,
    LocalDynamoDB,
    _item_size,
    _value_size,
    code_line,
    create_plan,
    ingest_event,
    load_handler,
    local_dynamodb,
    machine_line,
    print_table,
    rest_event,
    set_lambda_environment,
)
from usage_local.resources import table_definition

WCU_LIMIT = 1_000.0
RCU_LIMIT = 3_000.0
TABLES = ("EventsTable", "LicensingTable")


def stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------- the meter
@dataclass
class KeyLoad:
    write: float = 0.0
    read: float = 0.0
    calls: int = 0


@dataclass
class Schema:
    """Per table: the base table's hash key attribute and each GSI's (name → hash attribute)."""

    hash_key: dict[str, str] = field(default_factory=dict)
    index_hash: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, local: LocalDynamoDB) -> Schema:
        schema = cls()
        for logical_id in TABLES:
            request = table_definition(local.template, logical_id)
            name = request["TableName"]
            schema.hash_key[name] = next(k["AttributeName"] for k in request["KeySchema"] if k["KeyType"] == "HASH")
            schema.index_hash[name] = {
                index["IndexName"]: next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
                for index in request.get("GlobalSecondaryIndexes", [])
            }
        return schema


def _scalar(value: Mapping[str, Any]) -> str:
    ((_, data),) = value.items()
    return str(data)


def _write_units(size: int, transactional: bool) -> float:
    return (2.0 if transactional else 1.0) * max(1, math.ceil(size / 1024))


class KeyMeter:
    """Attributes every DynamoDB call of this process to the partition keys it touched."""

    def __init__(self, schema: Schema, short: Mapping[str, str]) -> None:
        self.schema = schema
        self.short = short  # table name → logical id, for printing
        self.loads: dict[tuple[str, str], KeyLoad] = defaultdict(KeyLoad)
        self._lock = threading.Lock()
        self.enabled = False

    def _add(self, table: str, index: str | None, key: str, write: float = 0.0, read: float = 0.0) -> None:
        where = self.short.get(table, table) + (f"/{index}" if index else "")
        with self._lock:
            load = self.loads[(where, key)]
            load.write += write
            load.read += read
            load.calls += 1

    def install(self) -> None:
        original = botocore.client.BaseClient._make_api_call
        meter = self

        def metered(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if not meter.enabled or client.meta.service_model.service_name != "dynamodb":
                return original(client, operation_name, api_params)
            members = client.meta.service_model.operation_model(operation_name).input_shape.members
            if "ReturnConsumedCapacity" in members:
                api_params = {**api_params, "ReturnConsumedCapacity": "INDEXES"}
            try:
                response = original(client, operation_name, api_params)
            except ClientError as error:
                meter.record(operation_name, api_params, None)
                raise error
            meter.record(operation_name, api_params, response)
            return response

        botocore.client.BaseClient._make_api_call = metered

    # -- attribution
    def _index_writes(self, table: str, item: Mapping[str, Any], units: float) -> None:
        for index, attribute in self.schema.index_hash.get(table, {}).items():
            if attribute in item:
                self._add(table, index, _scalar(item[attribute]), write=units)

    def _update_index_key(self, table: str, body: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The GSI keys an update names (it writes the index when it sets the index's key)."""
        names = body.get("ExpressionAttributeNames", {})
        expression = str(body.get("UpdateExpression", ""))
        found = []
        for index, attribute in self.schema.index_hash.get(table, {}).items():
            placeholder = next((p for p, n in names.items() if n == attribute), None)
            if attribute in expression or (placeholder and placeholder in expression):
                found.append((index, f"<{attribute} set by an update>"))
        return found

    def record(self, operation: str, params: Mapping[str, Any], response: Mapping[str, Any] | None) -> None:
        consumed = (response or {}).get("ConsumedCapacity")
        if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
            table = str(params["TableName"])
            hash_key = self.schema.hash_key[table]
            item = params.get("Item") or params.get("Key") or {}
            key = _scalar(item[hash_key])
            if operation == "GetItem":
                units = float((consumed or {}).get("CapacityUnits", 0.5))
                self._add(table, None, key, read=units)
                return
            if consumed:
                base = float(consumed.get("Table", {}).get("CapacityUnits", consumed.get("CapacityUnits", 1.0)))
            else:  # refused by its condition: AWS still charges the write
                base = 1.0
            self._add(table, None, key, write=base)
            indexes = (consumed or {}).get("GlobalSecondaryIndexes", {})
            if operation == "PutItem":
                for index, attribute in self.schema.index_hash.get(table, {}).items():
                    if attribute in item and index in indexes:
                        self._add(table, index, _scalar(item[attribute]), write=float(indexes[index]["CapacityUnits"]))
            elif operation == "UpdateItem" and indexes:
                for index, key_text in self._update_index_key(table, params):
                    if index in indexes:
                        self._add(table, index, key_text, write=float(indexes[index]["CapacityUnits"]))
            return
        if operation == "Query":
            table = str(params["TableName"])
            query_index: str | None = params.get("IndexName")
            attribute = self.schema.index_hash[table][query_index] if query_index else self.schema.hash_key[table]
            names = params.get("ExpressionAttributeNames", {})
            values = params.get("ExpressionAttributeValues", {})
            condition = str(params.get("KeyConditionExpression", ""))
            key = "?"
            for placeholder, value in re.findall(r"(#?\w+)\s*=\s*(:\w+)", condition):
                if names.get(placeholder, placeholder) == attribute:
                    key = _scalar(values[value])
            units = float((consumed or {}).get("CapacityUnits", 0.5))
            self._add(table, query_index, key, read=units)
            return
        if operation == "BatchGetItem":
            entries = consumed if isinstance(consumed, list) else []
            by_table = {str(e.get("TableName")): float(e.get("CapacityUnits", 0.0)) for e in entries}
            for table, request in params.get("RequestItems", {}).items():
                keys = request.get("Keys", [])
                share = by_table.get(table, 0.5 * len(keys)) / max(1, len(keys))
                for item in keys:
                    self._add(table, None, _scalar(item[self.schema.hash_key[table]]), read=share)
            return
        if operation == "BatchWriteItem":
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        units = _write_units(_item_size(item), False)
                        self._add(table, None, _scalar(item[self.schema.hash_key[table]]), write=units)
                        self._index_writes(table, item, units)
                    else:
                        item = request["DeleteRequest"]["Key"]
                        self._add(table, None, _scalar(item[self.schema.hash_key[table]]), write=1.0)
            return
        if operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                ((kind, body),) = entry.items()
                table = str(body["TableName"])
                hash_key = self.schema.hash_key[table]
                if kind == "Put":
                    item = body["Item"]
                    units = _write_units(_item_size(item), True)
                    self._add(table, None, _scalar(item[hash_key]), write=units)
                    self._index_writes(table, item, units)
                elif kind == "Update":
                    size = _item_size(body["Key"]) + sum(
                        _value_size(v) for v in body.get("ExpressionAttributeValues", {}).values()
                    )
                    self._add(table, None, _scalar(body["Key"][hash_key]), write=_write_units(size, True))
                else:
                    self._add(table, None, _scalar(body["Key"][hash_key]), write=2.0)
            return
        if operation == "TransactGetItems":
            for entry in params.get("TransactItems", []):
                body = entry["Get"]
                table = str(body["TableName"])
                self._add(table, None, _scalar(body["Key"][self.schema.hash_key[table]]), read=2.0)
            return

    def take(self) -> dict[tuple[str, str], KeyLoad]:
        with self._lock:
            loads, self.loads = dict(self.loads), defaultdict(KeyLoad)
            return loads


# ---------------------------------------------------------------------------- projection
_CLOCK_SECOND = re.compile(r"^(RATE#.+#)\d{9,}$")


@dataclass(frozen=True)
class Projected:
    where: str
    key: str
    wcu_per_second: float
    rcu_per_second: float
    calls: int


def project(
    loads: Mapping[tuple[str, str], KeyLoad],
    seconds: float,
    org_ids: Sequence[str],
    shared_scale: float,
) -> list[Projected]:
    """Per key, its units ÷ the seconds of traffic the sample stands for. Keys that name no
    sampled organization or plan (``org_ids``) are shared by all of them: scaled by
    ``shared_scale``. Keys of a clock second (``RATE#…#<epoch second>``) are grouped into one: at
    the workload's rate, each second's key takes what the sample's seconds took together."""
    orgs = sorted(org_ids, key=len, reverse=True)
    grouped: dict[tuple[str, str], KeyLoad] = defaultdict(KeyLoad)
    for (where, key), load in loads.items():
        match = _CLOCK_SECOND.match(key)
        name = f"{match.group(1)}<second>" if match else key
        total = grouped[(where, name)]
        total.write += load.write
        total.read += load.read
        total.calls += load.calls
    projected = []
    for (where, key), load in grouped.items():
        scale = 1.0 if any(org in key for org in orgs) else shared_scale
        projected.append(Projected(where, key, load.write * scale / seconds, load.read * scale / seconds, load.calls))
    return projected


def hottest_lines(projected: Sequence[Projected], top: int) -> list[str]:
    lines = []
    for title, value in (("WCU/s", lambda p: p.wcu_per_second), ("RCU/s", lambda p: p.rcu_per_second)):
        lines.append(f"  hottest by {title}:")
        for p in sorted(projected, key=value, reverse=True)[:top]:
            if value(p) <= 0:
                break
            lines.append(
                f"    {p.where:<24} {p.key[:64]:<64} WCU/s {p.wcu_per_second:>9,.1f}  RCU/s {p.rcu_per_second:>9,.1f}"
            )
    return lines


def figures_of(label: str, projected: Sequence[Projected]) -> list[Figure]:
    hottest_write = max(projected, key=lambda p: p.wcu_per_second)
    hottest_read = max(projected, key=lambda p: p.rcu_per_second)
    return [
        Figure(
            f"{label} hottest key, WCU/s",
            f"{hottest_write.wcu_per_second:,.0f} ({hottest_write.where} {hottest_write.key[:40]})",
            f"≤ {WCU_LIMIT:,.0f}",
            hottest_write.wcu_per_second <= WCU_LIMIT,
        ),
        Figure(
            f"{label} hottest key, RCU/s",
            f"{hottest_read.rcu_per_second:,.0f} ({hottest_read.where} {hottest_read.key[:40]})",
            f"≤ {RCU_LIMIT:,.0f}",
            hottest_read.rcu_per_second <= RCU_LIMIT,
        ),
        Figure(
            f"{label} all keys, WCU/s and RCU/s",
            f"{sum(p.wcu_per_second for p in projected):,.0f} and {sum(p.rcu_per_second for p in projected):,.0f}",
            "",
            None,
        ),
    ]


# ---------------------------------------------------------------------------- the workloads
@dataclass
class Handlers:
    ingest: Handler
    api: Handler
    reports: Handler


def _call(handler: Handler, event: dict[str, Any], expect: Sequence[int] = (200,)) -> dict[str, Any]:
    response = handler(event, LambdaContext())
    if response.get("statusCode") not in expect:
        raise RuntimeError(
            f"{event['httpMethod']} {event['path']} → {response.get('statusCode')}: {response.get('body')}"
        )
    body: dict[str, Any] = json.loads(response.get("body") or "{}")
    return body


def _with_query(event: dict[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
    event["queryStringParameters"] = dict(query)
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def admin(org_id: str) -> dict[str, str]:
    return {"role": "org_admin", "org_id": org_id, "subject": f"admin-{org_id}"}


def key_of(org_id: str) -> dict[str, str]:
    return {**INGEST_AUTHORIZER, "org_id": org_id}


def big_org_batches(rng: random.Random, events: int, now: datetime, prefix: str) -> list[list[dict[str, Any]]]:
    """(a)'s traffic: batches of 100 within the last ten minutes, in time order."""
    kinds = [
        ("wave", 30),  # the first login of the month of a user not seen this month (mau plan)
        ("repeat", 25),  # a login of a user already counted this month
        ("seat", 4),  # a login on the hard-limited seats plan
        ("ai.quality_check", 10),
        ("ai.suggest_goal", 6),
        ("feature.used", 15),
        ("user.created", 3),
        ("user.roles_changed", 2),
        ("user.invited", 3),
        ("user.deactivated", 2),
    ]
    names = [k for k, _ in kinds]
    weights = [w for _, w in kinds]
    seen: list[str] = []
    out: list[dict[str, Any]] = []
    for index in range(events):
        kind = rng.choices(names, weights)[0]
        at = stamp(now - timedelta(seconds=rng.uniform(1, 600)))
        event: dict[str, Any] = {"id": f"{prefix}-{index:08d}", "timestamp": at}
        if kind == "wave" or (kind == "repeat" and not seen):
            user = f"u-{uuid.uuid4().hex[:12]}"
            seen.append(user)
            event |= {"type": "user.login", "user_id": user, "product": "learn"}
        elif kind == "repeat":
            event |= {"type": "user.login", "user_id": rng.choice(seen), "product": "learn"}
        elif kind == "seat":
            event |= {"type": "user.login", "user_id": f"s-{rng.randrange(20_000):06d}", "product": "observe"}
        elif kind.startswith("ai."):
            event |= {"type": kind, "user_id": rng.choice(seen) if seen else "u-0", "product": "learn"}
            event |= {"goal_id": f"g-{rng.randrange(100_000)}"} if kind == "ai.quality_check" else {"quantity": 1}
        elif kind == "feature.used":
            event |= {"type": kind, "user_id": rng.choice(seen) if seen else "u-0", "feature": "goals"}
        else:
            event |= {"type": kind, "user_id": f"d-{rng.randrange(1_000_000):07d}"}
            if kind in ("user.created", "user.roles_changed"):
                event |= {"roles": [rng.choice(["coach", "learner", "observer"])], "group": f"site-{rng.randrange(40)}"}
        if event["type"] == "user.login":
            event |= {"session_id": uuid.uuid4().hex[:16], "ip": f"10.0.{rng.randrange(250)}.{rng.randrange(250)}"}
            event |= {"group": f"site-{rng.randrange(40)}"}
        out.append(event)
    out.sort(key=lambda e: str(e["timestamp"]))
    return [out[i : i + 100] for i in range(0, len(out), 100)]


def run_big_org(
    handlers: Handlers, meter: KeyMeter, rng: random.Random, seconds: float
) -> tuple[list[Projected], float]:
    org = "big-org"
    now = datetime.now(UTC)
    start = stamp(now - timedelta(days=40))
    meter.enabled = False
    mau = _call(
        handlers.api,
        rest_event(
            "POST",
            "/v1/orgs/{org_id}/plans",
            {"org_id": org},
            VENDOR_AUTHORIZER,
            json.dumps({"type": "mau", "product": "learn", "amount": 5_000_000, "start": start}),
        ),
        (201,),
    )
    create_plan(
        handlers.api,
        org,
        {
            "type": "seats",
            "product": "observe",
            "amount": 50_000,
            "overdraft": 5_000,
            "enforcement": "hard",
            "start": start,
        },
    )
    batches = big_org_batches(rng, int(5_000 * seconds), now, "a")
    claims = [f"s-{rng.randrange(20_000):06d}" for _ in range(int(50 * seconds))]
    reads = int(40 * seconds)
    print(
        f"(a) {sum(map(len, batches)):,} events in {len(batches)} batches, {len(claims)} seat claims, {reads} reads "
        f"= {seconds:g} s of the workload…",
        flush=True,
    )
    meter.enabled = True
    started = time.perf_counter()
    per_batch_claims = max(1, len(claims) // len(batches))
    per_batch_reads = max(1, reads // len(batches))
    for index, batch in enumerate(batches):
        _call(handlers.ingest, ingest_event(org, json.dumps({"events": batch})))
        for user in claims[index * per_batch_claims : (index + 1) * per_batch_claims]:
            event = rest_event(
                "PUT", "/v1/orgs/{org_id}/seats/{user_id}", {"org_id": org, "user_id": user}, key_of(org)
            )
            _call(handlers.api, _with_query(event, {"product": "observe"}), (200, 409))
        for read in range(index * per_batch_reads, (index + 1) * per_batch_reads):
            if read >= reads:
                break
            _read(handlers, org, mau["plan_id"], read)
    wall = time.perf_counter() - started
    meter.enabled = False
    return project(meter.take(), seconds, [org], 1.0), wall


def _read(handlers: Handlers, org: str, plan_id: str, index: int) -> None:
    path = {"org_id": org, "plan_id": plan_id}
    kind = index % 4
    if kind == 0:
        _call(handlers.api, rest_event("GET", "/v1/orgs/{org_id}/plans/{plan_id}/usage", path, admin(org)))
    elif kind == 1:
        _call(
            handlers.api,
            _with_query(
                rest_event("GET", "/v1/orgs/{org_id}/plans/{plan_id}/users", path, admin(org)), {"limit": "100"}
            ),
        )
    elif kind == 2:
        _call(
            handlers.reports,
            _with_query(
                rest_event("GET", "/v1/orgs/{org_id}/plans/{plan_id}/activity", path, admin(org)), {"limit": "100"}
            ),
        )
    else:
        _call(
            handlers.reports,
            _with_query(
                rest_event("GET", "/v1/orgs/{org_id}/reports/license-ai-usage", {"org_id": org}, admin(org)),
                {"timeframe": "this_month"},
            ),
        )


def run_many_orgs(handlers: Handlers, meter: KeyMeter, rng: random.Random, sampled: int, total: int) -> list[Projected]:
    now = datetime.now(UTC)
    start = stamp(now - timedelta(days=40))
    orgs = [f"org-{index:05d}" for index in range(sampled)]
    meter.enabled = False
    print(f"(b) {sampled:,} organizations with a mau plan (standing for {total:,})…", flush=True)
    with ThreadPoolExecutor(8) as pool:
        plans = list(
            pool.map(
                lambda org: create_plan(
                    handlers.api, org, {"type": "mau", "product": "learn", "amount": 1_000, "start": start}
                ),
                orgs,
            )
        )
    bodies = []
    for index, org in enumerate(orgs):
        kind = rng.choices(["login", "ai", "feature"], [60, 20, 20])[0]
        event: dict[str, Any] = {"id": f"b-{index}", "timestamp": stamp(now - timedelta(seconds=rng.uniform(1, 60)))}
        user = f"u-{rng.randrange(1_000)}"
        if kind == "login":
            event |= {"type": "user.login", "user_id": user, "product": "learn", "session_id": uuid.uuid4().hex[:16]}
        elif kind == "ai":
            event |= {"type": "ai.suggest_goal", "user_id": user, "product": "learn", "quantity": 1}
        else:
            event |= {"type": "feature.used", "user_id": user, "feature": "goals"}
        bodies.append((org, json.dumps({"events": [event]})))
    print(
        f"(b) one event from each of them = 1 s of the workload for {sampled / total:.0%} of the organizations…",
        flush=True,
    )
    meter.enabled = True
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda pair: _call(handlers.ingest, ingest_event(pair[0], pair[1])), bodies))
    meter.enabled = False
    # A plan's keys name its plan id, not its organization: they are one organization's too.
    return project(meter.take(), 1.0, [*orgs, *(str(plan["plan_id"]) for plan in plans)], total / sampled)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.partitions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="(a): seconds of its traffic to sample (default 4)")
    parser.add_argument("--orgs", type=int, default=1_000, help="(b): organizations sampled (default 1000)")
    parser.add_argument("--top", type=int, default=8, help="hottest keys printed per workload (default 8)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=("a", "b"), default=None)
    args = parser.parse_args(argv)
    print(f"{code_line()}; {machine_line()}")
    with local_dynamodb("partitions") as local:
        set_lambda_environment(local)
        handlers = Handlers(
            ingest=load_handler("ingest", "bench_partitions_ingest"),
            api=load_handler("api", "bench_partitions_api"),
            reports=load_handler("reports", "bench_partitions_reports"),
        )
        meter = KeyMeter(Schema.of(local), {name: logical for logical, name in local.names.items()})
        meter.install()
        rng = random.Random(args.seed)
        figures: list[Figure] = []
        if args.only in (None, "a"):
            projected, wall = run_big_org(handlers, meter, rng, args.seconds)
            print(f"(a) one organization at 5,000 events/s (sample ran {wall:.0f} s):")
            print("\n".join(hottest_lines(projected, args.top)))
            figures += figures_of("(a)", projected)
        if args.only in (None, "b"):
            projected = run_many_orgs(handlers, meter, rng, args.orgs, 10_000)
            print("(b) 10,000 organizations at 1 event/s each:")
            print("\n".join(hottest_lines(projected, args.top)))
            figures += figures_of("(b)", projected)
    print_table(
        f"Partition keys, projected at the workloads' rates (limits per key: {WCU_LIMIT:,.0f} WCU/s, "
        f"{RCU_LIMIT:,.0f} RCU/s)",
        figures,
    )


if __name__ == "__main__":
    main()
