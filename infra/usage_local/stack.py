"""The running local stack: its settings (ports, state folder), the Lambda environment each function
gets locally, ``<state>/stack.json`` (what other commands and the tests read to use a running
stack), and starting and stopping everything in order."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from usage_local import tokens
from usage_local.gateway import Gateway
from usage_local.lambda_runtime import DEFAULT_MAX_WORKERS, LambdaService, function_specs
from usage_local.queues import QueuePoller
from usage_local.resources import create_resources
from usage_local.scheduler import Scheduler, event_for
from usage_local.stacklog import log
from usage_local.standins import DynamoDBLocal, MotoServer, ensure_port_free, wait_until_answering
from usage_local.template import REGION, Json, Schedule, Template

STACK_FILE = "stack.json"
DYNAMODB_DATA = "dynamodb"


class StackNotRunning(Exception):
    """No local stack is running for this state folder."""


@dataclass(frozen=True)
class StackConfig:
    repo_root: Path
    state_dir: Path
    api_port: int = 3000
    aws_port: int = 5000
    dynamodb_port: int = 8000
    max_workers: int = DEFAULT_MAX_WORKERS
    auth_port: int = 0  # the JWKS endpoint's; 0 = any free port (only the handlers need to know it)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def dynamodb_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.dynamodb_port}"


def local_overrides(config: StackConfig, jwks_url: str) -> dict[str, str]:
    """What differs from AWS locally: the token issuer, fake credentials, and the stand-ins'
    endpoints through botocore's standard AWS_ENDPOINT_URL_<SERVICE> variables, so the product code
    needs no local special case."""
    return {
        "JWKS_URL": jwks_url,
        "JWT_ISSUER": tokens.ISSUER,
        "JWT_AUDIENCE": tokens.AUDIENCE,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_ENDPOINT_URL_DYNAMODB": config.dynamodb_endpoint,
        "AWS_ENDPOINT_URL_S3": config.aws_endpoint,
        "AWS_ENDPOINT_URL_SNS": config.aws_endpoint,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": config.aws_endpoint,
        "AWS_ENDPOINT_URL_SQS": config.aws_endpoint,
        # A developer's ~/.aws settings must not redirect or re-credential the handlers.
        "AWS_CONFIG_FILE": str(config.state_dir / "aws-config-none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(config.state_dir / "aws-credentials-none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "CURSOR_SIGNING_KEY": cursor_signing_key(config.state_dir),
    }


def cursor_signing_key(state_dir: Path) -> str:
    """The stack's own cursor key (template parameter ``CursorSigningKey``), kept with its state so
    that cursors stay valid across a restart and ``usage-local invoke`` signs alike."""
    path = state_dir / "auth" / "cursor-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def base_environment(template: Template, config: StackConfig, jwks_url: str) -> dict[str, str]:
    """Globals.Function.Environment.Variables, resolved, plus the local overrides."""
    variables = ((template.body.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    resolved = template.resolve(variables.get("Variables") or {})
    return {**{k: str(v) for k, v in resolved.items()}, **local_overrides(config, jwks_url)}


def function_environments(template: Template, config: StackConfig, jwks_url: str) -> dict[str, dict[str, str]]:
    overrides = local_overrides(config, jwks_url)
    return {name: {**template.function_environment(name), **overrides} for name in template.functions()}


def stack_file(state_dir: Path) -> Path:
    return state_dir / STACK_FILE


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_stack_info(state_dir: Path) -> Json:
    """stack.json of the stack running on ``state_dir``; StackNotRunning if there is none."""
    path = stack_file(state_dir)
    try:
        info: Json = json.loads(path.read_text())
    except (OSError, ValueError):
        raise StackNotRunning(
            f"No local stack is running on {state_dir} (no {STACK_FILE}): start it with `make run`."
        ) from None
    if not _pid_alive(int(info.get("pid", 0))):
        raise StackNotRunning(
            f"The local stack that wrote {path} (pid {info.get('pid')}) is gone: start it with `make run`."
        )
    return info


class LocalStack:
    """Everything `usage-local run` starts, in order, and stops in reverse order."""

    def __init__(self, config: StackConfig, template_path: Path) -> None:
        self.config = config
        self.template_path = template_path
        self.template = Template(template_path, {})  # loaded in start(), while the stand-ins boot
        self.dynamodb: DynamoDBLocal | None = None
        self.moto: MotoServer | None = None
        self.lambdas: LambdaService | None = None
        self.gateway: Gateway | None = None
        self.scheduler: Scheduler | None = None
        self.pollers: list[QueuePoller] = []
        self.jwks: tokens.JwksServer | None = None
        self.jwks_url = ""

    def start(self, fresh: bool = False) -> None:
        config = self.config
        state = config.state_dir
        state.mkdir(parents=True, exist_ok=True)
        stack_file(state).unlink(missing_ok=True)
        if fresh and (state / DYNAMODB_DATA).exists():
            log("usage-local", f"--fresh: deleting the local tables' data in {state / DYNAMODB_DATA}")
            shutil.rmtree(state / DYNAMODB_DATA)
        ensure_port_free(config.api_port, "the API", "API_PORT or --api-port")
        ensure_port_free(config.aws_port, "moto", "AWS_PORT or --aws-port")
        ensure_port_free(config.dynamodb_port, "DynamoDB Local", "DYNAMODB_PORT or --dynamodb-port")
        self.dynamodb = DynamoDBLocal(config.repo_root, config.dynamodb_port, state / DYNAMODB_DATA)
        self.moto = MotoServer(config.aws_port)
        # Both are started before this process starts any thread (their preexec_fn needs that).
        self.dynamodb.start()
        self.moto.start()
        self.dynamodb.follow_output()
        self.moto.follow_output()
        self.template = Template.load(self.template_path)
        tokens.ensure_keys(state)
        self.jwks = tokens.JwksServer(state, config.auth_port)
        self.jwks.start()
        self.jwks_url = self.jwks.url
        wait_until_answering([(self.dynamodb, config.dynamodb_port, "/"), (self.moto, config.aws_port, "/moto-api/")])
        create_resources(self.template, config.dynamodb_endpoint, config.aws_endpoint)
        specs = function_specs(
            self.template, function_environments(self.template, config, self.jwks_url), config.max_workers
        )
        self.lambdas = LambdaService(specs)
        web = config.repo_root / "web"
        self.gateway = Gateway(
            self.template, self.lambdas, port=config.api_port, static_dir=web if web.is_dir() else None
        )
        self.gateway.start()
        # Start one worker per served function now: their imports overlap the first requests' wait.
        served = list(
            dict.fromkeys(
                [r.route.function for r in self.gateway.routes]
                + [r.authorizer.function for r in self.gateway.routes if r.authorizer]
            )
        )
        threading.Thread(target=self.lambdas.prewarm, args=(served,), daemon=True).start()
        schedules = [s for s in self.template.schedules() if s.function in specs]
        self.scheduler = Scheduler(schedules, self._fire)
        self.scheduler.start()
        lambdas = self.lambdas
        self.pollers = [
            QueuePoller(source, config.aws_endpoint, lambdas.invoke)
            for source in self.template.queue_sources()
            if source.enabled and source.function in specs
        ]
        for poller in self.pollers:
            poller.start()
        self._write_stack_file()

    def _fire(self, schedule: Schedule, at: datetime) -> None:
        assert self.lambdas is not None
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        log("scheduler", f"firing {schedule.function}.{schedule.event} for {stamp}")
        invocation = self.lambdas.invoke(schedule.function, event_for(schedule, at))
        outcome = "ok" if invocation.ok else f"failed: {invocation.error}"
        log("scheduler", f"{schedule.function} for {stamp}: {outcome} ({invocation.duration_ms:.0f} ms)")

    def info(self) -> Json:
        config = self.config
        return {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "repo_root": str(config.repo_root),
            "template": str(self.template.path),
            "state_dir": str(config.state_dir.resolve()),
            "api_url": config.api_url,
            "ports": {"api": config.api_port, "aws": config.aws_port, "dynamodb": config.dynamodb_port},
            "jwks_url": self.jwks_url,
            "endpoints": {"aws": config.aws_endpoint, "dynamodb": config.dynamodb_endpoint},
            "env": base_environment(self.template, config, self.jwks_url),
            "functions": {
                name: {"environment": env}
                for name, env in function_environments(self.template, config, self.jwks_url).items()
            },
            "resources": {
                name: {"type": resource["Type"], "name": self._physical_name(name)}
                for name, resource in self.template.all_resources.items()
            },
        }

    def _physical_name(self, logical_id: str) -> Any:
        try:
            return self.template.physical_name(logical_id)
        except Exception:  # a resource the local stack does not name: still listed
            return None

    def _write_stack_file(self) -> None:
        path = stack_file(self.config.state_dir)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.info(), indent=2))
        temporary.replace(path)

    def stop(self) -> None:
        """Stop everything started, newest first; safe to call more than once."""
        with contextlib.suppress(OSError):
            info = json.loads(stack_file(self.config.state_dir).read_text())
            if info.get("pid") == os.getpid():
                stack_file(self.config.state_dir).unlink()
        if self.scheduler:
            self.scheduler.stop()
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self.gateway:
            self.gateway.stop()
        children = [c for c in (self.moto, self.dynamodb) if c]
        for child in children:
            child.request_stop()  # all at once: each takes a moment to exit
        if self.lambdas:
            self.lambdas.close()
        for child in children:
            child.stop()
        if self.jwks:
            self.jwks.stop()
        self.scheduler = self.gateway = self.lambdas = self.moto = self.dynamodb = self.jwks = None
