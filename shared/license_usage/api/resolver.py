"""Builds a function's Powertools resolver from its routers, with the shared error mapping."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.errors import register_error_handlers


def _refusal(status: int, code: str, message: str) -> dict[str, Any]:
    body = json.dumps({"error": {"code": code, "message": message, "details": []}})
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": body,
        "isBase64Encoded": False,
    }


def _not_utf8(event: Mapping[str, Any]) -> bool:
    if not event.get("isBase64Encoded") or not event.get("body"):
        return False
    try:
        base64.b64decode(str(event["body"])).decode()
    except (ValueError, UnicodeDecodeError):
        return True
    return False


class JsonApiResolver(APIGatewayRestResolver):
    """SPEC §5: every body is JSON. A body declared as anything else (form data, multipart, text)
    is answered 415 in the error shape, and a body that is not UTF-8 400, before any parser
    (Powertools' validation runs first of all middlewares) reads it."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
        content_type = headers.get("content-type")
        if event.get("body") and content_type is not None:
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type != "application/json" and not media_type.endswith("+json"):
                return _refusal(
                    415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json)."
                )
        if _not_utf8(event):
            return _refusal(400, "malformed_json", "The body is not valid JSON (it is not UTF-8).")
        return super().resolve(event, context)


def build_resolver(*routers: Router, validation: bool = True) -> APIGatewayRestResolver:
    """``validation=False`` for a function whose routes all validate their own bodies: it then
    skips loading Powertools' OpenAPI validation at cold start."""
    if not validation:
        app = JsonApiResolver()
    else:
        app = JsonApiResolver(enable_validation=True, response_validation_error_http_code=500)
    for router in routers:
        app.include_router(router)
    register_error_handlers(app)
    return app
