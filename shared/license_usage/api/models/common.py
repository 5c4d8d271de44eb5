"""Shapes every route shares: the error body and list pages (SPEC §5)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel

from license_usage.domain.errors import InvalidRequest


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

# Organization ids end up inside DynamoDB keys ("ORG#<org_id>"), so '#' and the like are refused.
ORG_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
OrgId = Annotated[str, Path(pattern=ORG_ID_PATTERN, description="The organization")]
PlanId = Annotated[str, Path(pattern=r"^pln_[0-9a-f]{16}$", description="The plan")]
UserId = Annotated[str, Path(min_length=1, max_length=768, description="The user, percent-encoded")]


def path_user_id(raw: str) -> str:
    """SPEC §4: a user id is the same user percent-encoded in a URL path or not. API Gateway (REST)
    passes path segments still encoded, so they are decoded here, exactly once."""
    try:
        user_id = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        user_id = ""  # escapes that are not UTF-8
    if not 1 <= len(user_id) <= 256 or not user_id.isprintable():
        raise InvalidRequest(
            "user_id must be 1 to 256 printable characters.", [{"field": "user_id", "message": "is not valid"}]
        )
    return user_id


PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page")]
