"""Publishing notices (SPEC §7): the SNS topic (what email subscribers get) and the EventBridge
bus (for integrations). The clients are made on first use, so a function that never publishes
pays nothing for them at cold start; botocore takes the local stand-ins' endpoints from
``AWS_ENDPOINT_URL_SNS`` / ``AWS_ENDPOINT_URL_EVENTBRIDGE``."""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

SOURCE = "license-usage"
SNS = "sns"
BUS = "bus"


class PublishFailed(Exception):
    """A channel did not take the notice; it stays in the outbox for the next run."""


_CLIENTS_LOCK = threading.Lock()


@cache
def _client(service: str) -> Any:
    import boto3

    with _CLIENTS_LOCK:  # the default session is not thread-safe; the daily run publishes from threads
        return boto3.client(service)


def topic_arn() -> str:
    return os.environ["NOTIFICATIONS_TOPIC_ARN"]


def publish_to_topic(org_id: str, kind: str, subject: str, message: str) -> None:
    """One SNS message, with the ``org_id`` and ``kind`` attributes subscription filter policies match."""
    _client("sns").publish(
        TopicArn=topic_arn(),
        Subject=subject,
        Message=message,
        MessageAttributes={
            "org_id": {"DataType": "String", "StringValue": org_id},
            "kind": {"DataType": "String", "StringValue": kind},
        },
    )


def put_on_bus(kind: str, detail: str) -> None:
    """One event on the bus: ``source`` license-usage, ``detail-type`` the kind."""
    answer = _client("events").put_events(
        Entries=[{"Source": SOURCE, "DetailType": kind, "Detail": detail, "EventBusName": os.environ["EVENT_BUS_NAME"]}]
    )
    if answer.get("FailedEntryCount"):
        codes = {entry.get("ErrorCode") for entry in answer.get("Entries", []) if entry.get("ErrorCode")}
        raise PublishFailed(f"EventBridge refused the event: {', '.join(sorted(map(str, codes)))}")


def sns_client() -> Any:
    """The SNS client (email subscriptions use it too)."""
    return _client("sns")
