"""Shapes every route shares: the error body and list pages (SPEC §5)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
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
