"""Shapes every route shares: the error body and list pages (SPEC §5)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorBody(BaseModel):
    error: ErrorInfo


DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# Organization ids end up inside DynamoDB keys ("ORG#<org_id>"), so '#' and the like are refused.
ORG_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
OrgId = Annotated[str, Path(pattern=ORG_ID_PATTERN, description="The organization")]
PlanId = Annotated[str, Path(pattern=r"^pln_[0-9a-f]{16}$", description="The plan")]
UserId = Annotated[str, Path(min_length=1, max_length=256, description="The user")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page")]
