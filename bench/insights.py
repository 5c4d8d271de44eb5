"""Insights bench (``python -m bench.insights``): what the two insights routes read (SPEC §11).

(a) ``GET /v1/orgs/{org_id}/insights`` (the real ``functions/reports`` handler, reporter context)
    for one organization of 1k users and one of 50k users (``--users``): the same plans (a seats
    plan over its amount with idle seat holders, a hard-limited seats plan that refused logins, a mau
    and a mauc plan), the same groups, logins spread over the last 60 days, all through the real
    ingest handler and rolled up by the real daily rollup. Goal: the route's RCU does not grow
    with the users.
(b) ``GET /v1/insights`` (vendor admin) over 10 and 1,000 organizations (``--orgs``), of which
    ``--with-insight`` % (default 10 %) have a plan in overdraft (an opportunity) and the others a
    plan well within its amount (no entry). RCU of the first page (limit 100) and of every page.
    Goal: the reads grow at most linearly with the organizations that have an insight, not with
    all of them.

Each run starts its own DynamoDB Local with template.yaml's tables and calls the handlers
in-process. It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import (
    CapacityMeter,
    Handler,
    LocalDynamoDB,
    call,
    code_line,
    create_plan,
    ingest_event,
    load_handler,
    local_dynamodb,
    local_moto,
    machine_line,
    rest_event,
    set_lambda_environment,
)
from bench.rollup import invoke_rollup

BATCH = 500
GROUPS = ("north", "south", "east", "west", "lab")


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def send(ingest: Handler, org: str, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), BATCH):
        body = call(ingest, ingest_event(org, json.dumps({"events": events[start : start + BATCH]})))
        if body["rejected"]:
            raise RuntimeError(f"rejected: {body['rejected'][:3]}")


def org_events(org: str, users: int, now: datetime, logins: int) -> list[dict[str, Any]]:
    """Each user's logins to one of four products over the last 60 days (a third only 40–60 days
    ago: idle seat holders), and AI actions in four of five groups."""
    events: list[dict[str, Any]] = []
    for u in range(users):
        user, group = f"u{u:06d}@{org}.example", GROUPS[u % len(GROUPS)]
        product = ("learn", "observe", "coach", "guard")[u % 4]
        idle = u % 3 == 0
        for k in range(logins):
            days = 40 + (u * 7 + k * 5) % 20 if idle else (u * 3 + k * 11) % 29
            at = now - timedelta(days=days, minutes=u % 600 + 1)
            events.append({"id": f"l-{u}-{k}", "type": "user.login", "timestamp": iso(at), "user_id": user,
                           "product": product, "group": group})  # fmt: skip
            if group != "lab" and not idle:
                events.append({"id": f"a-{u}-{k}", "type": "ai.suggest_goal", "timestamp": iso(at),
                               "user_id": user, "quantity": 2, "group": group})  # fmt: skip
    return sorted(events, key=lambda e: str(e["timestamp"]))


def reader(meter: CapacityMeter, bucket: str, handler: Handler, event: dict[str, Any]) -> tuple[dict[str, Any], float]:
    meter.clear(bucket)
    with meter.counting(bucket):
        body = call(handler, event)
    return body, meter.snapshot(bucket).read


def part_a(args: argparse.Namespace, meter: CapacityMeter, handlers: dict[str, Handler], now: datetime) -> list[str]:
    rows = []
    for users in args.users:
        org = f"big-{users}"
        start = iso(now - timedelta(days=120))
        for terms in (
            {"type": "seats", "product": "learn", "amount": max(1, users // 8), "start": start,
             "unit_price": "120.00", "currency": "EUR"},
            {"type": "mau", "product": "observe", "amount": max(1, users // 8), "start": start},
            {"type": "mauc", "product": "coach", "amount": users, "start": start},
            {"type": "seats", "product": "guard", "amount": max(1, users // 10), "start": start, "enforcement": "hard"},
        ):  # fmt: skip
            create_plan(handlers["api"], org, terms)
        began = time.perf_counter()
        send(handlers["ingest"], org, org_events(org, users, now, args.logins))
        loaded = time.perf_counter() - began
        began = time.perf_counter()
        invoke_rollup(handlers["rollup"], now)
        rolled = time.perf_counter() - began
        event = rest_event(
            "GET", "/v1/orgs/{org_id}/insights", {"org_id": org}, {"role": "reporter", "org_id": org, "subject": "b"}
        )
        body, rcu = reader(meter, f"org-{users}", handlers["reports"], event)
        kinds = sorted({item["kind"] for item in body["items"]})
        rows.append(f"  {users:>7,} users: {rcu:7.1f} RCU, {len(body['items'])} items ({', '.join(kinds)})"
                    f"  [load {loaded:.0f} s, rollup {rolled:.0f} s]")  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def part_b(args: argparse.Namespace, meter: CapacityMeter, handlers: dict[str, Handler], now: datetime) -> list[str]:
    rows = []
    made = 0
    for orgs in args.orgs:
        began = time.perf_counter()
        for n in range(made, orgs):
            org = f"vendor-{n:05d}"
            over = n % round(100 / args.with_insight) == 0
            price = {"unit_price": f"{10 + n % 90}.00", "currency": "EUR"} if over else {}
            start = iso(now - timedelta(days=100))
            create_plan(handlers["api"], org, {"type": "seats", "product": "learn", "amount": 2 if over else 50,
                                               "start": start, **price})  # fmt: skip
            users = 5
            send(handlers["ingest"], org, [
                {"id": f"v-{u}", "type": "user.login", "timestamp": iso(now - timedelta(days=3, minutes=u)),
                 "user_id": f"v{u}@{org}.example", "product": "learn"} for u in range(users)
            ])  # fmt: skip
        made = orgs
        invoke_rollup(handlers["rollup"], now)
        loaded = time.perf_counter() - began
        with_insight = sum(1 for n in range(orgs) if n % round(100 / args.with_insight) == 0)

        first, first_rcu = reader(meter, f"vendor-first-{orgs}", handlers["reports"], _page_event(None))
        total_rcu, items, pages, cursor = first_rcu, len(first["items"]), 1, first["next_cursor"]
        while cursor:
            body, rcu = reader(meter, f"vendor-page-{orgs}-{pages}", handlers["reports"], _page_event(cursor))
            total_rcu, items, pages, cursor = (
                total_rcu + rcu,
                items + len(body["items"]),
                pages + 1,
                body["next_cursor"],
            )
        per = total_rcu / with_insight if with_insight else 0.0
        rows.append(
            f"  {orgs:>5,} orgs ({with_insight:,} with an insight): first page {first_rcu:.1f} RCU; "
            f"all {pages} page(s) {total_rcu:.1f} RCU for {items} entries ({per:.2f} RCU per org with an insight)"
            f"  [load + rollup {loaded:.0f} s]"
        )
        print(rows[-1], flush=True)
    return rows


def _page_event(cursor: str | None) -> dict[str, Any]:
    event = rest_event("GET", "/v1/insights", None, {"role": "vendor_admin", "org_id": "", "subject": "b"})
    event["queryStringParameters"] = {"limit": "100", **({"cursor": cursor} if cursor else {})}
    return event


def run_parts(args: argparse.Namespace, local: LocalDynamoDB, now: datetime) -> dict[str, list[str]]:
    results: dict[str, list[str]] = {}
    meter = CapacityMeter(local.index_keys)
    meter.install()
    handlers = {
        "api": load_handler("api", "bench_insights_api"),
        "ingest": load_handler("ingest", "bench_insights_ingest"),
        "reports": load_handler("reports", "bench_insights_reports"),
        "rollup": load_handler("daily_rollup", "bench_insights_rollup"),
    }
    # (b) first, so that its index holds only its own organizations' entries.
    if args.part in ("b", "all"):
        print("(b) GET /v1/insights, limit 100 (goal: RCU linear in the organizations with an insight)")
        results["b"] = part_b(args, meter, handlers, now)
    if args.part in ("a", "all"):
        print("(a) GET /v1/orgs/{org_id}/insights, one request (goal: RCU flat in the users)", flush=True)
        results["a"] = part_a(args, meter, handlers, now)
    meter.uninstall()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[1_000, 50_000], help="(a): users per organization")
    parser.add_argument("--logins", type=int, default=1, help="(a): logins per user (each with an AI action)")
    parser.add_argument("--orgs", type=int, nargs="+", default=[10, 1_000], help="(b): organizations, ascending")
    parser.add_argument("--with-insight", type=float, default=10.0, help="(b): %% of organizations in overdraft")
    parser.add_argument("--part", choices=("a", "b", "all"), default="all")
    parser.add_argument("--data-dir", type=Path, help="parent of DynamoDB Local's data folder (default: system temp)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    print(f"bench.insights — {machine_line()}", flush=True)
    print(f"code: {code_line()}", flush=True)
    now = datetime.now(UTC).replace(microsecond=0)
    # One DynamoDB Local (the store's clients live as long as the process): (b) first, so that its
    # index holds only its own organizations' entries.
    with local_dynamodb("insights", args.data_dir) as local:
        set_lambda_environment(local)
        # moto after the Lambda environment: it points SNS, EventBridge and S3 at itself.
        with local_moto():
            results = run_parts(args, local, now)
    print("\nInsights figures:")
    for part, rows in results.items():
        print(f"({part})")
        for row in rows:
            print(row)
    print(f"\nbench.insights took {time.perf_counter() - began:.0f} s — {machine_line()}")


if __name__ == "__main__":
    main()
