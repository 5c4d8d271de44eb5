"""Running the template's functions locally as Lambda does: each function gets a pool of worker
processes ("instances", see worker.py), each serving one invocation at a time; the pool grows on
demand up to a cap and keeps warm workers for the next invocations."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from usage_local.stacklog import log, pump
from usage_local.template import ACCOUNT_ID, REGION, Json, Template

# Lambda's limit on a synchronous invocation's response.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
DEFAULT_MAX_WORKERS = 8
# What a worker inherits from the stack's own environment: enough to run Python, nothing about AWS
# (and the tests' switches: license_usage.faults, the notices' outbox lease).
PASSED_THROUGH = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "SYSTEMROOT",
    "LICENSE_USAGE_FAULTS",
    "NOTICE_LEASE_SECONDS",
    "USAGE_LOCAL_FAULTS_FILE",
)
# Passed through over the template's value when the stack's environment sets one (a test runs a
# stack with a low limit); unset, the template's value applies, as on AWS.
OVERRIDE_THE_TEMPLATE = ("ORG_REQUESTS_PER_SECOND",)


@dataclass(frozen=True)
class FunctionSpec:
    """What it takes to run one function of the template."""

    logical_id: str
    physical_name: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...] = ()
    max_workers: int = DEFAULT_MAX_WORKERS

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.physical_name}"

    def process_environment(self) -> dict[str, str]:
        """The worker's whole environment: Lambda's own variables plus the function's."""
        env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        env.update(
            {
                "TZ": "UTC",
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "LAMBDA_TASK_ROOT": str(self.code_dir),
                "_HANDLER": self.handler,
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
                "AWS_LAMBDA_FUNCTION_NAME": self.physical_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.physical_name}",
            }
        )
        env.update(self.environment)
        env.update({k: os.environ[k] for k in OVERRIDE_THE_TEMPLATE if k in os.environ})
        return env


def function_specs(
    template: Template, environments: dict[str, dict[str, str]], max_workers: int = DEFAULT_MAX_WORKERS
) -> dict[str, FunctionSpec]:
    """A spec for every Python function of the template, with the given environments."""
    specs: dict[str, FunctionSpec] = {}
    layers = {
        name: template.root / str(props["ContentUri"])
        for name in template.resources("AWS::Serverless::LayerVersion")
        if isinstance((props := template.properties(name)).get("ContentUri"), str)
    }
    for name, props in template.functions().items():
        runtime = str(props.get("Runtime", ""))
        if not runtime.startswith("python") or not isinstance(props.get("CodeUri"), str):
            log("lambda", f"{name}: runtime {runtime or '?'} / CodeUri {props.get('CodeUri')!r} cannot run locally")
            continue
        layer_refs = [ref.get("Ref") if isinstance(ref, dict) else ref for ref in props.get("Layers", [])]
        reserved = props.get("ReservedConcurrentExecutions")
        specs[name] = FunctionSpec(
            logical_id=name,
            physical_name=str(template.physical_name(name)),
            code_dir=(template.root / props["CodeUri"]).resolve(),
            handler=str(props["Handler"]),
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
            environment=environments[name],
            layer_dirs=tuple(layers[r].resolve() for r in layer_refs if r in layers),
            max_workers=min(max_workers, int(reserved)) if reserved else max_workers,
        )
    return specs


@dataclass
class Invocation:
    """The outcome of one invocation: a result, or Lambda's error object."""

    result: Any = None
    error: Json | None = None
    timed_out: bool = False
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class WorkerGone(Exception):
    """The worker process ended or hung; it must not be reused."""


class Worker:
    """One worker process of a function."""

    def __init__(self, spec: FunctionSpec, log_source: str | None = None, log_to: IO[str] | None = None) -> None:
        self.spec = spec
        self.invocations = 0
        read_fd, write_fd = os.pipe()
        worker_spec = {
            "physical_name": spec.physical_name,
            "arn": spec.arn,
            "memory": spec.memory,
            "handler": spec.handler,
            "code_dir": str(spec.code_dir),
            "layer_dirs": [str(d) for d in spec.layer_dirs],
        }
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "usage_local.worker", json.dumps(worker_spec), str(write_fd)],
                cwd=spec.code_dir,
                env=spec.process_environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
            )
        finally:
            os.close(write_fd)
        self.results = os.fdopen(read_fd, "rb")
        assert self.process.stdout is not None
        self._pump = threading.Thread(
            target=pump, args=(log_source or spec.logical_id, self.process.stdout, log_to), daemon=True
        )
        self._pump.start()

    def invoke(self, event: Any, request_id: str) -> Invocation:
        started = time.monotonic()
        deadline_ms = int(time.time() * 1000) + self.spec.timeout * 1000
        request = json.dumps({"event": event, "request_id": request_id, "deadline_ms": deadline_ms})
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(request.encode() + b"\n")
            self.process.stdin.flush()
        except OSError as exc:
            raise WorkerGone(f"the worker's input is closed ({exc})") from exc
        # The first invocation of a new worker also waits for its import ("init"), as a cold start does.
        # Lambda allows 10 s for the init phase on top of the function's timeout.
        allowance = self.spec.timeout + (10 if self.invocations == 0 else 0)
        self.invocations += 1
        ready, _, _ = select.select([self.results], [], [], allowance)
        if not ready:
            self.stop()
            return Invocation(
                error={
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {self.spec.timeout:.2f} seconds",
                },
                timed_out=True,
                duration_ms=(time.monotonic() - started) * 1000,
            )
        line = self.results.readline()
        if not line:
            code = self.process.wait()
            raise WorkerGone(f"Runtime exited with error: exit status {code}")
        duration_ms = (time.monotonic() - started) * 1000
        if len(line) > MAX_RESPONSE_BYTES:
            return Invocation(
                error={
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": f"Response payload size ({len(line)} bytes) exceeded maximum allowed "
                    f"payload size ({MAX_RESPONSE_BYTES} bytes).",
                },
                duration_ms=duration_ms,
            )
        answer = json.loads(line)
        if answer["ok"]:
            return Invocation(result=answer["result"], duration_ms=duration_ms)
        return Invocation(error=answer["error"], duration_ms=duration_ms)

    def alive(self) -> bool:
        return self.process.poll() is None

    def request_stop(self) -> None:
        """Close the worker's input, its signal to finish, without waiting."""
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()

    def stop(self, timeout: float = 3) -> None:
        if self.process.poll() is None:
            self.request_stop()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.results.close()
        self._pump.join(timeout)  # its last log lines are written before the caller goes on


class FunctionPool:
    """The warm workers of one function; at most ``spec.max_workers`` of them, busy or idle."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._idle: list[Worker] = []
        self._count = 0
        self._closed = False
        self._changed = threading.Condition()

    def _acquire(self) -> Worker:
        with self._changed:
            while True:
                if self._closed:
                    raise WorkerGone("the stack is stopping")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.spec.max_workers:
                    self._count += 1
                    break
                self._changed.wait()
        try:
            return Worker(self.spec)
        except BaseException:
            self._forget()
            raise

    def _forget(self) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify()

    def _release(self, worker: Worker) -> None:
        with self._changed:
            if self._closed or not worker.alive():
                self._count -= 1
                self._changed.notify()
                worker.stop(0)
                return
            self._idle.append(worker)
            self._changed.notify()

    def prewarm(self) -> None:
        """Start one worker now, so its import runs before the first request needs it."""
        with self._changed:
            if self._count or self._closed:
                return
            self._count += 1
        try:
            self._release(Worker(self.spec))
        except BaseException:
            self._forget()
            raise

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        request_id = request_id or str(uuid.uuid4())
        worker = self._acquire()
        try:
            return worker.invoke(event, request_id)
        except WorkerGone as exc:
            worker.stop(0)
            return Invocation(
                error={"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} {exc}"}
            )
        finally:
            self._release(worker)

    def close(self) -> list[Worker]:
        """Stop handing out workers; ask the idle ones to finish and return them (to wait for)."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._changed.notify_all()
        for worker in idle:
            worker.request_stop()
        return idle


@dataclass
class LambdaService:
    """Every function's pool, by logical id."""

    specs: dict[str, FunctionSpec]
    pools: dict[str, FunctionPool] = field(init=False)

    def __post_init__(self) -> None:
        self.pools = {name: FunctionPool(spec) for name, spec in self.specs.items()}

    def invoke(self, function: str, event: Any, request_id: str | None = None) -> Invocation:
        return self.pools[function].invoke(event, request_id)

    def prewarm(self, functions: list[str], on_error: Callable[[str, BaseException], None] | None = None) -> None:
        for name in functions:
            try:
                self.pools[name].prewarm()
            except OSError as exc:
                if on_error:
                    on_error(name, exc)

    def close(self) -> None:
        # Every worker is asked first, then awaited: they finish in parallel.
        stopping = [worker for pool in self.pools.values() for worker in pool.close()]
        for worker in stopping:
            worker.stop()
