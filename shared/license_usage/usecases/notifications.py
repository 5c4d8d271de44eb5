"""Notifications (SPEC §7) as the delivery function serves them: the organization's notices and its
email subscriptions. Delivering a notice is ``usecases/outbox.py``; the daily run is
``usecases/notification_run.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from license_usage.domain.access import Principal
from license_usage.domain.errors import InvalidRequest, NotFound
from license_usage.domain.notifications import Notice, NoticeKind, TooManyOrganizations, subscription_id
from license_usage.domain.timestamps import display_utc
from license_usage.store import notifications as stored
from license_usage.store import subscriptions
from license_usage.store.audit import record_audit
from license_usage.store.pages import Page
from license_usage.store.subscriptions import StoredSubscription


def list_notifications(org_id: str, limit: int, cursor: str | None) -> Page[Notice]:
    return stored.list_notices(org_id, limit, cursor)


# ---------------------------------------------------------------------- email subscriptions


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    email: str
    kinds: list[str]
    status: str  # pending until the address confirms, then confirmed
    created_at: str


def _subscription(found: StoredSubscription, pending: bool) -> Subscription:
    return Subscription(
        subscription_id=found.subscription_id,
        email=found.email,
        kinds=list(found.kinds),
        status="pending" if pending else "confirmed",
        created_at=display_utc(found.created_at),
    )


def subscribe(org_id: str, email: str, kinds: Sequence[NoticeKind], actor: Principal, now: datetime) -> Subscription:
    """SPEC §5: subscribe an address to this organization's notices only (of ``kinds``, if any).
    An address another organization subscribed is answered exactly as a new one (issue 20): SNS
    keeps one subscription per address, whose policy then names both organizations
    (store/subscriptions.py)."""
    chosen = tuple(sorted({kind.value for kind in kinds}))
    sub_id = subscription_id(org_id, email)
    before = subscriptions.get_subscription(org_id, sub_id)
    try:
        arn = subscriptions.add_organization(email, org_id, chosen)
    except subscriptions.SnsRefused as refusal:
        raise InvalidRequest(
            f"SNS refused the subscription: {refusal}", [{"field": "email", "message": str(refusal)}]
        ) from None
    except TooManyOrganizations as refusal:
        raise InvalidRequest(str(refusal), [{"field": "email", "message": str(refusal)}]) from None
    found = subscriptions.save_subscription(org_id, sub_id, email, chosen, arn, now)
    record_audit(
        org_id,
        actor,
        "subscription.updated" if before else "subscription.created",
        sub_id,
        now,
        {"email": before.email, "kinds": list(before.kinds)} if before else None,
        {"email": email, "kinds": list(chosen)},
    )
    return _subscription(found, subscriptions.is_pending(found.arn))


def subscriptions_of(org_id: str, limit: int, cursor: str | None) -> Page[Subscription]:
    page = subscriptions.list_subscriptions(org_id, limit, cursor)
    return Page([_subscription(s, subscriptions.is_pending(s.arn)) for s in page.items], page.next_cursor)


def unsubscribe(org_id: str, sub_id: str, actor: Principal, now: datetime) -> None:
    found = subscriptions.get_subscription(org_id, sub_id)
    if found is None:
        raise NotFound(f"No subscription {sub_id} in organization {org_id}.")
    subscriptions.remove_organization(found.email, org_id)
    subscriptions.delete_subscription(org_id, found)
    record_audit(
        org_id, actor, "subscription.deleted", sub_id, now, {"email": found.email, "kinds": list(found.kinds)}, None
    )
