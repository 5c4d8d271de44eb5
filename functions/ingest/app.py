"""Lambda entry point for ``POST /v1/events``."""

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
from license_usage.api.routers import events
from license_usage.observability import metrics
from license_usage.store.ports import dynamo_ports

logger = Logger()
# Its only route validates the batch itself (SPEC §4's 413/400/422 order), see api/routers/events.py.
app = build_resolver(events.router, validation=False, ports=dynamo_ports())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


gc.freeze()  # init's objects: out of every later collection
gc.enable()
