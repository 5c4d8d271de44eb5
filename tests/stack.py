"""A running local stack for the tests: ``usage-local run`` on free ports and its own state folder."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

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

    def stop(self) -> None:
        """SIGTERM (a clean stop), then SIGKILL to the whole process group if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything of its group that is left
        self.process.wait()


def start_stack(state_dir: Path, *, fresh: bool = True, env: dict[str, str] | None = None) -> LocalStack:
    """Start ``usage-local run`` on free ports and wait until GET /v1/health answers 200."""
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
    stack = LocalStack(process=process, state_dir=state_dir, log_path=log_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            stack.info = json.loads((state_dir / "stack.json").read_text())
            if requests.get(f"{stack.url}/v1/health", timeout=5).status_code == 200:
                return stack
        time.sleep(0.2)
    stack.stop()
    pytest.fail(f"the local stack did not become healthy; its log:\n{stack.log()}")
