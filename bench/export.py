"""Export bench (``python -m bench.export``): the users export of a seats plan with 10k and with
200k users, as CSV and as XLSX.

For each format and size, in a fresh child process each (so that peak RSS is the export's own):
- the export: the real ``usecases.export_jobs`` path (``export_file`` reading the users page by
  page through the users use case, ``store.export_files.write_export`` streaming to S3 on moto);
- the floor: the same rows read the same way, written to a local file (the ``csv`` module, or
  xlsxwriter in ``constant_memory`` mode for XLSX), then uploaded once with one PutObject.

It prints, per format: the peak RSS growth from 10k to 200k users (goal ≤ 50 MB) and the export's
time against the floor's at 200k users (goal ≤ 1.5×). The users are written straight into
DynamoDB Local with BatchWriteItem (as the items ingest leaves: one login each); they do not go
through ingest. It starts its own DynamoDB Local and moto server and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import (
    REPO_ROOT,
    Figure,
    code_line,
    create_plan,
    load_handler,
    local_dynamodb,
    local_moto,
    machine_line,
    print_table,
    set_lambda_environment,
)

SIZES = (10_000, 200_000)
FORMATS = ("csv", "xlsx")


def stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_users(client: Any, table: str, plan_id: str, users: int, first_login: datetime) -> None:
    """``users`` seat holders of the plan, each with one login, as ingest's commit leaves them."""

    from license_usage.store.keys import plan_user_key

    def item(n: int) -> dict[str, Any]:
        key = f"{stamp(first_login + timedelta(seconds=n))}#ev-{n:07d}"
        pk, sk = plan_user_key(plan_id, f"user-{n:07d}@example.com")
        return {
            "pk": {"S": pk},
            "sk": {"S": sk},
            "user_id": {"S": f"user-{n:07d}@example.com"},
            "version": {"N": "1"},
            "marks": {"S": json.dumps([[key, "login", "event"]])},
            "months": {"S": "{}"},
            "last_login": {"S": key},
        }

    def write(start: int) -> None:
        requests = [{"PutRequest": {"Item": item(n)}} for n in range(start, min(start + 25, users))]
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(0, users, 25)))


def _status_mb(field: str) -> float:
    """This process's resident set (VmRSS) or its peak (VmHWM), in MB. Not getrusage's ru_maxrss:
    on Linux that survives fork and exec, so a child would report its parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(args: argparse.Namespace) -> None:
    """One measurement in this process: prints {"seconds", "peak_rss_mb", "rows"}."""
    from license_usage.domain.exports import Export as ExportJob
    from license_usage.domain.exports import (
        ExportFormat,
        ExportRequest,
        ExportStatus,
        Instant,
        ReportKind,
        csv_text,
        neutralise,
    )
    from license_usage.store.export_files import bucket, s3, write_export
    from license_usage.usecases.export_jobs import export_file

    fmt = ExportFormat(args.format)
    now = datetime.now(UTC)
    job = ExportJob(
        export_id=f"exp_bench_{args.users}_{args.format}",
        org_id=args.org,
        request=ExportRequest(ReportKind.USERS, fmt, args.plan),
        status=ExportStatus.PENDING,
        created_at=now,
        object_key=f"exports/{args.org}/{args.mode}-{args.users}.{args.format}",
    )
    before = _status_mb("VmRSS")
    started = time.perf_counter()
    if args.mode == "export":
        rows = write_export(job.object_key, export_file(job, now), fmt)
    else:
        sheet = export_file(job, now).sheets[0]
        rows = 0
        with tempfile.NamedTemporaryFile(suffix=f".{args.format}") as target:
            if fmt is ExportFormat.CSV:
                with open(target.name, "w", newline="", encoding="utf-8") as out:
                    writer = csv.writer(out, lineterminator="\r\n")
                    writer.writerow([neutralise(n) for n in sheet.header])
                    for row in sheet.rows:
                        writer.writerow([csv_text(c) for c in row])
                        rows += 1
            else:
                import xlsxwriter

                book = xlsxwriter.Workbook(target.name, {"constant_memory": True, "strings_to_formulas": False})
                when = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
                page = book.add_worksheet("users")
                page.write_row(0, 0, sheet.header)
                for rows, row in enumerate(sheet.rows, start=1):
                    for column, cell in enumerate(row):
                        if isinstance(cell, Instant):
                            page.write_datetime(rows, column, cell.value.replace(tzinfo=None), when)
                        elif isinstance(cell, str):
                            page.write_string(rows, column, neutralise(cell))
                        elif cell is not None:
                            page.write(rows, column, cell)
                book.close()
            with open(target.name, "rb") as body:
                s3().put_object(Bucket=bucket(), Key=job.object_key, Body=body)
    seconds = time.perf_counter() - started
    peak = _status_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "start_rss_mb": before, "rows": rows}))


def measure(env: dict[str, str], mode: str, fmt: str, users: int, org: str, plan: str) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.export", "--child", mode, "--format", fmt, "--users", str(users)]
    command += ["--org", org, "--plan", plan]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} {fmt} {users}: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=SIZES, help="the two plan sizes (default 10000 200000)")
    parser.add_argument("--formats", nargs="+", default=FORMATS, choices=FORMATS)
    parser.add_argument("--child", choices=("export", "floor"), dest="mode", help=argparse.SUPPRESS)
    parser.add_argument("--format", default="csv", help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--org", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        child(args)
        return
    began = time.perf_counter()
    print(f"bench.export — {machine_line()}", flush=True)
    print(f"code: {code_line()}", flush=True)
    figures: list[Figure] = []
    results: dict[tuple[str, str, int], dict[str, float]] = {}
    with local_dynamodb("export") as local:
        set_lambda_environment(local)
        with local_moto():  # after the Lambda environment: its endpoints win
            env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
            api = load_handler("api", "bench_export_api")
            client = local.client(pool=8)
            start = datetime.now(UTC) - timedelta(days=60)
            plans = {}
            for users in args.sizes:
                org = f"bench-export-{users}"
                terms = {"type": "seats", "product": "learn", "amount": users, "start": stamp(start)}
                plan = create_plan(api, org, terms)
                print(f"loading {users:,} users…", flush=True)
                loaded = time.perf_counter()
                load_users(client, local.names["LicensingTable"], plan["plan_id"], users, start + timedelta(days=1))
                print(f"  {time.perf_counter() - loaded:.0f} s", flush=True)
                plans[users] = (org, plan["plan_id"])
            for fmt in args.formats:
                for users in args.sizes:
                    for mode in ("export", "floor"):
                        org, plan_id = plans[users]
                        print(f"{mode} {fmt} {users:,} users…", flush=True)
                        results[(mode, fmt, users)] = measure(env, mode, fmt, users, org, plan_id)
                        print(f"  {json.dumps({k: round(v, 2) for k, v in results[(mode, fmt, users)].items()})}")
    small, large = args.sizes
    for fmt in args.formats:
        growth = results[("export", fmt, large)]["peak_rss_mb"] - results[("export", fmt, small)]["peak_rss_mb"]
        floor_growth = results[("floor", fmt, large)]["peak_rss_mb"] - results[("floor", fmt, small)]["peak_rss_mb"]
        ratio = results[("export", fmt, large)]["seconds"] / results[("floor", fmt, large)]["seconds"]
        figures += [
            Figure(f"{fmt}: peak RSS growth {small:,} → {large:,} users, MB", f"{growth:.1f}", "≤ 50", growth <= 50),
            Figure(f"{fmt}: … the floor's, MB", f"{floor_growth:.1f}", "", None),
            Figure(
                f"{fmt}: export seconds at {large:,} users",
                f"{results[('export', fmt, large)]['seconds']:.1f}",
                "",
                None,
            ),
            Figure(
                f"{fmt}: floor seconds at {large:,} users", f"{results[('floor', fmt, large)]['seconds']:.1f}", "", None
            ),
            Figure(f"{fmt}: export / floor", f"{ratio:.2f}", "≤ 1.5", ratio <= 1.5),
        ]
    print_table("Export figures", figures)
    print(f"bench.export took {time.perf_counter() - began:.0f} s — {machine_line()}")


if __name__ == "__main__":
    main()
