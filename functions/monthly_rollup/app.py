"""EventBridge schedule, after each month ends: finish the month's rollups (month figures,
peaks included, are read from the day tallies and the rollup's swings). "Now" is the event's
``time``. What it cannot do is quarantined as by the daily rollup (the same run)."""

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
from license_usage.usecases.rollups import run_monthly_rollup

logger = Logger()
PORTS = dynamo_ports()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics(raise_on_empty_metrics=False)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    report = run_monthly_rollup(parse_rfc3339(event.time), PORTS)
    logger.info("monthly rollup", extra=report.counts())
    return asdict(report)
