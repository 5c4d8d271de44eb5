"""Notifications (org admins) and the email subscriptions to them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from license_usage.api.caller import current_principal
from license_usage.api.models.common import DEFAULT_PAGE_SIZE, Cursor, OrgId, PageSize
from license_usage.api.models.notifications import (
    NotificationList,
    NotificationOut,
    SubscriptionDeleted,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
)
from license_usage.domain import access
from license_usage.domain.notifications import notice_view
from license_usage.domain.timestamps import utc_now
from license_usage.usecases.notifications import list_notifications, subscribe, subscriptions_of, unsubscribe

router = Router()

SubscriptionId = Annotated[str, Path(pattern=r"^sub_[0-9a-f]{16}$", description="The subscription")]


@router.get("/v1/orgs/<org_id>/notifications", summary="Notifications, newest first")
def get_notifications(org_id: OrgId, limit: PageSize = DEFAULT_PAGE_SIZE, cursor: Cursor = None) -> NotificationList:
    access.require(current_principal(router), access.ORG_ADMINS, org_id)
    page = list_notifications(org_id, limit, cursor)
    return NotificationList(
        items=[NotificationOut.model_validate(notice_view(n), from_attributes=True) for n in page.items],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/v1/orgs/<org_id>/notification-subscriptions",
    summary="Subscribe an email address to this organization's notices",
    status_code=201,
)
def post_subscription(org_id: OrgId, body: SubscriptionIn) -> Response[SubscriptionOut]:
    principal = current_principal(router)
    access.require(principal, access.ORG_ADMINS, org_id)
    found = subscribe(org_id, body.email, body.kinds or [], principal, utc_now())
    return Response(201, content_types.APPLICATION_JSON, SubscriptionOut.model_validate(found, from_attributes=True))


@router.get("/v1/orgs/<org_id>/notification-subscriptions", summary="Email subscriptions and their status")
def get_subscriptions(org_id: OrgId, limit: PageSize = DEFAULT_PAGE_SIZE, cursor: Cursor = None) -> SubscriptionList:
    access.require(current_principal(router), access.ORG_ADMINS, org_id)
    page = subscriptions_of(org_id, limit, cursor)
    return SubscriptionList(
        items=[SubscriptionOut.model_validate(s, from_attributes=True) for s in page.items],
        next_cursor=page.next_cursor,
    )


@router.delete("/v1/orgs/<org_id>/notification-subscriptions/<subscription_id>", summary="Unsubscribe")
def delete_subscription(org_id: OrgId, subscription_id: SubscriptionId) -> SubscriptionDeleted:
    principal = current_principal(router)
    access.require(principal, access.ORG_ADMINS, org_id)
    unsubscribe(org_id, subscription_id, principal, utc_now())
    return SubscriptionDeleted(deleted=True)
