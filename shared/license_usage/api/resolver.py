"""Builds a function's Powertools resolver from its routers, with the shared error mapping."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.errors import register_error_handlers


def build_resolver(*routers: Router, validation: bool = True) -> APIGatewayRestResolver:
    """``validation=False`` for a function whose routes all validate their own bodies: it then
    skips loading Powertools' OpenAPI validation at cold start."""
    if not validation:
        app = APIGatewayRestResolver()
    else:
        app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500)
    for router in routers:
        app.include_router(router)
    register_error_handlers(app)
    return app
