"""The authenticated caller of the current request, as the Lambda authorizer described it."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from license_usage.domain.access import Principal


def current_principal(router: Router) -> Principal:
    event = router.current_event
    assert isinstance(event, APIGatewayProxyEvent)  # every route sits behind a REST API
    context = event.request_context.authorizer.get_context()
    return Principal.from_authorizer_context(context)
