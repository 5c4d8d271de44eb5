"""The template's SQS event sources, run locally as Lambda's event source mapping runs them: a
thread per mapping long-polls its queue, invokes the function with an SQS event of up to
``BatchSize`` records, deletes what the function handled, and leaves the rest (all of it on an
invocation error; the records named in ``batchItemFailures`` with ReportBatchItemFailures) for
another delivery. The queue's redrive policy (moto applies it) moves a message that keeps failing
to its dead-letter queue.

One local difference: a message left for another delivery is visible again after
``RETRY_SECONDS``, not after the queue's ``VisibilityTimeout`` (which is sized for AWS, minutes),
so that a retry is seen within seconds."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from usage_local.lambda_runtime import Invocation
from usage_local.resources import aws_client
from usage_local.stacklog import log
from usage_local.template import REGION, Json, QueueSource

RETRY_SECONDS = 2
WAIT_SECONDS = 1  # long-poll wait per receive: how soon the poller notices the stack stopping


def sqs_event(source: QueueSource, messages: list[Json]) -> Json:
    """The event Lambda's SQS event source mapping sends."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType"),
                    }
                    for name, value in (message.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": source.queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def failed_ids(source: QueueSource, invocation: Invocation, messages: list[Json]) -> set[str]:
    """The messages to deliver again after this invocation."""
    every = {message["MessageId"] for message in messages}
    if not invocation.ok:
        return every
    if not source.reports_failures or not isinstance(invocation.result, dict):
        return set()
    failures = invocation.result.get("batchItemFailures") or []
    named = {str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)}
    return named & every if named <= every else every  # an unknown id fails the whole batch, as on AWS


class QueuePoller:
    """One event source mapping."""

    def __init__(self, source: QueueSource, endpoint: str, invoke: Callable[[str, Any], Invocation]) -> None:
        self.source = source
        self.invoke = invoke
        self.client = aws_client("sqs", endpoint)
        self.queue_url = str(self.client.get_queue_url(QueueName=source.queue_name)["QueueUrl"])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqs-{source.function}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WAIT_SECONDS + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as error:  # a stand-in hiccup must not end the mapping
                log("sqs", f"{self.source.function}: polling {self.source.queue_name} failed: {error}")
                self._stop.wait(1)

    def poll_once(self) -> int:
        answer = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, self.source.batch_size),
            WaitTimeSeconds=WAIT_SECONDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[Json] = answer.get("Messages", [])
        if not messages:
            return 0
        invocation = self.invoke(self.source.function, sqs_event(self.source, messages))
        again = failed_ids(self.source, invocation, messages)
        for message in messages:
            if message["MessageId"] in again:
                self.client.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=RETRY_SECONDS
                )
            else:
                self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        outcome = "ok" if invocation.ok else f"failed: {invocation.error}"
        log("sqs", f"{self.source.function}: {len(messages)} message(s), {len(again)} to retry ({outcome})")
        return len(messages)
