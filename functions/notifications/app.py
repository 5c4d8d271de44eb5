"""EventBridge schedule, daily after the rollups: publish what the outbox still holds, then send
every notice a plan is due (SPEC §7). "Now" is the event's ``time``, so any run can be replayed."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from license_usage.domain.timestamps import parse_rfc3339
from license_usage.observability import metrics
from license_usage.store.ports import dynamo_outbox
from license_usage.usecases.notification_run import run_notifications

logger = Logger()
OUTBOX = dynamo_outbox()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics(raise_on_empty_metrics=False)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    run = run_notifications(OUTBOX, parse_rfc3339(event.time))
    logger.info("notifications", extra=asdict(run))
    return asdict(run)
