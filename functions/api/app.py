"""Lambda entry point for the admin API: keys, plans, usage, seats, audit, overdrafts, organizations
(reports: functions/reports; exports and notifications: functions/delivery)."""

from __future__ import annotations

import gc

gc.disable()  # cold start: what init builds lives as long as the process, so no collections until frozen at the end

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

# botocore and urllib3 first, at a shallow import depth (CPython 3.11 compiles one of urllib3's
# regular expressions far slower deep in an import chain: BENCHMARKS.md, 1c).
from license_usage.store import tables as _tables  # noqa: F401

# isort: split
from license_usage.api.resolver import build_resolver
from license_usage.api.routers import (
    api_keys,
    audit,
    health,
    orgs,
    overdrafts,
    plans,
    seats,
    usage,
)
from license_usage.observability import metrics
from license_usage.store.ports import dynamo_ports

logger = Logger()
app = build_resolver(
    health.router,
    api_keys.router,
    plans.router,
    usage.router,
    seats.router,
    audit.router,
    overdrafts.router,
    orgs.router,
    ports=dynamo_ports(),
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


gc.freeze()  # init's objects: out of every later collection
gc.enable()
