"""Builds a function's Powertools resolver from its routers, with the shared error mapping and
the per-organization rate limit every API function applies before any route runs."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from license_usage.api.errors import STATUS_OF_ERROR, error_response, register_error_handlers
from license_usage.api.json_body import read_json_body
from license_usage.domain.access import Principal
from license_usage.domain.errors import DomainError, TooManyRequests, TryAgain, Unauthenticated
from license_usage.domain.rate_limits import RETRY_AFTER_SECONDS, limited_organization, request_window
from license_usage.domain.timestamps import utc_now
from license_usage.store import rate_limits
from license_usage.store.tables import transient_failure

if TYPE_CHECKING:
    from license_usage.usecases.ports import Ports

logger = Logger(child=True)
UNLIMITED_RESOURCES = frozenset({"/v1/health"})


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


def _as_proxy_answer(response: Response[dict[str, Any]]) -> dict[str, Any]:
    headers = {name: str(value) for name, value in (response.headers or {}).items()}
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": "application/json", **headers},
        "body": json.dumps(response.body),
        "isBase64Encoded": False,
    }


def _refused_by(error: DomainError) -> dict[str, Any]:
    """api/errors.py's answer to ``error``, for a refusal made before Powertools routes the request."""
    retry_after = error.retry_after_seconds if isinstance(error, TooManyRequests) else RETRY_AFTER_SECONDS
    return _as_proxy_answer(
        error_response(STATUS_OF_ERROR[type(error)], error.code, error.message, error.details, retry_after)
    )


def _caller(event: Mapping[str, Any]) -> Principal | None:
    """Who the authorizer let through; None on a route without one (its context is absent)."""
    context = (event.get("requestContext") or {}).get("authorizer")
    if not isinstance(context, Mapping) or event.get("resource") in UNLIMITED_RESOURCES:
        return None
    try:
        return Principal.from_authorizer_context(context)
    except Unauthenticated:
        return None  # the route's own check answers it 401, and it costs no count


def count_against_rate_limit(event: Mapping[str, Any]) -> None:
    """Count the request against its organization's window (domain/rate_limits.py); raise
    TooManyRequests when the window is full. The authorizer has run, so a refused credential never
    reaches this write. A transient failure of the counter is TryAgain (503 with Retry-After): a
    resend succeeds, and a counter too hot to write is that organization's flood. Any other failure
    lets the request through unlimited, logged: the limiter must not take the API down
    (docs/decisions.md, 2026-12-01)."""
    principal = _caller(event)
    org_id = limited_organization(principal) if principal is not None else None
    if org_id is None:
        return
    window = request_window(org_id, utc_now(), rate_limits.org_requests_per_second())
    try:
        admitted = rate_limits.count_request(window)
    except Exception as error:
        if transient_failure(error):
            logger.warning("the rate limit's counter could not be written for now", exc_info=error)
            raise TryAgain("The service is busy for now; send the same request again.") from None
        logger.exception("the rate limit's counter failed: the request goes on unlimited")
        return
    if not admitted:
        raise TooManyRequests(
            f"This organization sent more than {window.limit} requests this second; retry after "
            f"{RETRY_AFTER_SECONDS} s.",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )


class JsonApiResolver(APIGatewayRestResolver):
    ports: Ports | None = None  # what the function wired at its entry (api/wiring.py)

    """Before any route runs: the organization's rate limit (429, counted for every request that
    reaches the function, whatever its body), then SPEC §5's every body is JSON: a body declared as
    anything else (form data, multipart, text) is answered 415 in the error shape, and a body that
    is not UTF-8 400, before any parser (Powertools' validation runs first of all middlewares)
    reads it."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            count_against_rate_limit(event)
        except (TooManyRequests, TryAgain) as refusal:
            return _refused_by(refusal)
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


def build_resolver(*routers: Router, validation: bool = True, ports: Ports | None = None) -> APIGatewayRestResolver:
    """``validation=False`` for a function whose routes all validate their own bodies: it then
    skips loading Powertools' OpenAPI validation at cold start. ``ports``: the use cases' ports,
    wired once at the function's entry (routes read them with ``api.wiring.ports_of``)."""
    # Every body is read by the one reading of JSON (api/json_body.py).
    if not validation:
        app = JsonApiResolver(json_body_deserializer=read_json_body)
    else:
        app = JsonApiResolver(
            enable_validation=True, response_validation_error_http_code=500, json_body_deserializer=read_json_body
        )
    app.ports = ports
    for router in routers:
        app.include_router(router)
    register_error_handlers(app)
    return app
