"""A running local stack for the tests: ``usage-local run`` on free ports and its own state folder;
``empty()`` gives it empty tables again without a restart (its processes and warm workers stay)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from usage_local.faults import CONTROL_FILE_VARIABLE, write_settings
from usage_local.resources import create_table
from usage_local.template import Template
from usage_local.tokens import issue_token

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LocalStack:
    """A running ``usage-local run`` and what tests need to reach it."""

    process: subprocess.Popen[bytes]
    state_dir: Path
    log_path: Path
    info: dict[str, Any] = field(default_factory=dict)
    # The fault-control file its workers read (usage_local/faults.py), when started with one.
    fault_control: Path | None = None

    @property
    def url(self) -> str:
        """The API's base URL, e.g. http://127.0.0.1:3000."""
        url: str = self.info["api_url"]
        return url

    @property
    def env(self) -> dict[str, str]:
        """The environment the template gives every function, resolved locally (from stack.json)."""
        env: dict[str, str] = self.info["env"]
        return env

    def function_env(self, function: str) -> dict[str, str]:
        """One function's whole Lambda environment (Globals merged with its own variables)."""
        env: dict[str, str] = self.info["functions"][function]["environment"]
        return env

    def token(self, role: str, org_id: str | None = None, subject: str | None = None) -> str:
        """A bearer token this stack accepts."""
        return issue_token(self.state_dir, role, org_id, subject)

    def client(self, service: str) -> Any:
        """A boto3 client for a stand-in: dynamodb, s3, sns, events or sqs."""
        endpoints = self.info["endpoints"]
        return boto3.client(
            service,
            endpoint_url=endpoints["dynamodb"] if service == "dynamodb" else endpoints["aws"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def set_faults(self, rate: float = 0.0, seed: int | None = None, points: tuple[str, ...] = ()) -> None:
        """Write the fault-control file: AWS calls failing at ``rate``, and the product's fault
        ``points`` (license_usage.faults) on, for every invocation from now on. The workers read it
        again when its mtime changes: on a coarse clock two writes can share one, so the new
        file's is set past the old one's."""
        assert self.fault_control is not None, "this stack was started without a fault-control file"
        path = self.fault_control
        before = path.stat().st_mtime_ns if path.exists() else 0
        write_settings(path, rate, seed=seed, points=points)
        if path.stat().st_mtime_ns <= before:
            os.utime(path, ns=(before + 1_000_000, before + 1_000_000))

    @contextlib.contextmanager
    def fault_points(self, *points: str) -> Iterator[None]:
        """The product's fault points on within the block (no AWS faults), off after it."""
        self.set_faults(points=points)
        try:
            yield
        finally:
            self.set_faults()

    def empty(self) -> None:
        """Every table of the template deleted and created again, empty, as ``--fresh`` starts
        them; faults off. Its processes, warm workers, buckets and queues stay as they are. The
        daily rollup and the notifications run visit every organization of the stack, so a test
        module that starts on an empty stack pays for its own organizations only."""
        if self.fault_control is not None:
            self.fault_control.unlink(missing_ok=True)
        client = self.client("dynamodb")
        template = Template.load(ROOT / "template.yaml")
        tables = template.resources("AWS::DynamoDB::Table")
        for logical_id in tables:
            with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                client.delete_table(TableName=template.physical_name(logical_id))
        for logical_id in tables:
            name = template.physical_name(logical_id)
            client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1})
            create_table(client, template, logical_id)

    def stop(self, grace: float = 30) -> None:
        """SIGTERM (a clean stop, waited for ``grace`` seconds), then SIGKILL to the whole
        process group if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything of its group that is left
        self.process.wait()


def start_stack(
    state_dir: Path, *, fresh: bool = True, env: dict[str, str] | None = None, fault_control: Path | None = None
) -> LocalStack:
    """Start ``usage-local run`` on free ports and wait until GET /v1/health answers 200
    (``fault_control``: the fault-control file its workers read; absent, no faults)."""
    if fault_control is not None:
        env = {**(env or {}), CONTROL_FILE_VARIABLE: str(fault_control)}
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir.parent / f"{state_dir.name}-{time.monotonic_ns()}.log"
    command = [sys.executable, "-m", "usage_local", "run", "--state-dir", str(state_dir), "--stop-with-parent"]
    command += ["--api-port", str(free_port()), "--aws-port", str(free_port())]
    command += ["--dynamodb-port", str(free_port())] + (["--fresh"] if fresh else [])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    stack = LocalStack(process=process, state_dir=state_dir, log_path=log_path, fault_control=fault_control)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            stack.info = json.loads((state_dir / "stack.json").read_text())
            if requests.get(f"{stack.url}/v1/health", timeout=5).status_code == 200:
                return stack
        time.sleep(0.2)
    stack.stop()
    pytest.fail(f"the local stack did not become healthy; its log:\n{stack.log()}")
