"""Load bench (``python -m bench.load --rate 40``): the whole local stack under a fixed request rate.

It starts its own local stack (``usage-local run`` on free ports, a temporary state folder, empty
tables), seeds ``--orgs`` organizations through the public API (an API key, a soft seats plan on
``learn`` and a mau plan on ``observe`` each, a few thousand events, a daily rollup), warms every
function's pool of workers, then runs locust headless in a second process (bench/locustfile.py)
for ``--duration`` seconds with ``--users`` concurrent keep-alive connections at ``--rate``
requests per second in total (``constant_throughput`` per user), spread evenly over the
organizations:

    40 %  POST /v1/events, batches of 10–100 events (logins with session_id/ip/group, AI actions,
          feature use, a few lifecycle events; ids unique), API key
    20 %  PUT  /v1/orgs/{org}/seats/{user}?product=learn, API key
    10 %  each of GET .../plans/{plan}/usage, .../plans/{plan}/users, .../plans/{plan}/activity and
          .../reports/license-ai-usage?timeframe=this_month, org_admin bearer token

It parses locust's CSV and prints p50/p95/p99, throughput and errors per route, connection errors
apart, and the CPU seconds each part of the stack used. Several rates (``--rate 40,60,80``) run one
after the other against the same stack. It exits 1 if any request failed (a 5xx, a connection
error, or any other unexpected answer), naming which. It asserts nothing about time.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import requests

from bench.harness import REPO_ROOT, code_line, free_port, machine_line
from bench.ingest import batches, generate_events
from usage_local.cli import invoke_scheduled
from usage_local.tokens import issue_token

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PER_ORG_LIMIT = 200  # requests/s: the per-organization rate limit; the load stays below it
START_TIMEOUT_SECONDS = 120
BATCH_SIZES = (10, 100)  # as bench/locustfile.py sends them
KEPT_UP = 0.95  # achieved ÷ asked rate at which a run counts as sustained
SEED_EVENTS_PER_ORG = 1_000
USERS_PER_ORG = 2_000
ROUTES = (
    "POST /v1/events",
    "PUT /v1/orgs/{org}/seats/{user}",
    "GET /v1/orgs/{org}/plans/{plan}/usage",
    "GET /v1/orgs/{org}/plans/{plan}/users",
    "GET /v1/orgs/{org}/reports/license-ai-usage",
    "GET /v1/orgs/{org}/plans/{plan}/activity",
)


# ---------------------------------------------------------------------------- the stack
@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    state_dir: Path
    log_path: Path
    url: str = ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only what it started
        self.process.wait()


@contextlib.contextmanager
def local_stack(workdir: Path) -> Iterator[Stack]:
    """``usage-local run --fresh`` on free ports with its own state folder, until healthy."""
    state_dir = workdir / "state"
    state_dir.mkdir(parents=True)
    log_path = workdir / "stack.log"
    command = [sys.executable, "-m", "usage_local", "run", "--state-dir", str(state_dir), "--stop-with-parent"]
    command += ["--api-port", str(free_port()), "--aws-port", str(free_port())]
    command += ["--dynamodb-port", str(free_port()), "--fresh"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack = Stack(process, state_dir, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not stack.url:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the local stack did not become healthy; its log ends:\n{tail}")
            with contextlib.suppress(OSError, ValueError, KeyError, requests.RequestException):
                url = json.loads((state_dir / "stack.json").read_text())["api_url"]
                if requests.get(f"{url}/v1/health", timeout=5).status_code == 200:
                    stack.url = url
            time.sleep(0.3)
        yield stack
    except (Exception, KeyboardInterrupt):
        # The caller's workdir is removed after a run: keep the log of a failed one.
        saved = Path(tempfile.gettempdir()) / f"{workdir.name}-stack.log"
        with contextlib.suppress(OSError):
            shutil.copy(log_path, saved)
            print(f"the local stack's log: {saved}", file=sys.stderr)
        raise
    finally:
        stack.stop()


def stack_parts(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack: the gateway process, DynamoDB Local, moto
    and each function's workers (workers that ended are missing: their seconds are lost)."""
    parts: dict[str, float] = {}
    try:
        root = psutil.Process(stack.process.pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return parts
    for process in processes:
        try:
            cmdline = process.cmdline()
            times = process.cpu_times()
        except psutil.Error:
            continue
        seconds = times.user + times.system
        if process.pid == root.pid:
            name = "gateway + stack (threads)"
        elif any("DynamoDBLocal" in part for part in cmdline):
            name = "DynamoDB Local (Java)"
        elif "usage_local.worker" in cmdline:
            try:
                name = "λ " + json.loads(cmdline[cmdline.index("usage_local.worker") + 1])["physical_name"]
            except (IndexError, ValueError, KeyError):
                name = "λ ?"
        elif any("moto" in part for part in cmdline):
            name = "moto server"
        else:
            name = "other: " + " ".join(cmdline[:3])[:40]
        parts[name] = parts.get(name, 0.0) + seconds
    return parts


# ---------------------------------------------------------------------------- seeding
@dataclass
class Org:
    org_id: str
    api_key: str
    token: str
    plan_ids: list[str] = field(default_factory=list)


def stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _call(session: requests.Session, method: str, url: str, expect: int, **kwargs: Any) -> Any:
    """One seeding or warming call (not measured); a 5xx is tried again a few times, since the
    first calls meet cold workers on a machine that may be busy. Anything else unexpected fails."""
    for attempt in range(4):
        response = session.request(method, url, timeout=120, **kwargs)
        if response.status_code < 500 or attempt == 3:
            break
        print(f"  (seeding: {method} {url} → {response.status_code}, trying again)", file=sys.stderr)
        time.sleep(2)
    if response.status_code != expect:
        raise RuntimeError(f"{method} {url} → {response.status_code}: {response.text[:500]}")
    return response.json()


def seed(stack: Stack, count: int) -> list[Org]:
    """Organizations with a key, two plans and some history, through the public API; then a daily
    rollup, so the reads have figures to read."""
    session = requests.Session()
    vendor = {"Authorization": f"Bearer {issue_token(stack.state_dir, 'vendor_admin', subject='load-bench')}"}
    start = (datetime.now(UTC) - timedelta(days=45)).replace(hour=0, minute=0, second=0, microsecond=0)
    orgs: list[Org] = []
    for index in range(count):
        org_id = f"load-org-{index + 1:02d}"
        key = _call(session, "POST", f"{stack.url}/v1/orgs/{org_id}/api-keys", 201, headers=vendor, json={})
        token = issue_token(stack.state_dir, "org_admin", org_id, subject=f"load-admin-{index}", ttl=6 * 3600)
        org = Org(org_id, key["api_key"], token)
        for terms in (
            {"type": "seats", "product": "learn", "amount": 100_000, "start": stamp(start), "enforcement": "soft"},
            {"type": "mau", "product": "observe", "amount": 100_000, "start": stamp(start)},
        ):
            plan = _call(session, "POST", f"{stack.url}/v1/orgs/{org_id}/plans", 201, headers=vendor, json=terms)
            org.plan_ids.append(plan["plan_id"])
        orgs.append(org)

    def history(org: Org) -> None:
        # The past week of the ingest bench's mix (its user ids are the locustfile's).
        events = generate_events(
            random.Random(org.org_id), SEED_EVENTS_PER_ORG, USERS_PER_ORG, datetime.now(UTC), 7, f"seed-{org.org_id}"
        )
        own = requests.Session()
        for batch in batches(events, 100):
            answer = _call(
                own, "POST", f"{stack.url}/v1/events", 200, json={"events": batch}, headers={"x-api-key": org.api_key}
            )
            if answer["rejected"]:
                raise RuntimeError(f"seed events refused: {answer['rejected'][:2]}")

    with ThreadPoolExecutor(len(orgs)) as pool:
        list(pool.map(history, orgs))
    rollup = invoke_scheduled(REPO_ROOT, stack.state_dir, "DailyRollupFunction", datetime.now(UTC), quiet=True)
    if not rollup.ok:
        raise RuntimeError(f"the daily rollup failed: {rollup.error}")
    return orgs


def warm(stack: Stack, orgs: list[Org], connections: int) -> None:
    """Every function from ``connections`` threads at once, so each function's pool has
    grown to its size before the measured run (the cold starts are not what is measured)."""

    def one(index: int) -> None:
        org = orgs[index % len(orgs)]
        session = requests.Session()
        key = {"x-api-key": org.api_key}
        bearer = {"Authorization": f"Bearer {org.token}"}
        base = f"{stack.url}/v1/orgs/{org.org_id}"
        plan = org.plan_ids[0]
        event = {
            "id": f"warm-{index}",
            "type": "feature.used",
            "timestamp": stamp(datetime.now(UTC)),
            "user_id": f"warm-{index}",
            "feature": "dashboard",
        }
        _call(session, "POST", f"{stack.url}/v1/events", 200, json={"events": [event]}, headers=key)
        _call(session, "PUT", f"{base}/seats/warm-{index}?product=learn", 200, headers=key)
        _call(session, "GET", f"{base}/plans/{plan}/usage", 200, headers=bearer)
        _call(session, "GET", f"{base}/reports/license-ai-usage?timeframe=this_month", 200, headers=bearer)

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(one, range(connections)))


# ---------------------------------------------------------------------------- one run
@dataclass
class RouteFigures:
    name: str
    requests: int
    failures: int
    per_second: float
    p50: float
    p95: float
    p99: float
    max: float
    statuses: dict[str, int] = field(default_factory=dict)  # "503", "connection", "other" → count

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.isdigit() and status.startswith("5"))

    @property
    def connection_errors(self) -> int:
        return self.statuses.get("connection", 0)


@dataclass
class Run:
    rate: float
    duration: int
    routes: list[RouteFigures]
    total: RouteFigures
    cpu: dict[str, float]
    locust_warnings: list[str]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @property
    def clean(self) -> bool:
        return self.total.failures == 0

    @property
    def kept_up(self) -> bool:
        """Whether the stack served the fixed rate: with ``constant_throughput`` a user waits for
        its answer, so a stack that cannot keep up shows as a lower achieved rate, not as errors."""
        return self.total.per_second >= KEPT_UP * self.rate


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def parse_csv(prefix: Path) -> tuple[list[RouteFigures], RouteFigures]:
    statuses: dict[str, dict[str, int]] = {}
    with Path(f"{prefix}_failures.csv").open(newline="") as failures:
        for row in csv.DictReader(failures):
            error, count = row["Error"], int(row["Occurrences"])
            found = re.search(r"HTTP (\d{3})", error)
            kind = "connection" if "connection error" in error else found.group(1) if found else "other"
            by_kind = statuses.setdefault(row["Name"], {})
            by_kind[kind] = by_kind.get(kind, 0) + count
    routes: list[RouteFigures] = []
    total: RouteFigures | None = None
    with Path(f"{prefix}_stats.csv").open(newline="") as stats:
        for row in csv.DictReader(stats):
            figures = RouteFigures(
                name=row["Name"],
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                per_second=_number(row["Requests/s"]),
                p50=_number(row["50%"]),
                p95=_number(row["95%"]),
                p99=_number(row["99%"]),
                max=_number(row["Max Response Time"]),
                statuses=statuses.get(row["Name"], {}),
            )
            if row["Name"] == "Aggregated":
                figures.statuses = {}
                for by_kind in statuses.values():
                    for kind, n in by_kind.items():
                        figures.statuses[kind] = figures.statuses.get(kind, 0) + n
                total = figures
            else:
                routes.append(figures)
    if total is None:
        raise RuntimeError(f"{prefix}_stats.csv has no Aggregated row")
    routes.sort(key=lambda r: ROUTES.index(r.name) if r.name in ROUTES else len(ROUTES))
    return routes, total


def run_locust(stack: Stack, orgs: list[Org], args: argparse.Namespace, rate: float, workdir: Path) -> Run:
    config = {
        "orgs": [org.__dict__ for org in orgs],
        "rate_per_user": rate / args.users,
        "users_per_org": USERS_PER_ORG,
        "events_since": args.since.isoformat(),
    }
    config_path = workdir / f"config-{rate:g}.json"
    config_path.write_text(json.dumps(config))
    prefix = workdir / f"locust-{rate:g}"
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s", "--stop-timeout", "30"]
    command += ["--host", stack.url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"]
    cpu_before = stack_parts(stack)
    load_before = os.getloadavg()
    log_path = workdir / f"locust-{rate:g}.log"
    with log_path.open("wb") as log:
        locust = subprocess.run(
            command,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LOAD_CONFIG": str(config_path)},
            check=False,
        )
    load_after = os.getloadavg()
    cpu_after = stack_parts(stack)
    cpu = {name: seconds - cpu_before.get(name, 0.0) for name, seconds in cpu_after.items()}
    text = log_path.read_text(errors="replace")
    if not Path(f"{prefix}_stats.csv").exists():
        raise RuntimeError(f"locust wrote no CSV (exit {locust.returncode}); its log:\n{text[-3000:]}")
    warnings = sorted({line.strip() for line in text.splitlines() if "CPU usage" in line or "Traceback" in line})
    routes, total = parse_csv(prefix)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for path in workdir.glob(f"locust-{rate:g}*"):
            shutil.copy(path, args.keep / path.name)
    return Run(rate, args.duration, routes, total, cpu, warnings, load_before, load_after)


# ---------------------------------------------------------------------------- reporting
def print_run(run: Run, orgs: int, locust_cpu: float | None) -> None:
    achieved = run.total.per_second
    print(
        f"\nrate {run.rate:g} req/s for {run.duration} s ({run.rate / orgs:g} req/s per organization): "
        f"achieved {achieved:.1f} req/s ({achieved / run.rate * 100:.0f} % of the rate)"
    )
    header = (
        f"  {'route':<44} {'requests':>8} {'req/s':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'errors':>7} {'5xx':>4} {'conn':>4}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for route in [*run.routes, run.total]:
        name = "all routes" if route.name == "Aggregated" else route.name
        rate = route.failures / route.requests * 100 if route.requests else 0.0
        print(
            f"  {name:<44} {route.requests:>8} {route.per_second:>6.1f} {route.p50:>7.0f} {route.p95:>7.0f} "
            f"{route.p99:>7.0f} {route.max:>7.0f} {rate:>6.2f}% {route.server_errors:>4} "
            f"{route.connection_errors:>4}"
        )
    ingest = next((r for r in run.routes if r.name == ROUTES[0]), None)
    if ingest is not None:
        mean_batch = sum(BATCH_SIZES) / 2
        print(
            f"  events: ≈ {ingest.per_second * mean_batch:.0f} events/s (batches of {BATCH_SIZES[0]}–"
            f"{BATCH_SIZES[1]}, mean {mean_batch:g})"
        )
    other = {k: n for k, n in run.total.statuses.items() if k != "connection" and not k.startswith("5")}
    if other:
        print(f"  other failures: {other}")
    print(f"  connection errors: {run.total.connection_errors}")
    busy = sorted(run.cpu.items(), key=lambda item: -item[1])
    seconds = run.duration
    shares = ", ".join(f"{name} {s / seconds:.2f}" for name, s in busy if s >= 0.05 * seconds)
    print(f"  CPU cores used, stack (of 2): {sum(run.cpu.values()) / seconds:.2f} = {shares}")
    if locust_cpu is not None:
        print(f"  CPU cores used, locust: {locust_cpu / seconds:.2f}")
    print(
        "  load average before/after: "
        f"{', '.join(f'{x:.2f}' for x in run.load_before)} / {', '.join(f'{x:.2f}' for x in run.load_after)}"
    )
    for warning in run.locust_warnings:
        print(f"  locust: {warning}")


def _rates(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rate",
        type=_rates,
        default=[40.0],
        help="total requests per second, or a comma list run one after the other (default 40)",
    )
    parser.add_argument("--duration", type=int, default=60, help="seconds per rate (default 60)")
    parser.add_argument("--users", type=int, default=64, help="concurrent connections (default 64)")
    parser.add_argument("--orgs", type=int, default=4, help="organizations the load is spread over (default 4)")
    parser.add_argument("--keep", type=Path, help="copy locust's CSV files and logs into this folder")
    args = parser.parse_args(argv)
    args.since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for rate in args.rate:
        if rate / args.orgs >= PER_ORG_LIMIT:
            parser.error(f"{rate:g} req/s over {args.orgs} organizations exceeds {PER_ORG_LIMIT} req/s per org")

    print(f"load bench: {args.users} connections, {args.orgs} organizations, {args.duration} s per rate")
    print(f"  {code_line()}; {machine_line()}")
    runs: list[Run] = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        with local_stack(workdir) as stack:
            began = time.monotonic()
            orgs = seed(stack, args.orgs)
            warm(stack, orgs, args.users)
            print(
                f"  stack at {stack.url}; seeded {args.orgs} × {SEED_EVENTS_PER_ORG} events, rolled up and "
                f"warmed in {time.monotonic() - began:.0f} s"
            )
            for rate in args.rate:
                children_before = _children_cpu()
                run = run_locust(stack, orgs, args, rate, workdir)
                print_run(run, args.orgs, _children_cpu() - children_before)
                runs.append(run)
    finally:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copy(workdir / "stack.log", args.keep / "stack.log")
        shutil.rmtree(workdir, ignore_errors=True)

    print("\nsummary")
    for run in runs:
        verdict = (
            "clean"
            if run.clean
            else (
                f"{run.total.server_errors} 5xx, {run.total.connection_errors} connection errors, "
                f"{run.total.failures - run.total.server_errors - run.total.connection_errors} other failures"
            )
        )
        kept = "kept up" if run.kept_up else "did NOT keep up"
        print(
            f"  {run.rate:>6g} req/s: achieved {run.total.per_second:6.1f} ({kept}), "
            f"p99 {run.total.p99:6.0f} ms, {verdict}"
        )
    failed = [run for run in runs if not run.clean]
    if failed:
        print(
            f"\nFAILED: requests failed at {', '.join(f'{r.rate:g}' for r in failed)} req/s (see above)",
            file=sys.stderr,
        )
        return 1
    return 0


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children (locust, once it has ended)."""
    times = os.times()
    return times.children_user + times.children_system


if __name__ == "__main__":
    sys.exit(main())
