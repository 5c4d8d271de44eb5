"""What every bench shares: its own DynamoDB Local, the tables of template.yaml, the Lambda
environment, the real handlers called in-process with API Gateway REST proxy events, and a meter
of the DynamoDB capacity the bench process consumes.

Nothing of the project is mocked: the handlers are the real modules of ``functions/``, talking to
a real DynamoDB Local over HTTP. Only this process is instrumented (``CapacityMeter``)."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.client
from botocore.exceptions import ClientError

# The DynamoDB Local of a bench's own, and the Lambda environment pointed at it, are the store
# tests' too: usage_local.dynamodb_local (re-exported here for the benches).
from usage_local.dynamodb_local import (
    DUMMY_JWKS_URL,
    TABLES,
    LocalDynamoDB,
    drain,
    free_port,
    lambda_environment,
    local_dynamodb,
)
from usage_local.resources import aws_client, create_bucket, create_event_bus, create_topic
from usage_local.standins import MotoServer, wait_until_answering
from usage_local.template import Template

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
__all__ = ["DUMMY_JWKS_URL", "TABLES", "LocalDynamoDB", "free_port", "lambda_environment", "local_dynamodb"]

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


# ---------------------------------------------------------------------------- moto and the Lambda environment
@contextlib.contextmanager
def local_moto() -> Iterator[str]:
    """moto server (its own process and port) with the template's SNS topic, event bus and exports
    bucket, the
    handlers of this process pointed at it; yields its endpoint. Publishing then costs what it
    costs against the local stack."""
    template = Template.load(TEMPLATE_PATH)
    port = free_port()
    moto = MotoServer(port)
    moto.start()
    assert moto.process is not None
    assert moto.process.stdout is not None
    threading.Thread(target=drain, args=(moto.process.stdout, Path(os.devnull)), daemon=True).start()
    try:
        wait_until_answering([(moto, port, "/moto-api/")])
        create_topic(aws_client("sns", moto.endpoint), template, "NotificationsTopic")
        create_event_bus(aws_client("events", moto.endpoint), template, "UsageEventBus")
        create_bucket(aws_client("s3", moto.endpoint), template, "ExportsBucket")
        for service in ("SNS", "EVENTBRIDGE", "S3", "SQS"):
            os.environ[f"AWS_ENDPOINT_URL_{service}"] = moto.endpoint
        yield moto.endpoint
    finally:
        moto.stop()


def set_lambda_environment(local: LocalDynamoDB) -> dict[str, str]:
    """Set the Lambda environment in this process. Must run before any handler (or
    ``license_usage``) module is imported: the store reads the table names at import."""
    environment = lambda_environment(local.port)
    assert environment["EVENTS_TABLE"] == local.names["EventsTable"]
    assert environment["LICENSING_TABLE"] == local.names["LicensingTable"]
    os.environ.update(environment)
    return environment


def load_handler(function_dir: str, module_name: str) -> Handler:
    """Import ``functions/<function_dir>/app.py`` under a unique name (every function's module is
    called ``app``) and return its ``handler``."""
    path = REPO_ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Handler = module.handler
    return handler


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools' Logger reads."""

    function_name: str = "bench"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/bench"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


INGEST_AUTHORIZER = {"role": "ingest_key", "subject": "key_bench"}
VENDOR_AUTHORIZER = {"role": "vendor_admin", "org_id": "", "subject": "bench"}


def rest_event(
    method: str,
    resource: str,
    path_parameters: Mapping[str, str] | None,
    authorizer: Mapping[str, str],
    body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event, as API Gateway sends it after the Lambda authorizer allowed
    the call (``requestContext.authorizer`` carries the authorizer's context)."""
    path = resource
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    headers = {"Content-Type": "application/json", "Host": "bench.execute-api.us-east-1.amazonaws.com"}
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": request_id,
            "accountId": "123456789012",
            "apiId": "benchapi01",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "bench"},
            "authorizer": {**authorizer, "principalId": authorizer.get("subject", "bench")},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def ingest_event(org_id: str, body: str) -> dict[str, Any]:
    return rest_event("POST", "/v1/events", None, {**INGEST_AUTHORIZER, "org_id": org_id}, body)


def call(handler: Handler, event: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    """Invoke the handler; fail loudly if the status is not the expected one (a bench that
    silently measures errors measures nothing)."""
    response = handler(event, LambdaContext())
    if response.get("statusCode") != expect:
        raise RuntimeError(
            f"{event['httpMethod']} {event['path']} → {response.get('statusCode')}: {response.get('body')}"
        )
    body: dict[str, Any] = json.loads(response.get("body") or "{}")
    return body


def create_plan(api: Handler, org_id: str, terms: Mapping[str, Any]) -> dict[str, Any]:
    """A plan, through the real API (POST /v1/orgs/{org_id}/plans as a vendor admin)."""
    event = rest_event("POST", "/v1/orgs/{org_id}/plans", {"org_id": org_id}, VENDOR_AUTHORIZER, json.dumps(terms))
    return call(api, event, expect=201)


# ---------------------------------------------------------------------------- capacity
_WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass
class OperationStats:
    calls: int = 0
    read: float = 0.0
    write: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    # Transaction items of cancelled transactions (they report no capacity).
    cancelled_items: int = 0
    # What DynamoDB Local itself reported for writes (differs from ``write`` for transactions only).
    reported_write: float = 0.0
    seconds: float = 0.0  # summed over calls (calls from several threads overlap)


@dataclass
class CapacitySnapshot:
    by_operation: dict[tuple[str, str], OperationStats]

    @property
    def read(self) -> float:
        return sum(s.read for s in self.by_operation.values())

    @property
    def write(self) -> float:
        return sum(s.write for s in self.by_operation.values())

    def write_of(self, table: str) -> float:
        return sum(s.write for (_, t), s in self.by_operation.items() if table in t.split(","))

    @property
    def failed_writes(self) -> int:
        """Conditional writes refused and transactions cancelled: DynamoDB returns an error
        without ConsumedCapacity for them, so they are missing from ``write``."""
        return sum(sum(s.failures.values()) for (op, _), s in self.by_operation.items() if op in _WRITE_OPERATIONS)

    @property
    def uncounted_write_estimate(self) -> float:
        """What AWS would still charge for the failed writes: ~1 WCU per refused single-item
        write (items under 1 KB) and ~2 WCU per item of a cancelled transaction."""
        estimate = 0.0
        for (op, _), stats in self.by_operation.items():
            if op == "TransactWriteItems":
                estimate += 2.0 * stats.cancelled_items
            elif op in _WRITE_OPERATIONS:
                estimate += float(sum(stats.failures.values()))
        return estimate

    def lines(self) -> list[str]:
        rows = []
        for (op, table), stats in sorted(self.by_operation.items(), key=lambda kv: -(kv[1].write + kv[1].read)):
            failures = ", ".join(f"{code}×{n}" for code, n in stats.failures.items())
            reported = (
                f"  (DynamoDB Local reported {stats.reported_write:,.1f} WCU)"
                if abs(stats.reported_write - stats.write) > 1e-9
                else ""
            )
            rows.append(
                f"    {op:<18} {table:<26} calls {stats.calls:>7,}  WCU {stats.write:>10,.1f}  "
                f"RCU {stats.read:>8,.1f}  Σ call time {stats.seconds:>7.1f} s"
                + (f"  failed: {failures}" if failures else "")
                + reported
            )
        return rows


def _value_size(value: Mapping[str, Any]) -> int:
    """Approximately DynamoDB's size of an attribute value (bytes)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return len(str(data).lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(data)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in data)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(len(name.encode()) + 1 + _value_size(element) for name, element in data.items())
    return 1  # BOOL, NULL


def _item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _transaction_write_units(
    api_params: Mapping[str, Any], index_keys: Mapping[str, Sequence[frozenset[str]]]
) -> dict[str, float]:
    """What DynamoDB charges for a TransactWriteItems, per table: 2 WCU per item and started KB,
    plus the same for each GSI the item is written to (a Put carrying the index's keys, an Update
    naming them). An Update's size is estimated from its key and values (the stored item is not
    known here): the items this project writes in transactions are all far below 1 KB."""
    units: dict[str, float] = {}
    for entry in api_params.get("TransactItems", []):
        ((kind, body),) = entry.items()
        table = str(body["TableName"])
        if kind == "Put":
            size, named = _item_size(body["Item"]), set(body["Item"])
        elif kind == "Update":
            names = body.get("ExpressionAttributeNames", {})
            values = body.get("ExpressionAttributeValues", {})
            size = _item_size(body["Key"]) + sum(len(n) for n in names.values())
            size += sum(_value_size(v) for v in values.values())
            named = set(body["Key"]) | set(names.values())
        else:  # Delete, ConditionCheck
            size, named = _item_size(body["Key"]), set()
        per_write = 2.0 * max(1, -(-size // 1024))
        indexes = sum(1 for keys in index_keys.get(table, ()) if keys <= named)
        units[table] = units.get(table, 0.0) + per_write * (1 + indexes)
    return units


class CapacityMeter:
    """Adds ``ReturnConsumedCapacity=TOTAL`` to every DynamoDB call of this process that accepts it
    (pynamodb's and plain boto3's alike: both go through ``BaseClient._make_api_call``) and sums
    the capacity the responses report, per operation and table, into the current bucket.

    Buckets separate what the handler consumed from what the floor or the loader did; the bench
    calls one thing at a time, so a process-wide current bucket is enough (the handler's own
    worker threads record into the bucket of the call that started them)."""

    def __init__(self, index_keys: Mapping[str, Sequence[frozenset[str]]]) -> None:
        """``index_keys``: table name → the key attributes of each of its GSIs (for the
        transaction correction, see ``_transaction_write_units``)."""
        self.index_keys = index_keys
        self._lock = threading.Lock()
        self._buckets: dict[str, dict[tuple[str, str], OperationStats]] = {}
        self._original: Callable[..., Any] | None = None
        self.bucket = "other"

    def install(self) -> None:
        original = botocore.client.BaseClient._make_api_call
        self._original = original
        meter = self

        def metered(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if client.meta.service_model.service_name != "dynamodb":
                return original(client, operation_name, api_params)
            members = client.meta.service_model.operation_model(operation_name).input_shape.members
            if "ReturnConsumedCapacity" in members:
                api_params = {**api_params, "ReturnConsumedCapacity": "TOTAL"}
            started = time.perf_counter()
            try:
                response = original(client, operation_name, api_params)
            except ClientError as error:
                meter._record(operation_name, api_params, error.response, time.perf_counter() - started, error)
                raise
            meter._record(operation_name, api_params, response, time.perf_counter() - started)
            return response

        botocore.client.BaseClient._make_api_call = metered

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.client.BaseClient._make_api_call = self._original
            self._original = None

    @contextlib.contextmanager
    def counting(self, bucket: str) -> Iterator[None]:
        """Record the calls made inside the block into ``bucket`` (added to what it holds)."""
        previous, self.bucket = self.bucket, bucket
        try:
            yield
        finally:
            self.bucket = previous

    @staticmethod
    def _tables(api_params: Mapping[str, Any]) -> str:
        if "TableName" in api_params:
            return str(api_params["TableName"])
        if "RequestItems" in api_params:
            return ",".join(sorted(api_params["RequestItems"]))
        if "TransactItems" in api_params:
            return ",".join(sorted({next(iter(i.values()))["TableName"] for i in api_params["TransactItems"]}))
        return "-"

    def units(
        self, operation: str, api_params: Mapping[str, Any], response: Mapping[str, Any], failure: ClientError | None
    ) -> tuple[float, float, float]:
        """One call's read and write units as DynamoDB charges them, and the write units DynamoDB
        Local reported (read, write, reported_write)."""
        # Batch and transaction calls answer a list (one entry per table), the others one entry.
        # A refused conditional write or a cancelled transaction answers an error without any.
        consumed = response.get("ConsumedCapacity")
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        read = write = 0.0
        written: dict[str, float] = {}
        for entry in entries:
            if "ReadCapacityUnits" in entry or "WriteCapacityUnits" in entry:
                read += float(entry.get("ReadCapacityUnits", 0.0))
                units = float(entry.get("WriteCapacityUnits", 0.0))
            elif operation in _WRITE_OPERATIONS:
                units = float(entry.get("CapacityUnits", 0.0))
            else:
                read += float(entry.get("CapacityUnits", 0.0))
                units = 0.0
            written[str(entry.get("TableName", "-"))] = written.get(str(entry.get("TableName", "-")), 0.0) + units
        reported_write = write = sum(written.values())
        if operation == "TransactWriteItems" and failure is None:
            # DynamoDB Local (3.3.1) reports, per table, the sum of the *distinct* per-item
            # capacities of a transaction: three 1 KB updates of one table report 2.0, not 6.0
            # (seen: [1 KB, 3 KB] → 8.0 = 2 + 6, [3 KB, 3 KB] → 6.0). DynamoDB charges 2 WCU per
            # item and KB, GSIs included, so transactions are recounted from their items.
            computed = _transaction_write_units(api_params, self.index_keys)
            write = sum(max(written.get(table, 0.0), units) for table, units in computed.items())
        return read, write, reported_write

    def _record(
        self,
        operation: str,
        api_params: Mapping[str, Any],
        response: Mapping[str, Any],
        seconds: float,
        failure: ClientError | None = None,
    ) -> None:
        read, write, reported_write = self.units(operation, api_params, response, failure)
        key = (operation, self._tables(api_params))
        with self._lock:
            bucket = self._buckets.setdefault(self.bucket, {})
            stats = bucket.get(key)
            if stats is None:
                stats = bucket[key] = OperationStats()
            stats.calls += 1
            stats.read += read
            stats.write += write
            stats.reported_write += reported_write
            stats.seconds += seconds
            if failure is not None:
                code = str(failure.response.get("Error", {}).get("Code", "Error"))
                stats.failures[code] = stats.failures.get(code, 0) + 1
                if operation == "TransactWriteItems":
                    stats.cancelled_items += len(api_params.get("TransactItems", []))

    def clear(self, bucket: str) -> None:
        with self._lock:
            self._buckets.pop(bucket, None)

    def snapshot(self, bucket: str) -> CapacitySnapshot:
        with self._lock:
            stats = self._buckets.get(bucket, {})
            return CapacitySnapshot(
                {key: dataclasses.replace(s, failures=dict(s.failures)) for key, s in stats.items()}
            )


# ---------------------------------------------------------------------------- reporting
@dataclass(frozen=True)
class Figure:
    name: str
    value: str
    goal: str
    met: bool | None  # None: informational, no goal


def print_table(title: str, figures: Sequence[Figure]) -> None:
    width = max(len(f.name) for f in figures)
    value_width = max(len(f.value) for f in figures)
    goal_width = max(len(f.goal) for f in figures)
    print(f"\n{title}")
    print(f"  {'figure':<{width}}  {'value':>{value_width}}  {'goal':<{goal_width}}  met")
    print(f"  {'-' * width}  {'-' * value_width}  {'-' * goal_width}  ---")
    for f in figures:
        met = "-" if f.met is None else "yes" if f.met else "NO"
        print(f"  {f.name:<{width}}  {f.value:>{value_width}}  {f.goal:<{goal_width}}  {met}")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def code_line() -> str:
    """The commit measured, and whether the product code had uncommitted changes (others may be
    editing it while a bench runs: the figures are those of the code as it was imported)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "shared", "functions", "template.yaml"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "commit unknown"
    files = [line[3:] for line in changed if line.strip()]
    return f"commit {commit}" + (f" + uncommitted changes in {', '.join(files)}" if files else "")


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
