"""The ``usage-local`` command: ``run`` the local stack, print a ``token`` or a ``dashboard``
sign-in link, ``invoke`` a scheduled function once against the running stack, load ``demo`` data,
write the ``openapi`` document, and switch injected ``faults`` on or off (tests, usage_local/faults.py)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from usage_local import tokens
from usage_local.lambda_runtime import DEFAULT_MAX_WORKERS, Invocation, Worker, function_specs
from usage_local.scheduler import event_for, rule_arn, scheduled_event
from usage_local.stack import LocalStack, StackConfig, StackNotRunning, read_stack_info
from usage_local.stacklog import log
from usage_local.standins import StandInError
from usage_local.template import STACK_NAME, Json, Schedule, Template, TemplateError, find_repo_root


def _port(variable: str, default: int) -> int:
    value = os.environ.get(variable)
    return int(value) if value else default


def _state_dir(args: argparse.Namespace, repo_root: Path) -> Path:
    return (Path(args.state_dir) if args.state_dir else repo_root / ".local").resolve()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="usage-local", description="The local stack of the usage service.")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_state(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--state-dir", help="where the stack keeps its data (default: <repo>/.local)")
        return sub

    run = with_state(commands.add_parser("run", help="start the local stack in the foreground"))
    run.add_argument("--fresh", action="store_true", help="start with empty tables")
    run.add_argument("--api-port", type=int, default=_port("API_PORT", 3000))
    run.add_argument("--aws-port", type=int, default=_port("AWS_PORT", 5000))
    run.add_argument("--dynamodb-port", type=int, default=_port("DYNAMODB_PORT", 8000))
    run.add_argument(
        "--max-workers",
        type=int,
        default=_port("LAMBDA_MAX_WORKERS", DEFAULT_MAX_WORKERS),
        help="concurrent instances per function (default %(default)s)",
    )
    run.add_argument(
        "--stop-with-parent", action="store_true", help="stop when the process that started this one ends (tests)"
    )

    token = with_state(commands.add_parser("token", help="print a bearer token the local stack accepts"))
    token.add_argument("--role", required=True, choices=tokens.ROLES)
    token.add_argument("--org", help="the organization (needed for org_admin and reporter)")
    token.add_argument("--subject", help="the token's sub (default: a made-up user)")
    token.add_argument("--ttl", type=int, default=tokens.DEFAULT_TTL_SECONDS, help="lifetime in seconds")

    invoke = with_state(commands.add_parser("invoke", help="run a scheduled function once against the stack"))
    invoke.add_argument("function", help="its logical id in template.yaml, e.g. DailyRollupFunction")
    invoke.add_argument("--time", required=True, help="the event's time, e.g. 2026-03-01T00:15:00Z")

    dashboard = with_state(commands.add_parser("dashboard", help="print a sign-in link to the dashboard"))
    dashboard.add_argument("--role", required=True, choices=tokens.ROLES)
    dashboard.add_argument("--org", help="the organization (needed for org_admin and reporter)")

    demo = with_state(commands.add_parser("demo", help="load demo data into the running stack"))
    demo.add_argument("--small", action="store_true", help="a quarter of the users (the browser tests use it)")
    faults = commands.add_parser(
        "faults", help="switch injected AWS faults on or off in a stack started with USAGE_LOCAL_FAULTS_FILE"
    )
    switch = faults.add_mutually_exclusive_group(required=True)
    switch.add_argument("--rate", type=float, help="the share of DynamoDB, S3, SNS and EventBridge calls to fail")
    switch.add_argument("--off", action="store_true", help="no more faults")
    faults.add_argument("--file", type=Path, help="the control file (default: $USAGE_LOCAL_FAULTS_FILE)")
    faults.add_argument("--seed", type=int, help="make the choice of calls repeatable")
    openapi = commands.add_parser("openapi", help="write the API's OpenAPI document (from the code)")
    openapi.add_argument("--output", type=Path, help="file to write (default: standard output)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        repo_root = find_repo_root()
        if args.command == "run":
            return run(args, repo_root)
        if args.command == "token":
            return token(args, repo_root)
        if args.command == "invoke":
            return invoke(args, repo_root)
        if args.command == "openapi":
            return openapi(args, repo_root)
        if args.command == "dashboard":
            return dashboard(args, repo_root)
        if args.command == "faults":
            return faults(args)
        from usage_local.demo import DemoFailed, run_demo

        try:
            return run_demo(_state_dir(args, repo_root), small=args.small)
        except DemoFailed as exc:
            print(f"usage-local demo: {exc}. Nothing is lost: run it again to finish.", file=sys.stderr)
            return 1
    except (TemplateError, StandInError, StackNotRunning, ValueError) as exc:
        print(f"usage-local {args.command}: {exc}", file=sys.stderr)
        return 1


def openapi(args: argparse.Namespace, repo_root: Path) -> int:
    from usage_local.openapi import openapi_text

    text = openapi_text(repo_root)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def faults(args: argparse.Namespace) -> int:
    from usage_local.faults import CONTROL_FILE_VARIABLE, write_settings

    path = args.file or (Path(os.environ[CONTROL_FILE_VARIABLE]) if os.environ.get(CONTROL_FILE_VARIABLE) else None)
    if path is None:
        print(f"usage-local faults: give --file or set {CONTROL_FILE_VARIABLE} (as for `run`).", file=sys.stderr)
        return 2
    if args.rate is not None and not 0 <= args.rate <= 1:
        print("usage-local faults: --rate is a share between 0 and 1.", file=sys.stderr)
        return 2
    write_settings(path, 0.0 if args.off else args.rate, seed=args.seed)
    print(f"faults {'off' if args.off else f'on at {args.rate:.0%}'} ({path}; injected ones: {path}.log)")
    return 0


def sign_in_link(api_url: str, token: str) -> str:
    """The dashboard, signed in: the token rides in the fragment, which no request line carries."""
    return f"{api_url}/#token={token}"


def dashboard(args: argparse.Namespace, repo_root: Path) -> int:
    state = _state_dir(args, repo_root)
    try:
        url = str(read_stack_info(state)["api_url"])
    except StackNotRunning:
        url = f"http://127.0.0.1:{_port('API_PORT', 3000)}"
        print(f"(no stack is running on {state}: the link assumes {url})", file=sys.stderr)
    if args.role in ("org_admin", "reporter") and not args.org:
        print("usage-local dashboard: --org is needed for org_admin and reporter.", file=sys.stderr)
        return 2
    print(sign_in_link(url, tokens.issue_token(state, args.role, args.org)))
    return 0


def token(args: argparse.Namespace, repo_root: Path) -> int:
    print(tokens.issue_token(_state_dir(args, repo_root), args.role, args.org, args.subject, args.ttl))
    return 0


def run(args: argparse.Namespace, repo_root: Path) -> int:
    config = StackConfig(
        repo_root=repo_root,
        state_dir=_state_dir(args, repo_root),
        api_port=args.api_port,
        aws_port=args.aws_port,
        dynamodb_port=args.dynamodb_port,
        max_workers=args.max_workers,
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    parent = os.getppid()
    stack = LocalStack(config, repo_root / "template.yaml")
    try:
        stack.start(fresh=args.fresh)
        if args.stop_with_parent:
            threading.Thread(target=_watch_parent, args=(parent, stop), daemon=True).start()
        _print_banner(config)
        stop.wait()
        log("usage-local", "stopping")
    finally:
        stack.stop()
    return 0


def _watch_parent(parent: int, stop: threading.Event) -> None:
    # An orphan is re-parented (to init or a subreaper), so a changed parent id means the parent died.
    while not stop.wait(1):
        if os.getppid() != parent:
            log("usage-local", f"parent process {parent} ended: stopping")
            stop.set()


def _print_banner(config: StackConfig) -> None:
    vendor = tokens.issue_token(config.state_dir, "vendor_admin", subject="local-vendor-admin")
    url = config.api_url
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = json.dumps(
        {"events": [{"id": "e1", "type": "user.login", "timestamp": now, "user_id": "u1", "product": "learn"}]}
    )
    print(
        f"""
Local stack running (Ctrl-C stops it).
  API            {url}
  DynamoDB Local {config.dynamodb_endpoint}    moto (S3, SNS, EventBridge) {config.aws_endpoint}
  state          {config.state_dir}

Dashboard (signed in as vendor_admin, 12 h): {sign_in_link(url, vendor)}
  others: .venv/bin/usage-local dashboard --role org_admin --org acme
  demo data: .venv/bin/usage-local demo

A vendor_admin token (12 h); others: .venv/bin/usage-local token --role org_admin --org acme
  export TOKEN={vendor}

Try:
  curl -s {url}/v1/health
  curl -s -X POST -H "Authorization: Bearer $TOKEN" {url}/v1/orgs/acme/api-keys
  export API_KEY=<the api_key it answered>
  curl -s -X POST -H "x-api-key: $API_KEY" -H 'Content-Type: application/json' \\
       -d '{event}' {url}/v1/events
""",
        flush=True,
    )


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--time {text!r} is not an ISO 8601 time such as 2026-03-01T00:15:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def invoke_scheduled(repo_root: Path, state_dir: Path, function: str, at: datetime, quiet: bool = False) -> Invocation:
    """Run one scheduled function of the template once against the running stack, with the
    EventBridge event its schedule sends at ``at``. Raises ValueError when it cannot."""
    template = Template.load(repo_root / "template.yaml")
    functions = template.functions()
    if function not in functions:
        names = ", ".join(functions) or "none"
        raise ValueError(f"template.yaml has no function {function!r} (it has: {names}).")
    info = read_stack_info(state_dir)
    environments = {name: f["environment"] for name, f in info["functions"].items()}
    if function not in environments:
        raise ValueError(f"the running stack predates {function} in template.yaml: restart it.")
    specs = function_specs(template, {n: environments.get(n, {}) for n in functions})
    worker = Worker(specs[function], log_to=open(os.devnull, "w") if quiet else sys.stderr)  # noqa: SIM115
    try:
        return worker.invoke(scheduled_run_event(template, function, at), f"local-invoke-{at:%Y%m%dT%H%M%S}")
    finally:
        worker.stop()


def scheduled_run_event(template: Template, function: str, at: datetime) -> Json:
    """The EventBridge event the function's (first) schedule sends at ``at``; for a function
    without one, the event a manual rule would send."""
    schedules = [s for s in template.schedules() if s.function == function]
    if schedules:
        event: Json = event_for(schedules[0], at)
        return event
    manual = Schedule(function, "Manual", "", None, True, None, f"{STACK_NAME}-{function}-manual")
    return scheduled_event(rule_arn(manual), at)


def invoke(args: argparse.Namespace, repo_root: Path) -> int:
    at = _parse_time(args.time)
    try:
        invocation = invoke_scheduled(repo_root, _state_dir(args, repo_root), args.function, at)
    except ValueError as error:
        print(f"usage-local invoke: {error}", file=sys.stderr)
        return 2
    if not invocation.ok:
        print(f"usage-local invoke: {args.function} failed: {json.dumps(invocation.error)}", file=sys.stderr)
        return 1
    print(json.dumps(invocation.result, indent=2))
    return 0
