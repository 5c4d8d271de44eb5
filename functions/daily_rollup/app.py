"""EventBridge schedule, after midnight UTC: recompute every day that received events since the
last run. "Now" is the event's ``time``, so any run can be replayed for any instant.

The run succeeds when what it could not do is quarantined (its result lists it under
``quarantined``; docs/operations.md, RollupQuarantinedAlarm); it fails (``RollupFailed``, so
Lambda retries) only for what failed for now, after doing everything else."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from license_usage.domain.timestamps import parse_rfc3339
from license_usage.observability import metrics
from license_usage.store.ports import dynamo_ports
from license_usage.usecases.rollups import run_daily_rollup

logger = Logger()
PORTS = dynamo_ports()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics(raise_on_empty_metrics=False)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    report = run_daily_rollup(parse_rfc3339(event.time), PORTS)
    logger.info("daily rollup", extra=report.counts())
    return asdict(report)
