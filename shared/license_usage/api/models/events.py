"""``POST /v1/events`` (SPEC §4): the batch, one event, and the answer."""

from __future__ import annotations

import json
from datetime import datetime
from ipaddress import ip_address
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from license_usage.api.json_body import non_finite_numbers
from license_usage.api.models.common import ErrorDetail
from license_usage.domain.events import (
    EVENT_TYPES,
    MAX_EVENTS_PER_BATCH,
    MAX_PROPERTIES_BYTES,
    MAX_PROPERTIES_DEPTH,
    nesting_depth,
)
from license_usage.domain.timestamps import parse_rfc3339

Name = Annotated[str, Field(min_length=1, max_length=256)]


class EventBatch(BaseModel):
    """The body's shape; each event is checked on its own so that one bad event rejects only itself."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    type: str
    timestamp: datetime
    user_id: Name | None = None
    product: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    roles: list[Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]{1,64}$")]] | None = Field(default=None, max_length=50)
    goal_id: Name | None = None
    quantity: StrictInt | None = Field(default=None, ge=1, le=1_000_000)
    feature: Name | None = None
    ip: str | None = None
    group: Name | None = None
    instance_id: str | None = Field(default=None, min_length=1, max_length=128)
    session_id: str | None = Field(default=None, min_length=1, max_length=128)
    properties: dict[str, Any] | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise ValueError(f"must be one of: {', '.join(sorted(EVENT_TYPES))}")
        return value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> datetime:
        if not isinstance(value, str):
            raise ValueError("must be an RFC 3339 string")
        return parse_rfc3339(value)

    @field_validator("ip")
    @classmethod
    def _ip_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ip_address(value))
        except ValueError:
            raise ValueError("must be an IPv4 or IPv6 address") from None

    @field_validator("properties")
    @classmethod
    def _small_properties(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """SPEC §4: at most 4 KB as JSON, nested at most 32 levels, no NaN or Infinity."""
        if value is None:
            return None
        if non_finite_numbers(value):
            raise ValueError("must not hold NaN, Infinity or numbers out of a double's range")
        if nesting_depth(value) > MAX_PROPERTIES_DEPTH:
            raise ValueError(f"must be nested at most {MAX_PROPERTIES_DEPTH} levels")
        if len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode()) > MAX_PROPERTIES_BYTES:
            raise ValueError("must be at most 4 KB as JSON")
        return value


class EventBatchDocument(BaseModel):
    """The body as the OpenAPI document describes it (``EventBatch`` is what is parsed): each
    event should be an ``EventIn``; one that is not is refused on its own, in ``rejected``, and the
    batch's other events are kept (SPEC §4), so any item is accepted into the batch."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn | Any] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class RejectedEvent(BaseModel):
    index: int
    id: str | None
    errors: list[ErrorDetail]


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectedEvent]
