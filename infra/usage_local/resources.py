"""Creating, in the stand-ins, exactly the resources template.yaml declares, from its own definitions:
DynamoDB tables (keys, GSIs/LSIs, billing, TTL), S3 buckets (public access block, encryption,
versioning, ownership, lifecycle, CORS), SNS topics, SQS queues and EventBridge buses. Idempotent: tables already
on disk are kept, or recreated when their definition in the template changed."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from usage_local.stacklog import log
from usage_local.template import REGION, Json, Template

# Types the stand-ins hold; others (functions, the API, layers, policies) are served or ignored.
HANDLED_ELSEWHERE = {
    "AWS::Serverless::Function",
    "AWS::Serverless::Api",
    "AWS::Serverless::LayerVersion",
    "AWS::S3::BucketPolicy",  # see create_bucket: the local endpoints are plain HTTP
    # Operations only (docs/operations.md): locally the functions log to the stack's own log, and
    # nothing watches metrics, encrypts the alarm topic, or asks the alarm address to confirm.
    "AWS::Logs::LogGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::KMS::Key",
    "AWS::SNS::Subscription",
    "AWS::SQS::QueuePolicy",
    "AWS::IAM::Role",
    "AWS::ApiGateway::Account",
    "AWS::CloudFormation::WaitConditionHandle",
}


def aws_client(service: str, endpoint: str) -> Any:
    """A boto3 client for a stand-in (fake credentials; the stand-ins do not check them)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 -- the stand-ins accept any credentials
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30),
    )


def create_resources(template: Template, dynamodb_endpoint: str, aws_endpoint: str) -> None:
    creators: dict[str, tuple[Callable[[Any, Template, str], None], str, str]] = {
        "AWS::DynamoDB::Table": (create_table, "dynamodb", dynamodb_endpoint),
        "AWS::S3::Bucket": (create_bucket, "s3", aws_endpoint),
        "AWS::SNS::Topic": (create_topic, "sns", aws_endpoint),
        "AWS::Events::EventBus": (create_event_bus, "events", aws_endpoint),
        "AWS::SQS::Queue": (create_queue, "sqs", aws_endpoint),
    }
    clients: dict[str, Any] = {}
    # Queues without a redrive policy first: a dead-letter queue exists before the queue that names it.
    ordered = sorted(
        template.all_resources.items(),
        key=lambda item: "RedrivePolicy" in (item[1].get("Properties") or {}),
    )
    for logical_id, resource in ordered:
        type_ = resource.get("Type", "")
        if type_ in creators:
            create, service, endpoint = creators[type_]
            if service not in clients:
                clients[service] = aws_client(service, endpoint)
            create(clients[service], template, logical_id)
        elif type_ not in HANDLED_ELSEWHERE:
            log("resources", f"{logical_id} ({type_}) has no local stand-in: skipped")


# ---------------------------------------------------------------------------- DynamoDB
def table_definition(template: Template, logical_id: str) -> Json:
    """The CreateTable request for a table of the template."""
    props = template.resolve(template.properties(logical_id))
    request: Json = {
        "TableName": template.physical_name(logical_id),
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    provisioned = request["BillingMode"] == "PROVISIONED"
    if provisioned:
        request["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            request[key] = [
                {
                    k: v
                    for k, v in index.items()
                    if k in ("IndexName", "KeySchema", "Projection")
                    or (k == "ProvisionedThroughput" and provisioned and key == "GlobalSecondaryIndexes")
                }
                for index in props[key]
            ]
    stream = props.get("StreamSpecification")
    if stream:
        request["StreamSpecification"] = {"StreamEnabled": True, **stream}
    return request


def table_shape(table: Json) -> Json:
    """What makes two tables the same for the local stack: keys and indexes (not billing or SSE,
    which change nothing locally and would cost the local data)."""

    def indexes(key: str) -> list[Json]:
        return sorted(
            (
                {
                    "IndexName": i["IndexName"],
                    "KeySchema": i["KeySchema"],
                    "ProjectionType": i["Projection"].get("ProjectionType", "ALL"),
                    "NonKeyAttributes": sorted(i["Projection"].get("NonKeyAttributes", [])),
                }
                for i in table.get(key) or []
            ),
            key=lambda i: str(i["IndexName"]),
        )

    key_attributes = {k["AttributeName"] for k in table["KeySchema"]}
    for index in (table.get("GlobalSecondaryIndexes") or []) + (table.get("LocalSecondaryIndexes") or []):
        key_attributes |= {k["AttributeName"] for k in index["KeySchema"]}
    return {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": sorted(
            (a for a in table["AttributeDefinitions"] if a["AttributeName"] in key_attributes),
            key=lambda a: str(a["AttributeName"]),
        ),
        "GlobalSecondaryIndexes": indexes("GlobalSecondaryIndexes"),
        "LocalSecondaryIndexes": indexes("LocalSecondaryIndexes"),
    }


def create_table(client: Any, template: Template, logical_id: str) -> None:
    wanted = table_definition(template, logical_id)
    name = wanted["TableName"]
    try:
        existing = client.describe_table(TableName=name)["Table"]
    except client.exceptions.ResourceNotFoundException:
        existing = None
    if existing is not None and table_shape(existing) != table_shape(wanted):
        log(
            "resources",
            f"{name}: its keys or indexes changed in template.yaml; deleting and recreating the local "
            "table (its local data is lost)",
        )
        client.delete_table(TableName=name)
        client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
        existing = None
    if existing is None:
        client.create_table(**wanted)
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
        log("resources", f"table {name} created")
    else:
        log("resources", f"table {name} kept ({existing.get('ItemCount', 0)} items)")
    _apply_ttl(client, name, template.resolve(template.properties(logical_id)).get("TimeToLiveSpecification"))


def _apply_ttl(client: Any, name: str, spec: Json | None) -> None:
    current = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    enabled = current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    wanted_enabled = bool(spec and str(spec.get("Enabled")).lower() == "true")
    wanted_attribute = spec.get("AttributeName") if spec else None
    if enabled and (not wanted_enabled or current.get("AttributeName") != wanted_attribute):
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": False, "AttributeName": current["AttributeName"]},
        )
        enabled = False
    if wanted_enabled and not enabled:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": wanted_attribute}
        )


# ---------------------------------------------------------------------------- S3
def lifecycle_rule(rule: Json) -> Json:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    api: Json = {"ID": rule.get("Id", "rule"), "Status": rule["Status"]}
    conditions: list[Json] = []
    if "Prefix" in rule:
        conditions.append({"Prefix": rule["Prefix"]})
    conditions += [{"Tag": {"Key": t["Key"], "Value": t["Value"]}} for t in rule.get("TagFilters", [])]
    for cfn_key, api_key in (
        ("ObjectSizeGreaterThan", "ObjectSizeGreaterThan"),
        ("ObjectSizeLessThan", "ObjectSizeLessThan"),
    ):
        if cfn_key in rule:
            conditions.append({api_key: int(rule[cfn_key])})
    if len(conditions) > 1:
        merged: Json = {}
        for condition in conditions:
            if "Tag" in condition:
                merged.setdefault("Tags", []).append(condition["Tag"])
            else:
                merged.update(condition)
        api["Filter"] = {"And": merged}
    else:
        api["Filter"] = conditions[0] if conditions else {"Prefix": ""}
    expiration: Json = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpirationDate" in rule:
        expiration["Date"] = rule["ExpirationDate"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        api["Expiration"] = expiration
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent:
        api["NoncurrentVersionExpiration"] = {k: int(v) for k, v in noncurrent.items()}
    elif "NoncurrentVersionExpirationInDays" in rule:
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    transitions = rule.get("Transitions", [])
    if transitions:
        api["Transitions"] = [
            {
                "StorageClass": t["StorageClass"],
                **({"Days": int(t["TransitionInDays"])} if "TransitionInDays" in t else {"Date": t["TransitionDate"]}),
            }
            for t in transitions
        ]
    return api


def create_bucket(client: Any, template: Template, logical_id: str) -> None:
    name = template.physical_name(logical_id)
    props = template.resolve(template.properties(logical_id))
    client.create_bucket(Bucket=name)  # us-east-1 takes no LocationConstraint
    # Each setting is applied separately: one that moto lacks must not cost the others.
    settings: list[tuple[str, str, Callable[[Any], Json]]] = [
        ("OwnershipControls", "put_bucket_ownership_controls", lambda v: {"OwnershipControls": v}),
        ("PublicAccessBlockConfiguration", "put_public_access_block", lambda v: {"PublicAccessBlockConfiguration": v}),
        (
            "BucketEncryption",
            "put_bucket_encryption",
            lambda v: {
                "ServerSideEncryptionConfiguration": {
                    "Rules": [_sse_rule(r) for r in v["ServerSideEncryptionConfiguration"]]
                }
            },
        ),
        ("VersioningConfiguration", "put_bucket_versioning", lambda v: {"VersioningConfiguration": v}),
        (
            "LifecycleConfiguration",
            "put_bucket_lifecycle_configuration",
            lambda v: {"LifecycleConfiguration": {"Rules": [lifecycle_rule(r) for r in v["Rules"]]}},
        ),
        (
            "CorsConfiguration",
            "put_bucket_cors",
            lambda v: {"CORSConfiguration": {"CORSRules": [_cors_rule(r) for r in v["CorsRules"]]}},
        ),
    ]
    for prop, operation, request in settings:
        if prop in props:
            try:
                getattr(client, operation)(Bucket=name, **request(props[prop]))
            except (ClientError, ParamValidationError) as error:
                log("resources", f"bucket {name}: moto refused {prop} ({error}); continuing without it")
    # AWS::S3::BucketPolicy is not applied: its usual DenyInsecureTransport statement would refuse
    # every request to the local (plain HTTP) endpoint if moto enforced it.
    log("resources", f"bucket {name} created")


def _sse_rule(rule: Json) -> Json:
    renamed = {"ServerSideEncryptionByDefault": "ApplyServerSideEncryptionByDefault"}
    return {renamed.get(k, k): v for k, v in rule.items()}


def _cors_rule(rule: Json) -> Json:
    renamed = {"ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds", "Id": "ID"}
    return {renamed.get(k, k): v for k, v in rule.items()}


# ---------------------------------------------------------------------------- SNS, EventBridge
def create_topic(client: Any, template: Template, logical_id: str) -> None:
    props = template.resolve(template.properties(logical_id))
    attributes = {
        key: str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
        for key in ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication")
        if key in props
    }
    arn = client.create_topic(Name=template.topic_name(logical_id), Attributes=attributes)["TopicArn"]
    expected = template.physical_name(logical_id)
    if arn != expected:
        log("resources", f"topic {logical_id}: moto named it {arn}, the handlers were told {expected}")
    log("resources", f"topic {arn} created")


QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "FifoQueue",
    "ContentBasedDeduplication",
)


def create_queue(client: Any, template: Template, logical_id: str) -> None:
    props = template.resolve(template.properties(logical_id))
    attributes = {
        key: str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
        for key in QUEUE_ATTRIBUTES
        if key in props
    }
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    name = template.queue_name(logical_id)
    try:
        client.create_queue(QueueName=name, Attributes=attributes)
    except ClientError as error:  # an attribute moto lacks must not cost the queue
        log("resources", f"queue {name}: moto refused its attributes ({error}); created without them")
        client.create_queue(QueueName=name)
    log("resources", f"queue {name} created")


def create_event_bus(client: Any, template: Template, logical_id: str) -> None:
    name = template.physical_name(logical_id)
    with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
        client.create_event_bus(Name=name)
    log("resources", f"event bus {name} created")
