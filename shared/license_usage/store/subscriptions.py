"""Email subscriptions to an organization's notices (SPEC §5).

SNS keeps one subscription per topic and address, whoever subscribes it; so an address that
several organizations subscribe has one SNS subscription, whose filter policy names each of
them with its own kinds (domain/notifications.py: ``address_filter_policy``). Its item
``SUBSCRIPTIONS`` / ``EMAIL#<address>`` holds that subscription's ARN and the organizations in
its policy; each organization lists its own subscription in ``SUBSCRIPTIONS#<org_id>`` /
``<subscription id>``. An organization never sees another's listing, is answered as for a new
address when another already subscribed it, and leaving takes it out of the policy only: the SNS
subscription goes when its last organization leaves. Whether the address confirmed is SNS's to
say, read at listing time.

Changes to an address are optimistic: read the item, change SNS, then write the item on the
condition that its ``version`` is still the one read, else read again. So whichever writer
succeeds last has set the policy its item holds (see docs/decisions.md, 2026-12-08)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from license_usage.domain.errors import TryAgain
from license_usage.domain.notifications import NO_NOTICES_POLICY, address_filter_policy, subscription_id
from license_usage.domain.timestamps import format_utc
from license_usage.store.keys import subscription_address_key, subscriptions_partition
from license_usage.store.pages import Page, decode_cursor, encode_cursor
from license_usage.store.publishing import sns_client, topic_arn
from license_usage.store.tables import LicensingItem, condition_failed

ATTEMPTS = 8  # writers racing on one address; each failed attempt means another one succeeded


class SnsRefused(Exception):
    """SNS refused the address or the policy (its message says why)."""


class AddressSubscription(LicensingItem):
    """``SUBSCRIPTIONS`` / ``EMAIL#<address>``: the address's one SNS subscription."""

    arn = UnicodeAttribute(null=True)
    orgs = JSONAttribute(null=True)  # {org_id: [kind, …]}, [] for every kind
    version = NumberAttribute(null=True)
    org_id = UnicodeAttribute(null=True)  # items written before issue 20: the one organization


@dataclass(frozen=True)
class _Address:
    email: str
    arn: str | None
    orgs: dict[str, tuple[str, ...]]
    version: int | None  # None: no item yet, or one written before issue 20


def _read_address(email: str) -> _Address:
    try:
        item = AddressSubscription.get(*subscription_address_key(email), consistent_read=True)
    except DoesNotExist:
        return _Address(email, None, {}, None)
    if item.version is None and item.org_id:
        # Written before issue 20: the address was one organization's, its listing has the rest.
        listed = get_subscription(item.org_id, subscription_id(item.org_id, email))
        if listed is None:
            return _Address(email, None, {}, None)
        return _Address(email, listed.arn, {item.org_id: listed.kinds}, None)
    orgs = {str(org): tuple(str(k) for k in kinds) for org, kinds in (item.orgs or {}).items()}
    return _Address(email, item.arn, orgs, int(item.version) if item.version is not None else None)


def _if_unchanged(address: _Address) -> Any:
    if address.version is None:
        return AddressSubscription.version.does_not_exist()
    return AddressSubscription.version == address.version


def _write_address(address: _Address, arn: str | None, orgs: Mapping[str, Sequence[str]]) -> bool:
    """The address's item as ``arn`` and ``orgs``, if nobody changed it since ``address`` was read."""
    item = AddressSubscription(
        *subscription_address_key(address.email),
        arn=arn,
        orgs={org: list(kinds) for org, kinds in sorted(orgs.items())},
        version=(address.version or 0) + 1,
    )
    try:
        item.save(condition=_if_unchanged(address))
    except PutError as error:
        if condition_failed(error):
            return False
        raise
    return True


def _delete_address(address: _Address) -> bool:
    try:
        AddressSubscription(*subscription_address_key(address.email)).delete(condition=_if_unchanged(address))
    except DeleteError as error:
        if condition_failed(error):
            return False
        raise
    return True


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "")


def _refused(error: ClientError) -> SnsRefused:
    return SnsRefused(str(error.response.get("Error", {}).get("Message") or "invalid parameter"))


def _subscribe_address(email: str) -> str:
    """The address's SNS subscription, made with a policy that matches no notice: two writers that
    make it at once send the same attributes, so SNS answers both with the one subscription."""
    try:
        arn: str = sns_client().subscribe(
            TopicArn=topic_arn(),
            Protocol="email",
            Endpoint=email,
            Attributes={"FilterPolicy": NO_NOTICES_POLICY, "FilterPolicyScope": "MessageAttributes"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
    except ClientError as error:
        if _code(error) == "InvalidParameter":
            raise _refused(error) from None
        raise
    return arn


def _set_policy(arn: str, policy: str) -> bool:
    """False when the subscription is gone (its last organization left meanwhile, or SNS dropped
    it unconfirmed after three days)."""
    try:
        sns_client().set_subscription_attributes(
            SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=policy
        )
    except ClientError as error:
        if _code(error) == "NotFound":
            return False
        if _code(error) == "InvalidParameter":
            raise _refused(error) from None
        raise
    return True


def _remove_subscription(arn: str) -> None:
    """Stop SNS delivering to it: its policy first matches nothing (a pending subscription cannot
    be removed by its topic's owner, and SNS drops it after three days unconfirmed), then it goes."""
    try:
        _set_policy(arn, NO_NOTICES_POLICY)
        sns_client().unsubscribe(SubscriptionArn=arn)
    except (ClientError, SnsRefused) as error:
        if isinstance(error, ClientError) and _code(error) not in ("InvalidParameter", "NotFound"):
            raise


def _change_address(
    email: str, change: Callable[[dict[str, tuple[str, ...]]], dict[str, tuple[str, ...]] | None]
) -> str | None:
    """Apply ``change`` to the organizations whose notices the address takes (None: no change)
    until it holds: SNS first, then the item, on the condition nobody wrote it since it was read.
    Returns the ARN of the address's subscription, None when it has none (any more)."""
    for _ in range(ATTEMPTS):
        address = _read_address(email)
        orgs = change(address.orgs)
        if orgs is None:
            return address.arn
        if not orgs:
            if address.arn is not None:
                _remove_subscription(address.arn)
            if _delete_address(address):
                return None
            continue
        policy = address_filter_policy(orgs)  # before anything is made: it may refuse
        if address.arn is None:
            # First the subscription and its ARN, matching no notice; its policy on the next round.
            _write_address(address, _subscribe_address(email), address.orgs)
            continue
        if not _set_policy(address.arn, policy):
            _write_address(address, None, address.orgs)  # gone: made again on the next round
            continue
        if _write_address(address, address.arn, orgs):
            return address.arn
    raise TryAgain("The address is being changed by other requests: send the same request again.")


def add_organization(email: str, org_id: str, kinds: Sequence[str]) -> str:
    """Have the address take ``org_id``'s notices (of ``kinds``, all when none), beside those of
    any other organization that subscribed it; returns its SNS subscription's ARN. Raises
    TooManyOrganizations (domain) beyond what one policy can name, SnsRefused when SNS refuses the
    address."""
    arn = _change_address(email, lambda orgs: {**orgs, org_id: tuple(kinds)})
    if arn is None:  # never: an address with an organization has its subscription
        raise TryAgain("The subscription could not be made: send the same request again.")
    return arn


def remove_organization(email: str, org_id: str) -> None:
    """Stop the address taking ``org_id``'s notices; other organizations that subscribed it keep
    theirs. The SNS subscription goes with its last organization."""
    _change_address(
        email, lambda orgs: {org: kinds for org, kinds in orgs.items() if org != org_id} if org_id in orgs else None
    )


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


def save_subscription(
    org_id: str, subscription_id: str, email: str, kinds: Sequence[str], arn: str, at: datetime
) -> StoredSubscription:
    """List the organization's subscription of the address (``add_organization`` made it take the
    organization's notices)."""
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
    """The organization's own subscriptions, each with its address's SNS subscription as it is now
    (it is made again when SNS dropped it unconfirmed)."""
    partition = subscriptions_partition(org_id)
    scope = f"subscriptions/{partition}"
    result = SubscriptionRecord.query(partition, limit=limit, last_evaluated_key=decode_cursor(cursor, scope))
    items = [_stored(record) for record in result]
    keys = {subscription_address_key(item.email) for item in items}
    arns = {(a.pk, a.sk): a.arn for a in AddressSubscription.batch_get(list(keys), consistent_read=True) if a.arn}
    current = [replace(item, arn=arns.get(subscription_address_key(item.email), item.arn)) for item in items]
    return Page(current, encode_cursor(result.last_evaluated_key, scope))


def get_subscription(org_id: str, subscription_id: str) -> StoredSubscription | None:
    try:
        return _stored(SubscriptionRecord.get(subscriptions_partition(org_id), subscription_id, consistent_read=True))
    except DoesNotExist:
        return None


def delete_subscription(org_id: str, subscription: StoredSubscription) -> None:
    """The organization's listing of it (``remove_organization`` stopped its notices first)."""
    SubscriptionRecord(subscriptions_partition(org_id), subscription.subscription_id).delete()
