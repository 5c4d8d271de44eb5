"""Errors the domain raises; ``api.errors`` maps each to an HTTP status and the spec's error body."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller should see; ``code`` is the stable machine-readable name."""

    code = "error"

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class Unauthenticated(DomainError):
    """No credentials, or credentials that are not valid (SPEC §1: 401)."""

    code = "unauthorized"


class Forbidden(DomainError):
    """Valid credentials that may not do this: wrong role or another organization (SPEC §1: 403)."""

    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class InvalidRequest(DomainError):
    """A request whose content breaks a rule (422)."""

    code = "invalid_request"


class MalformedBody(DomainError):
    """A body that is not JSON (400)."""

    code = "malformed_json"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class InvalidCursor(DomainError):
    """A list cursor this service did not issue for this list, or altered (400, before any read)."""

    code = "invalid_cursor"


class TryAgain(DomainError):
    """Nothing is wrong with the request, but it could not be completed now (503 with
    Retry-After): what it stored stays stored, and a resend completes it."""

    code = "try_again"


class TooManyRequests(DomainError):
    """The caller sent more than its organization's rate allows (429 with Retry-After)."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
