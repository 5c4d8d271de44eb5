"""Shapes every route shares: the error body and list pages (SPEC §5)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import AfterValidator, BaseModel, Field

from license_usage.domain import identifiers
from license_usage.domain.errors import InvalidRequest
from license_usage.domain.identifiers import TextLimit, user_id_problem, utf8_bytes


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorBody(BaseModel):
    error: ErrorInfo


Freshness = Literal["current", "aggregating"]  # SPEC §5: aggregating while a figure waits for the rollup

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# Organization ids end up inside DynamoDB keys ("ORG#<org_id>") and S3 object keys, so '#', '/'
# and the like, and ids of dots only, are refused (domain/identifiers.py, the one pattern).
ORG_ID_PATTERN = identifiers.ORG_ID_PATTERN
OrgId = Annotated[
    str,
    Path(
        pattern=ORG_ID_PATTERN,
        min_length=1,
        max_length=identifiers.MAX_ORG_ID_BYTES,
        description=f"The organization: {identifiers.ORG_ID_RULE}",
    ),
]
PlanId = Annotated[str, Path(pattern=r"^pln_[0-9a-f]{16}$", description="The plan")]
KeyId = Annotated[str, Path(pattern=identifiers.KEY_ID_PATTERN, description="The API key")]
# Checked by path_user_id once decoded, so that the seats routes refuse what ingest refuses, with
# its message.
UserId = Annotated[str, Path(description=f"The user, percent-encoded: {identifiers.USER_ID.rule}")]


def path_user_id(raw: str) -> str:
    """SPEC §4: a user id is the same user percent-encoded in a URL path or not. API Gateway (REST)
    passes path segments still encoded, so they are decoded here, exactly once; then the one rule
    of a user id (domain/identifiers.py) applies, as at ingest."""
    rule = identifiers.USER_ID.rule
    # Each %XX is one byte: a longer segment decodes to more bytes than a user id may have.
    too_long = len(raw) > 3 * identifiers.USER_ID.max_bytes
    try:
        user_id = "" if too_long else unquote(raw, errors="strict")
    except UnicodeDecodeError:
        user_id = ""  # escapes that are not UTF-8
    problem = user_id_problem(user_id)
    if problem is not None:
        raise InvalidRequest(f"user_id {rule}.", [{"field": "user_id", "message": problem}])
    return user_id


def bytes_within(limit: TextLimit) -> AfterValidator:
    """A pydantic check that a text keeps ``limit``'s bytes (its characters are Field's)."""

    def check(value: str) -> str:
        if utf8_bytes(value) > limit.max_bytes:
            raise ValueError(f"must be at most {limit.max_bytes} bytes in UTF-8")
        return value

    return AfterValidator(check)


# A role, as events name it and a plan's assign_roles: no control character, bounded in bytes.
RoleName = Annotated[str, Field(pattern=identifiers.ROLE_PATTERN), bytes_within(identifiers.ROLE)]


PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page")]
