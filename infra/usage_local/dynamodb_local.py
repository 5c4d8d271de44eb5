"""A DynamoDB Local of one's own, with template.yaml's tables, outside any local stack: what the
store tests (tests/store) and the benches (bench/) run the store against, in their own process.
``local_dynamodb(label)`` starts it on a free port with its data in a temporary folder (``-sharedDb``,
as the local stack runs it), creates the tables exactly as the template defines them (keys, GSIs,
billing, TTL) and stops it after; ``lambda_environment(port)`` is the Lambda environment the
template gives a function, pointed at it."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config

from usage_local.resources import table_definition
from usage_local.stack import StackConfig, function_environments
from usage_local.standins import DynamoDBLocal, wait_until_answering
from usage_local.template import REGION, Template, find_repo_root

TABLES = ("EventsTable", "LicensingTable")
# The checkout this module belongs to (its template.yaml and its DynamoDB Local install).
REPO_ROOT = find_repo_root(Path(__file__).resolve().parent)
# A URL nothing listens on: what runs against this DynamoDB Local never fetches the JWKS.
DUMMY_JWKS_URL = "http://127.0.0.1:9/.well-known/jwks.json"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def drain(stream: IO[bytes], log_path: Path) -> None:
    """Copy a child's output to ``log_path`` until it ends: a full pipe nobody reads would stall
    the child."""
    with log_path.open("wb") as log:
        for line in iter(stream.readline, b""):
            log.write(line)
    stream.close()


@dataclass
class LocalDynamoDB:
    """A running DynamoDB Local with the template's tables; ``names`` maps logical id → table name."""

    endpoint: str
    port: int
    data_dir: Path
    names: dict[str, str]
    template: Template

    @property
    def index_keys(self) -> dict[str, list[frozenset[str]]]:
        """Table name → the key attributes of each of its GSIs, from the template."""
        keys: dict[str, list[frozenset[str]]] = {}
        for logical_id in TABLES:
            request = table_definition(self.template, logical_id)
            keys[request["TableName"]] = [
                frozenset(k["AttributeName"] for k in index["KeySchema"])
                for index in request.get("GlobalSecondaryIndexes", [])
            ]
        return keys

    def client(self, pool: int = 10) -> Any:
        """A plain boto3 client (fake credentials: DynamoDB Local does not check them)."""
        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 -- DynamoDB Local checks no credentials
            config=Config(max_pool_connections=pool, retries={"max_attempts": 10, "mode": "standard"}),
        )


@contextlib.contextmanager
def local_dynamodb(label: str, parent: Path | None = None) -> Iterator[LocalDynamoDB]:
    """Start a DynamoDB Local of one's own (own port, temporary data folder on disk, ``-sharedDb``
    as the local stack runs it), create the template's tables, and stop it after. ``parent``:
    where the temporary data folder goes (default: the system's temporary folder)."""
    template = Template.load(REPO_ROOT / "template.yaml")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"dynamodb-{label}-", dir=parent))
    process = DynamoDBLocal(REPO_ROOT, port, workdir / "dynamodb")
    process.start()
    try:
        assert process.process is not None
        assert process.process.stdout is not None
        threading.Thread(target=drain, args=(process.process.stdout, workdir / "dynamodb.log"), daemon=True).start()
        wait_until_answering([(process, port, "/")])
        local = LocalDynamoDB(
            endpoint=process.endpoint,
            port=port,
            data_dir=workdir,
            names={logical_id: str(template.physical_name(logical_id)) for logical_id in TABLES},
            template=template,
        )
        create_tables(local)
        yield local
    finally:
        process.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def create_tables(local: LocalDynamoDB) -> None:
    """The tables exactly as template.yaml defines them (keys, GSIs, billing, TTL)."""
    client = local.client()
    for logical_id in TABLES:
        request = table_definition(local.template, logical_id)
        client.create_table(**request)
        client.get_waiter("table_exists").wait(TableName=request["TableName"], WaiterConfig={"Delay": 0.2})
        ttl = local.template.resolve(local.template.properties(logical_id)).get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            client.update_time_to_live(
                TableName=request["TableName"],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )


def lambda_environment(local_port: int, function: str = "IngestFunction") -> dict[str, str]:
    """What the template gives the function (table names, Powertools settings…), with the local
    stack's overrides (endpoint, region, fake credentials) and quieter logs (no EMF lines)."""
    template = Template.load(REPO_ROOT / "template.yaml")
    config = StackConfig(repo_root=REPO_ROOT, state_dir=Path(tempfile.gettempdir()), dynamodb_port=local_port)
    environment = dict(function_environments(template, config, DUMMY_JWKS_URL)[function])
    environment.update(
        {
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "JWKS_URL": DUMMY_JWKS_URL,
            "JWT_ISSUER": "https://issuer.bench.invalid",
            # No ~/.aws files of the machine may change what the handlers do.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return environment
