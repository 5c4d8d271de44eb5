"""One table from errors to HTTP answers in the spec's shape: ``{"error": {code, message, details}}``."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from license_usage.domain import errors
from license_usage.store.tables import transient_failure

logger = Logger(child=True)

STATUS_OF_ERROR: dict[type[errors.DomainError], HTTPStatus] = {
    errors.MalformedBody: HTTPStatus.BAD_REQUEST,
    errors.InvalidCursor: HTTPStatus.BAD_REQUEST,
    errors.Unauthenticated: HTTPStatus.UNAUTHORIZED,
    errors.Forbidden: HTTPStatus.FORBIDDEN,
    errors.NotFound: HTTPStatus.NOT_FOUND,
    errors.Conflict: HTTPStatus.CONFLICT,
    errors.PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    errors.InvalidRequest: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.TryAgain: HTTPStatus.SERVICE_UNAVAILABLE,
    errors.TooManyRequests: HTTPStatus.TOO_MANY_REQUESTS,
}
RETRYABLE = (HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.TOO_MANY_REQUESTS)
RETRY_AFTER_SECONDS = 1


def error_response(
    status: HTTPStatus,
    code: str,
    message: str,
    details: Sequence[dict[str, str]] = (),
    retry_after_seconds: int = RETRY_AFTER_SECONDS,
) -> Response[dict[str, Any]]:
    headers = {"Retry-After": str(retry_after_seconds)} if status in RETRYABLE else None
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message, "details": list(details)}},
        headers=headers,
    )


def field_errors(errors_: Sequence[Any]) -> list[dict[str, str]]:
    """pydantic errors as ``{"field", "message"}``: the field path without the 'body' prefix."""
    details = []
    for error in errors_:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        details.append({"field": ".".join(location) or "body", "message": message})
    return details


def _status_of(error: errors.DomainError) -> HTTPStatus:
    for kind in type(error).__mro__:
        if kind in STATUS_OF_ERROR:
            return STATUS_OF_ERROR[kind]
    return HTTPStatus.INTERNAL_SERVER_ERROR


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(errors.DomainError)
    def _domain_error(error: errors.DomainError) -> Response[dict[str, Any]]:
        retry_after = error.retry_after_seconds if isinstance(error, errors.TooManyRequests) else RETRY_AFTER_SECONDS
        return error_response(_status_of(error), error.code, error.message, error.details, retry_after)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
        problems = list(error.errors())
        if any(problem.get("type") == "json_invalid" for problem in problems):
            return error_response(HTTPStatus.BAD_REQUEST, errors.MalformedBody.code, "The body is not valid JSON.")
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            errors.InvalidRequest.code,
            "The request does not have the expected shape.",
            field_errors(problems),
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_content_type(_: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON (Content-Type: application/json).",
        )

    @app.not_found
    def _no_route(_: NotFoundError) -> Response[dict[str, Any]]:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "No such route.")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[dict[str, Any]]:
        if transient_failure(error):
            # DynamoDB, S3, SNS or EventBridge throttled, failed or timed out past botocore's
            # retries: what was stored stays stored, and every write is idempotent, so a resend
            # completes the request.
            logger.warning("a call to AWS failed for now", exc_info=error)
            return error_response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                errors.TryAgain.code,
                "The service is busy or a dependency failed for now; send the same request again.",
            )
        logger.exception("unhandled error")
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side; nothing was changed unless reported.",
        )
