"""The two DynamoDB tables of template.yaml, as pynamodb models.

``EventsTable`` holds raw usage events; ``LicensingTable`` holds everything the service decides
(API keys, users, audit, and later plans and consumption), one item kind per key prefix.
Table names come from the Lambda environment; botocore takes the endpoint from
``AWS_ENDPOINT_URL_DYNAMODB`` when one is set (the local stack), so no code here knows it is local.
"""

from __future__ import annotations

import os
import uuid
from functools import cache

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

_REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
# Ingest writes a batch's events from several threads at once.
_MAX_POOL_CONNECTIONS = 48


class EventsByDay(GlobalSecondaryIndex["EventRecord"]):
    """One organization's events of one UTC day, in time order (rollups read these)."""

    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    day = UnicodeAttribute(hash_key=True)
    at = UnicodeAttribute(range_key=True)


class EventRecord(Model):
    """A raw usage event; ``pk`` = ``<org_id>#<event id>`` makes the id unique per organization."""

    class Meta:
        table_name = os.environ.get("EVENTS_TABLE", "EventsTable")
        region = _REGION
        max_pool_connections = _MAX_POOL_CONNECTIONS

    pk = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute()  # "<org_id>#<YYYY-MM-DD>" (UTC)
    at = UnicodeAttribute()  # "<UTC timestamp>#<event id>"
    org_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    timestamp = UnicodeAttribute()
    received_at = UnicodeAttribute()
    user_id = UnicodeAttribute(null=True)
    product = UnicodeAttribute(null=True)
    roles = ListAttribute(of=UnicodeAttribute, null=True)
    goal_id = UnicodeAttribute(null=True)
    quantity = NumberAttribute(null=True)
    feature = UnicodeAttribute(null=True)
    ip = UnicodeAttribute(null=True)
    group = UnicodeAttribute(null=True)
    instance_id = UnicodeAttribute(null=True)
    session_id = UnicodeAttribute(null=True)
    properties = JSONAttribute(null=True)
    source = UnicodeAttribute(null=True)  # the API key (key_id) that sent the event
    expires_at = TTLAttribute()
    by_day = EventsByDay()


class LicensingItem(Model):
    """Base of every item kind in the licensing table (generic ``pk``/``sk``)."""

    class Meta:
        table_name = os.environ.get("LICENSING_TABLE", "LicensingTable")
        region = _REGION
        max_pool_connections = _MAX_POOL_CONNECTIONS

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


@cache
def transaction_connection() -> Connection:
    """The connection pynamodb's TransactWrite needs (changes and their audit entries commit together)."""
    return Connection(region=_REGION, max_pool_connections=_MAX_POOL_CONNECTIONS)


def request_token() -> str:
    """A ``ClientRequestToken`` for one transaction: when its answer is lost and botocore sends it
    again, DynamoDB answers the resend as it answered the first (within 10 minutes) instead of
    failing the conditions the first one already satisfied."""
    return uuid.uuid4().hex


def idempotent_transaction() -> TransactWrite:
    """A pynamodb TransactWrite that a lost answer cannot turn into a conflict (``request_token``)."""
    return TransactWrite(connection=transaction_connection(), client_request_token=request_token())


def condition_failed(error: PynamoDBException) -> bool:
    """A conditional write that was refused by its condition (not a failure of the call)."""
    return error.cause_response_code == "ConditionalCheckFailedException"


def cancelled_by_condition(error: TransactWriteError) -> bool:
    """A transaction cancelled because one of its conditions failed (pynamodb sends its puts before
    its updates, so which item's condition it was is not the item's place in the code)."""
    return any(reason is not None and reason.code == "ConditionalCheckFailed" for reason in error.cancellation_reasons)


# What AWS answers when a call may succeed if made again later: throttling, 5xx, timeouts.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalServerError",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionInProgressException",
    }
)


# A transaction cancelled by another one in flight on the same item, or by an item's throughput.
_TRANSIENT_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def cancellation_reasons(error: ClientError) -> list[str | None] | None:
    """A cancelled transaction's reason codes, one per item in order; None: not a cancellation."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return [reason.get("Code") for reason in error.response.get("CancellationReasons") or []]


def transient_failure(error: BaseException) -> bool:
    """A call to AWS that failed for now (throttled, 5xx, a transaction cancelled by a conflict or
    throttling, timed out, no connection) after botocore's own retries: the request is worth
    sending again. A caller's or the code's error (validation, credentials, a failed condition) is
    not. Follows an error's explicit cause (``raise … from``, pynamodb's ``cause``) only."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (BotoConnectionError, HTTPClientError)):  # timeouts, connections
            return True
        if isinstance(current, ClientError):
            reasons = cancellation_reasons(current)
            if reasons is not None:
                return any(reason in _TRANSIENT_CANCELLATIONS for reason in reasons)
            code = current.response.get("Error", {}).get("Code")
            status = int(current.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            return code in _TRANSIENT_CODES or status >= 500
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return False
