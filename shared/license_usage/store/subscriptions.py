"""Email subscriptions to an organization's notices (SPEC §5): an SNS email subscription with
the filter policy it is given, and an item ``SUBSCRIPTIONS#<org_id>`` / ``<subscription id>``
that lists it. Whether the address confirmed is SNS's to say, read at listing time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError
from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from license_usage.domain.timestamps import format_utc
from license_usage.store.keys import subscription_address_key, subscriptions_partition
from license_usage.store.pages import Page, decode_cursor, encode_cursor
from license_usage.store.publishing import sns_client, topic_arn
from license_usage.store.tables import LicensingItem, condition_failed


class AddressClaim(LicensingItem):
    org_id = UnicodeAttribute()


def claim_address(email: str, org_id: str) -> bool:
    """Take the address for this organization; False when another organization has it."""
    try:
        AddressClaim(*subscription_address_key(email), org_id=org_id).save(
            condition=AddressClaim.pk.does_not_exist() | (AddressClaim.org_id == org_id)
        )
    except PutError as error:
        if condition_failed(error):
            return False
        raise
    return True


def release_address(email: str, org_id: str) -> None:
    try:
        AddressClaim(*subscription_address_key(email)).delete(condition=AddressClaim.org_id == org_id)
    except DeleteError as error:
        if not condition_failed(error):
            raise


class SnsRefused(Exception):
    """SNS refused the address or the policy (its message says why)."""


class SubscriptionRecord(LicensingItem):
    subscription_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    email = UnicodeAttribute()
    kinds = ListAttribute(of=UnicodeAttribute, null=True)
    arn = UnicodeAttribute()
    created_at = UnicodeAttribute()


@dataclass(frozen=True)
class StoredSubscription:
    subscription_id: str
    email: str
    kinds: tuple[str, ...]
    arn: str
    created_at: str


def _stored(record: SubscriptionRecord) -> StoredSubscription:
    return StoredSubscription(
        record.subscription_id, record.email, tuple(str(k) for k in record.kinds or ()), record.arn, record.created_at
    )


def subscribe(
    org_id: str,
    subscription_id: str,
    email: str,
    kinds: tuple[str, ...],
    policy: str,
    at: datetime,
    existing: StoredSubscription | None,
) -> StoredSubscription:
    """Subscribe the address with ``policy`` and list it; ``existing`` (the caller read it): its SNS
    subscription, whose policy is replaced instead."""
    client = sns_client()
    try:
        if existing is not None:
            client.set_subscription_attributes(
                SubscriptionArn=existing.arn, AttributeName="FilterPolicy", AttributeValue=policy
            )
            arn = existing.arn
        else:
            arn = client.subscribe(
                TopicArn=topic_arn(),
                Protocol="email",
                Endpoint=email,
                Attributes={"FilterPolicy": policy, "FilterPolicyScope": "MessageAttributes"},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "InvalidParameter":
            raise SnsRefused(str(error.response.get("Error", {}).get("Message") or "invalid parameter")) from None
        raise
    record = SubscriptionRecord(
        subscriptions_partition(org_id),
        subscription_id,
        subscription_id=subscription_id,
        org_id=org_id,
        email=email,
        kinds=list(kinds) or None,
        arn=arn,
        created_at=format_utc(at),
    )
    record.save()
    return _stored(record)


def is_pending(arn: str) -> bool:
    """Whether the address has not confirmed yet (SNS's ``PendingConfirmation``)."""
    try:
        attributes = sns_client().get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NotFound":
            return True
        raise
    return str(attributes.get("PendingConfirmation", "false")).lower() == "true"


def list_subscriptions(org_id: str, limit: int, cursor: str | None) -> Page[StoredSubscription]:
    partition = subscriptions_partition(org_id)
    scope = f"subscriptions/{partition}"
    result = SubscriptionRecord.query(partition, limit=limit, last_evaluated_key=decode_cursor(cursor, scope))
    items = [_stored(record) for record in result]
    return Page(items, encode_cursor(result.last_evaluated_key, scope))


def get_subscription(org_id: str, subscription_id: str) -> StoredSubscription | None:
    try:
        return _stored(SubscriptionRecord.get(subscriptions_partition(org_id), subscription_id, consistent_read=True))
    except DoesNotExist:
        return None


def unsubscribe(org_id: str, subscription: StoredSubscription) -> None:
    """Stop SNS delivering to it (a subscription still pending cannot be removed by its topic's
    owner: SNS drops it after three days unconfirmed) and delete its listing."""
    try:
        sns_client().unsubscribe(SubscriptionArn=subscription.arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("InvalidParameter", "NotFound"):
            raise
    SubscriptionRecord(subscriptions_partition(org_id), subscription.subscription_id).delete()
    release_address(subscription.email, org_id)
