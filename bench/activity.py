"""Activity-log bench (``python -m bench.activity``): what the first page of a plan's activity log
costs when its history is long and quiet (issue 9).

Two organizations, each with a seats plan and the same sparse activity — a login on the plan's
first day and a few logins yesterday, nothing in between — one with 30 days of history, the other
with 365. Events go through the real ingest handler, the real daily rollup handler runs, then
``GET /v1/orgs/{org}/plans/{plan}/activity`` (first page, and every page) goes through the real
reports handler. It prints the DynamoDB queries each page made and its time (median of several
requests after a warm-up). Goal: the same query count for 30 and 365 days, a first page under
100 ms locally. Its own DynamoDB Local, tables from template.yaml, as the other benches."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bench.harness import (
    VENDOR_AUTHORIZER,
    CapacityMeter,
    Figure,
    call,
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
from bench.rollup import invoke_rollup

REQUESTS = 10


def stamp(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def history(days: int, now: datetime) -> list[dict[str, str]]:
    start = now - timedelta(days=days)
    events = [{"id": "first", "type": "user.login", "timestamp": stamp(start + timedelta(hours=1)), "user_id": "u0"}]
    yesterday = now - timedelta(days=1)
    for index in range(5):
        events.append(
            {
                "id": f"y{index}",
                "type": "user.login",
                "timestamp": stamp(yesterday + timedelta(minutes=index)),
                "user_id": f"u{index}",
            }
        )
    return events


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=REQUESTS, help="timed requests per page (default 10)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    print(f"bench.activity — {machine_line()}\ncode: {code_line()}", flush=True)
    now = datetime.now(UTC).replace(microsecond=0)
    figures: list[Figure] = []
    queries: dict[int, list[int]] = {}
    with local_dynamodb("activity") as local:
        set_lambda_environment(local)
        meter = CapacityMeter(local.index_keys)
        meter.install()
        ingest = load_handler("ingest", "bench_activity_ingest")
        api = load_handler("api", "bench_activity_api")
        reports = load_handler("reports", "bench_activity_reports")
        rollup = load_handler("daily_rollup", "bench_activity_rollup")
        plans = {}
        for days in (30, 365):
            org = f"quiet-{days}"
            start = stamp(now - timedelta(days=days))
            # An annual plan covers at most a year: the 365-day organization's plan starts 365 days ago.
            plans[days] = create_plan(api, org, {"type": "seats", "product": "learn", "amount": 50, "start": start})
            call(ingest, ingest_event(org, json.dumps({"events": history(days, now)})))
        invoke_rollup(rollup, now)
        for days, plan in plans.items():
            org = f"quiet-{days}"
            path = {"org_id": org, "plan_id": plan["plan_id"]}

            def page(
                cursor: str | None, limit: int, path: dict[str, str] = path, days: int = days
            ) -> tuple[dict[str, object], int, float]:
                event = rest_event("GET", "/v1/orgs/{org_id}/plans/{plan_id}/activity", path, VENDOR_AUTHORIZER)
                params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
                event["queryStringParameters"] = params
                event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()}
                bucket = f"page-{days}-{time.perf_counter_ns()}"
                started = time.perf_counter()
                with meter.counting(bucket):
                    body = call(reports, event)
                seconds = time.perf_counter() - started
                count = sum(s.calls for (op, _), s in meter.snapshot(bucket).by_operation.items() if op == "Query")
                return body, count, seconds

            page(None, 100)  # warm-up
            first = [page(None, 100) for _ in range(args.requests)]
            queries[days] = [first[0][1]]
            items = len(first[0][0]["items"])  # type: ignore[arg-type]
            # Every page of two entries, to the end.
            cursor: str | None = None
            pages = 0
            while True:
                body, count, _ = page(cursor, 2)
                queries[days].append(count)
                pages += 1
                cursor = body["next_cursor"]  # type: ignore[assignment]
                if not cursor:
                    break
            median_ms = statistics.median(seconds for _, _, seconds in first) * 1000
            figures.append(Figure(f"{days} days: first page (limit 100), queries", str(first[0][1]), "", None))
            figures.append(
                Figure(
                    f"{days} days: first page, ms (median of {args.requests})",
                    f"{median_ms:.1f}",
                    "< 100",
                    median_ms < 100,
                )
            )
            figures.append(
                Figure(
                    f"{days} days: entries, pages of 2, queries per page",
                    f"{items}, {pages}, {queries[days][1:]}",
                    "",
                    None,
                )
            )
        meter.uninstall()
    same = queries[30][0] == queries[365][0]
    figures.append(Figure("first page queries: 30 days = 365 days", "yes" if same else "no", "equal", same))
    print_table("Activity-log figures", figures)
    print(f"bench.activity took {time.perf_counter() - began:.0f} s — {machine_line()}")


if __name__ == "__main__":
    main()
