"""SQS (the exports queue): write each export job's file to S3 (SPEC §5, §8). A job that fails is
left for another delivery (partial batch response); its last attempt marks the export failed."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from license_usage.domain.timestamps import utc_now
from license_usage.observability import metrics
from license_usage.store.ports import dynamo_outbox
from license_usage.usecases.export_jobs import run_export_job

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)
OUTBOX = dynamo_outbox()


def record_handler(record: SQSRecord) -> None:
    logger.set_correlation_id(record.message_id)
    try:
        job = json.loads(record.body)
        org_id, export_id = str(job["org_id"]), str(job["export_id"])
    except (ValueError, KeyError, TypeError):
        logger.error("not an export job: dropped", extra={"message_id": record.message_id})
        return
    # The export's id, as the API logged it when it started the export: one id joins both.
    logger.set_correlation_id(export_id)
    attempt = int(record.attributes.approximate_receive_count or 1)
    outcome = run_export_job(OUTBOX, org_id, export_id, attempt, utc_now())
    logger.info(
        "export job",
        extra={
            "export_id": export_id,
            "message_id": record.message_id,
            "attempt": attempt,
            "outcome": outcome.status,
            "rows": outcome.rows,
            "size_bytes": outcome.size_bytes,
            "duration_ms": outcome.duration_ms,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
